/**
 * ztunnel's DNS proxy in transparent mode (root): the sample mesh's two nodes as network
 * namespaces, istiod-lite and a ztunnel per node as processes, and the pod's own resolver (glibc,
 * through `getent`) configured as kubelet configures a pod: the Kubernetes search path and a
 * cluster DNS address that nothing listens on (10.96.0.10). The node's capture rules DNAT the
 * pod's port-53 traffic to its ztunnel, which answers Service names from the mesh config; the
 * answer comes back from 10.96.0.10 (conntrack), so the pod's resolver accepts it. Over UDP and,
 * with `options use-vc`, over TCP.
 *
 * `ip netns exec` bind-mounts /etc/netns/<netns>/resolv.conf over /etc/resolv.conf: that is how
 * the pod gets its resolver settings here. The suite's namespaces use the prefix `dnst-<hex>-`;
 * the file and its directory are removed in afterAll.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ISTIOD_MAIN, ZTUNNEL_MAIN, showOutputOnFailure } from './helpers/process.js';
import { NODE_ADDRESSES, TwoNodeMesh } from './helpers/two-node-mesh.js';

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const BUILT = existsSync(ISTIOD_MAIN) && existsSync(ZTUNNEL_MAIN);
const CLUSTER_DNS = '10.96.0.10';
const VIP = { ratings: '10.77.100.13', details: '10.77.100.12', reviews: '10.77.100.11' };

const PODS = [
  { name: 'sleep', node: 'node-a', ip: '10.77.1.10' },
  { name: 'productpage-v1', node: 'node-a', ip: '10.77.1.11' },
  { name: 'details-v1', node: 'node-b', ip: '10.77.2.12' },
  { name: 'ratings-v1', node: 'node-b', ip: '10.77.2.13' },
];

// The DNS proxy on the node address (the capture rules DNAT pods' DNS there); the rest stays on loopback.
const mesh = new TwoNodeMesh({ tag: 'dnst-', pods: PODS, ztunnelArgs: (node) => ['--dns-address', NODE_ADDRESSES[node] as string] });
const createdDirs: string[] = [];

/** Writes the pod's resolv.conf as kubelet would (namespace `default`). */
async function podResolvConf(netns: string, options = 'ndots:5'): Promise<void> {
  const dir = `/etc/netns/${netns}`;
  if (!createdDirs.includes(dir)) {
    await mkdir(dir, { recursive: true });
    createdDirs.push(dir);
  }
  await writeFile(`${dir}/resolv.conf`, `search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver ${CLUSTER_DNS}\noptions ${options} timeout:2 attempts:2\n`);
}

/** The IPv4 addresses the pod's own resolver gives for a name ([] when it gives none). */
async function resolveInPod(netns: string, name: string): Promise<string[]> {
  try {
    const { stdout } = await run('ip', ['netns', 'exec', netns, 'getent', 'ahostsv4', name], { timeout: 20_000 });
    return [...new Set(stdout.split('\n').map((line) => line.split(/\s+/)[0]).filter((ip): ip is string => Boolean(ip)))];
  } catch {
    return [];
  }
}

describe.skipIf(!isRoot || !BUILT)('DNS proxy, transparent mode (pods resolve Service names through their node\'s ztunnel)', () => {
  showOutputOnFailure(() => mesh.suite.processes);

  beforeAll(async () => {
    await mesh.start();
  }, 240_000);

  afterAll(async () => {
    for (const dir of createdDirs) await rm(dir, { recursive: true, force: true });
    await mesh.teardown();
  }, 120_000);

  it('answers every Service name form over UDP from the pod\'s own resolver', async () => {
    const sleep = mesh.podNs('sleep');
    await podResolvConf(sleep);
    expect(await resolveInPod(sleep, 'ratings')).toEqual([VIP.ratings]);
    expect(await resolveInPod(sleep, 'details.default')).toEqual([VIP.details]);
    expect(await resolveInPod(sleep, 'reviews.default.svc')).toEqual([VIP.reviews]);
    expect(await resolveInPod(sleep, 'ratings.default.svc.cluster.local')).toEqual([VIP.ratings]);
    expect(await resolveInPod(sleep, 'no-such-service')).toEqual([]);
    const line = await mesh.ztunnels['node-a']!.waitForLog(
      (e) => e['scope'] === 'dns' && e['domain'] === 'ratings.default.svc.cluster.local.' && e['result'] === 'success',
      10_000,
    );
    expect(line).toMatchObject({ 'src.namespace': 'default', protocol: 'udp', query: 'A', rcode: 'NOERROR', endpoints: 1 });
    expect(String(line['src.addr'])).toMatch(/^10\.77\.1\.10:\d+$/);
  }, 120_000);

  it('answers over TCP (`options use-vc`), captured the same way', async () => {
    const sleep = mesh.podNs('sleep');
    await podResolvConf(sleep, 'ndots:5 use-vc');
    try {
      expect(await resolveInPod(sleep, 'details')).toEqual([VIP.details]);
      await mesh.ztunnels['node-a']!.waitForLog((e) => e['scope'] === 'dns' && e['protocol'] === 'tcp' && e['domain'] === 'details.default.svc.cluster.local.', 10_000);
    } finally {
      await podResolvConf(sleep);
    }
  }, 120_000);

  it('answers pods of the other node from their own node\'s ztunnel', async () => {
    const ratings = mesh.podNs('ratings-v1');
    await podResolvConf(ratings);
    expect(await resolveInPod(ratings, 'details')).toEqual([VIP.details]);
    await mesh.ztunnels['node-b']!.waitForLog((e) => e['scope'] === 'dns' && e['domain'] === 'details.default.svc.cluster.local.' && e['result'] === 'success', 10_000);
  }, 120_000);
});
