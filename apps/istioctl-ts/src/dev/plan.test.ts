import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import { snapshotOf, type ManifestFile } from './manifests.js';
import { diffPods, planDevMesh, renderResolvConf, toLoopbackAddresses } from './plan.js';

const EXAMPLES = fileURLToPath(new URL('../../../../examples/', import.meta.url));
function load(...dirs: string[]): ManifestFile[] {
  return dirs.flatMap((dir) =>
    readdirSync(`${EXAMPLES}${dir}`)
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => ({ mirrorPath: `${dir}/${f}`, sourcePath: `${EXAMPLES}${dir}/${f}`, text: readFileSync(`${EXAMPLES}${dir}/${f}`, 'utf8') })),
  );
}
const withText = (files: ManifestFile[], f: (t: string) => string) => files.map((file) => ({ ...file, text: f(file.text) }));

describe('planDevMesh', () => {
  it('bookinfo, transparent: two nodes, every pod a sample workload with its ports, the bookinfo call graph', () => {
    const plan = planDevMesh(snapshotOf(load('bookinfo')), 'transparent');
    expect(plan.nodes).toEqual([
      { name: 'node-a', address: '10.77.0.11', podCidr: '10.77.1.0/24' },
      { name: 'node-b', address: '10.77.0.12', podCidr: '10.77.2.0/24' },
    ]);
    expect(plan).toMatchObject({ istiodAddress: '10.77.0.2', hostAddress: '10.77.0.1', underlayCidr: '10.77.0.0/24' });
    const byName = Object.fromEntries(plan.pods.map((p) => [p.name, p]));
    expect(Object.keys(byName).sort()).toEqual(['details-v1', 'productpage-v1', 'ratings-v1', 'reviews-v1', 'reviews-v2', 'reviews-v3', 'sleep']);
    expect(byName['productpage-v1']).toMatchObject({ node: 'node-a', ip: '10.77.1.11', kind: 'workload', ports: [9080], upstreams: ['http://reviews:9080/', 'http://details:9080/'] });
    expect(byName['reviews-v2']!.upstreams).toEqual(['http://ratings:9080/']);
    expect(byName['sleep']).toMatchObject({ ports: [80], upstreams: [] });
    expect(plan.services.find((s) => s.name === 'productpage')).toEqual({ name: 'productpage', namespace: 'default', vip: '10.77.100.10', ports: [9080] });
  });

  it('the waypoint pod runs the waypoint, not a sample workload', () => {
    const plan = planDevMesh(snapshotOf(load('bookinfo', 'waypoint')), 'transparent');
    expect(plan.pods.find((p) => p.name === 'waypoint-0')).toMatchObject({ namespace: 'echo', kind: 'waypoint', gateway: 'waypoint', node: 'node-b', ip: '10.77.2.30', upstreams: [] });
    expect(plan.pods.find((p) => p.name === 'echo-v1')).toMatchObject({ kind: 'workload', ports: [8080] });
  });

  it('explicit: loopback addresses everywhere, istiod-lite on 127.0.0.1, no host link', () => {
    const plan = planDevMesh(snapshotOf(withText(load('bookinfo'), toLoopbackAddresses)), 'explicit');
    expect(plan.nodes.map((n) => n.address)).toEqual(['127.77.0.11', '127.77.0.12']);
    expect(plan.pods.every((p) => p.ip.startsWith('127.77.'))).toBe(true);
    expect(plan).toMatchObject({ istiodAddress: '127.0.0.1', hostAddress: undefined, underlayCidr: undefined });
  });

  it.each([
    ['nodes on two /24s', (t: string) => t.replace('address: 10.77.0.12', 'address: 10.78.0.12'), /not on 10\.77\.0\.0\/24/],
    ['a node on the reserved .2', (t: string) => t.replace('address: 10.77.0.12', 'address: 10.77.0.2'), /reserves \.1 \(host\) and \.2/],
    ['no Node at all', (t: string) => t.replace(/kind: Node\n/g, 'kind: ServiceAccount\n').replace(/spec:\n  podCIDR.*\n/g, '').replace(/status:\n  addresses:\n(    .*\n)+/g, ''), /no Node/],
  ])('refuses %s', (_what, edit, message) => {
    let caught: unknown;
    try {
      planDevMesh(snapshotOf(withText(load('bookinfo'), edit)), 'transparent');
    } catch (err) {
      caught = err;
    }
    expect(hasCode(caught, 'MESHCTL_ERR_DEV_PLAN')).toBe(true);
    expect((caught as Error).message).toMatch(message);
  });
});

describe('toLoopbackAddresses', () => {
  it.each([
    ['podIP: 10.77.1.11', 'podIP: 127.77.1.11'],
    ['podCIDR: 10.77.1.0/24', 'podCIDR: 127.77.1.0/24'],
    ['port: 9080', 'port: 9080'],
    ['apiVersion: v1', 'apiVersion: v1'],
  ])('%s → %s', (input, expected) => expect(toLoopbackAddresses(input)).toBe(expected));
});

describe('renderResolvConf', () => {
  const plan = planDevMesh(snapshotOf(load('bookinfo', 'waypoint')), 'transparent');
  it('the pod namespace\'s search path, as kubelet writes it, and its node as nameserver', () => {
    expect(renderResolvConf(plan, { name: 'sleep', namespace: 'default', node: 'node-a' })).toBe(
      '# meshctl dev: pod default/sleep; its node\'s ztunnel answers (DNS proxy, captured)\n' +
        'search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.77.0.11\noptions ndots:5\n',
    );
    expect(renderResolvConf(plan, { name: 'echo-v2', namespace: 'echo', node: 'node-b' })).toContain('search echo.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.77.0.12\n');
  });
});

describe('diffPods', () => {
  const plan = planDevMesh(snapshotOf(load('bookinfo')), 'transparent');
  it('a new pod is added, a moved pod is replaced, an unchanged one is left alone', () => {
    const moved = { ...plan.pods.find((p) => p.name === 'ratings-v1')!, ip: '10.77.2.99' };
    const added = { ...moved, name: 'ratings-v2', ip: '10.77.2.20' };
    const next = [...plan.pods.filter((p) => p.name !== 'ratings-v1' && p.name !== 'sleep'), moved, added];
    const diff = diffPods(plan.pods, next);
    expect(diff.removed.map((p) => p.name).sort()).toEqual(['ratings-v1', 'sleep']);
    expect(diff.added.map((p) => `${p.name} ${p.ip}`).sort()).toEqual(['ratings-v1 10.77.2.99', 'ratings-v2 10.77.2.20']);
  });
});
