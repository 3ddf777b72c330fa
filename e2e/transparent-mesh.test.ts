/**
 * The heart of the mission, for real (root): two nodes of the sample mesh as network namespaces,
 * istiod-lite and one ztunnel per node as processes, unmodified TCP clients and servers in pod
 * namespaces. A client in pod A connects to a Service VIP; its bytes reach pod B through
 * ztunnel A (TPROXY 15001) → HBONE (mTLS + HTTP/2 CONNECT to pod:15008) → ztunnel B (TPROXY
 * 15008) → pod B — the L4 path of docs/walkthrough.md. Nothing is left behind: afterAll destroys the
 * namespaces by prefix and kills the process groups, also after a failure.
 * The suite runs once per xDS dialect (ztunnel --xds-dialect envoy|workload) with istiod-lite
 * reading a manifest directory, and once more (the envoy dialect) with the same manifests on a
 * real kube-apiserver (helpers/kube-mesh.ts: the test's manifest edits become `kubectl` writes,
 * its pods are made Ready with their IPs as their namespaces come up), where every assertion
 * must hold the same.
 */
import { randomBytes } from 'node:crypto';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ENDPOINTSLICE_CONTROLLER, readyEndpointAddresses } from '@mesh/kube-local';
import { createTopology, isSockoptAvailable, listNamespaces, type Topology } from '@mesh/netfilter';
import { readLine } from './helpers/client.js';
import { startKubeMesh, kubeMeshToolsMissing, type KubeMesh } from './helpers/kube-mesh.js';
import { XDS_DIALECTS, createMeshFiles, podManifest, type MeshFiles, type XdsDialect } from './helpers/mesh.js';
import type { ZtunnelDump } from '@mesh/workload-api';
import { connectFrom, httpInNetns, startHashSink, startPodServer, startWhoAmI } from './helpers/netns.js';
import { ISTIOD_MAIN, ZTUNNEL_MAIN, eventually, waitFor, type AppProcess } from './helpers/process.js';
import { NamespaceSuite } from './helpers/suite.js';

const isRoot = process.getuid?.() === 0;
const BUILT = existsSync(ISTIOD_MAIN) && existsSync(ZTUNNEL_MAIN);
const suite = new NamespaceSuite('zt');
const PREFIX = suite.prefix;
const ISTIOD_ADDRESS = '10.77.0.2';
const APP_PORT = 9080;
const SINK_PORT = 9091;
const OUTSIDE_PORT = 9090;
const WHOAMI_PORT = 9092;
const GIB = 1024 * 1024 * 1024;

const BOOKINFO_PODS = [
  { name: 'sleep', node: 'node-a', ip: '10.77.1.10' },
  { name: 'productpage-v1', node: 'node-a', ip: '10.77.1.11' },
  { name: 'reviews-v1', node: 'node-a', ip: '10.77.1.12' },
  { name: 'reviews-v2', node: 'node-b', ip: '10.77.2.10' },
  { name: 'reviews-v3', node: 'node-b', ip: '10.77.2.11' },
  { name: 'details-v1', node: 'node-b', ip: '10.77.2.12' },
  { name: 'ratings-v1', node: 'node-b', ip: '10.77.2.13' },
];
/** Outside the mesh: a namespace without the ambient label. */
const LEGACY_NAMESPACE = `apiVersion: v1
kind: Namespace
metadata:
  name: legacy
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: default
  namespace: legacy
`;
const LEGACY_PODS = [
  { name: 'legacy-client', namespace: 'legacy', node: 'node-a', ip: '10.77.1.50' },
  { name: 'outside', namespace: 'legacy', node: 'node-b', ip: '10.77.2.50' },
];

const VIP = { reviews: '10.77.100.11', details: '10.77.100.12', ratings: '10.77.100.13' };
const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';

/** Where istiod-lite reads the mesh: its manifest directory, or the same manifests on a kube-apiserver. */
type ConfigSource = 'directory' | 'kubernetes';
interface Variant {
  dialect: XdsDialect;
  config: ConfigSource;
}
const DIRECTORY_VARIANTS: Variant[] = XDS_DIALECTS.map((dialect) => ({ dialect, config: 'directory' }));
// One dialect on the API server: what that variant changes is where istiod-lite's snapshot comes
// from, which is the same for both dialects (the generators after it are tested above).
const KUBE_VARIANTS: Variant[] = [{ dialect: 'envoy', config: 'kubernetes' }];
const KUBE_MISSING = kubeMeshToolsMissing();

let topology: Topology | undefined;
let files: MeshFiles;
let istiod: AppProcess;
/** The API server of the kubernetes variant while it runs. */
let kubeMesh: KubeMesh | undefined;
/** ratings-v1's server, to see which connections reach the pod. */
let ratingsServer: Server;
const ztunnels: Record<string, AppProcess> = {};
const { servers } = suite;
/** The xDS dialect of the suite running now (set in its beforeAll). */
let dialect: XdsDialect = 'envoy';
/** The rule that refuses plaintext under STRICT, as each dialect names it in the access log. */
const STRICT_REFUSAL: Record<XdsDialect, string> = {
  envoy: 'peer-authentication-strict-denies-plaintext',
  workload: 'ns[istio-system]-policy[istio_converted_static_strict]-rule[0]',
};

const podNs = (name: string, namespace = 'default') => topology!.pod(name, namespace).netns;
const nodeNs = (node: string) => topology!.node(node).netns;

function startIstiod(): AppProcess {
  const source = kubeMesh ? ['--config-source', 'kubernetes', '--kubeconfig', kubeMesh.istiodKubeconfig] : ['--config-dir', files.configDir];
  return suite.start('istiod-lite', topology!.underlayNetns, ISTIOD_MAIN, [
    ...source, '--state-dir', files.stateDir, '--listen-address', ISTIOD_ADDRESS,
  ]);
}

function startZtunnel(node: string): AppProcess {
  const p = suite.start(`ztunnel ${node}`, nodeNs(node), ZTUNNEL_MAIN, [
    '--node-name', node,
    '--xds-address', `${ISTIOD_ADDRESS}:15012`,
    '--bootstrap-dir', `${files.stateDir}/nodes/${node}`,
    '--capture-mode', 'transparent',
    '--capture-netns', nodeNs(node),
    '--xds-dialect', dialect,
  ]);
  ztunnels[node] = p;
  return p;
}

async function ready(node: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(async () => (await httpInNetns(nodeNs(node), 15021, '/healthz/ready')).status === 200, timeoutMs, `ztunnel ${node} ready`);
}

/** Starts a ztunnel again when the current test ends if the test left it stopped. */
function restartAfterTest(node: string): void {
  onTestFinished(async () => {
    if (ztunnels[node]!.running) return;
    startZtunnel(node);
    await ready(node);
  }, 45_000);
}

/** Connects from a pod namespace (an unmodified client: plain connect()) and returns the first line. */
async function ask(fromPod: string, host: string, port = APP_PORT, namespace = 'default', timeoutMs = 5_000): Promise<string> {
  const socket = connectFrom(podNs(fromPod, namespace), host, port);
  try {
    return await readLine(socket, timeoutMs);
  } finally {
    socket.destroy();
  }
}

/** What a client in the pod gets: the first line, or `refused: <why>` when the connection fails. */
const answer = (fromPod: string, host: string, port = APP_PORT, namespace = 'default', timeoutMs = 5_000): Promise<string> =>
  ask(fromPod, host, port, namespace, timeoutMs).catch((err: Error) => `refused: ${err.message}`);

/** The first access log line of `node` (present or to come) that satisfies `predicate`. */
const accessLog = (node: string, predicate: (e: Record<string, unknown>) => boolean) =>
  ztunnels[node]!.waitForLog((e) => e['scope'] === 'access' && predicate(e));

async function cleanup(): Promise<void> {
  await suite.teardown();
  await files?.cleanup();
  await kubeMesh?.close();
  kubeMesh = undefined;
}

describe.skipIf(!isRoot || !BUILT).each(DIRECTORY_VARIANTS)('transparent mode, $dialect dialect: two nodes in network namespaces, istiod-lite and two ztunnels (root, needs `pnpm build`)', meshSuite);
describe.skipIf(!isRoot || !BUILT || KUBE_MISSING !== undefined).each(KUBE_VARIANTS)(
  `transparent mode, $dialect dialect, configuration on a real kube-apiserver (root, needs \`pnpm build\`${KUBE_MISSING ? `; skipped: ${KUBE_MISSING}` : ''})`,
  meshSuite,
);

function meshSuite(variant: Variant): void {
  suite.showOutputOnFailure();
  beforeAll(async () => {
    dialect = variant.dialect;
    expect(isSockoptAvailable()).toBe(true);
    await suite.removeStale();
    // The control plane starts while the namespaces are made.
    const kubeStarting = variant.config === 'kubernetes' ? startKubeMesh().then((k) => (kubeMesh = k)) : undefined;
    kubeStarting?.catch(() => undefined);
    try {
      topology = await createTopology({
        prefix: PREFIX,
        underlayCidr: '10.77.0.0/24',
        nodes: [
          { name: 'node-a', address: '10.77.0.11' },
          { name: 'node-b', address: '10.77.0.12' },
        ],
        pods: [...BOOKINFO_PODS, ...LEGACY_PODS],
      });
      // istiod-lite lives on the underlay itself, reachable from both nodes.
      await topology.exec(topology.underlayNetns, ['ip', 'addr', 'add', `${ISTIOD_ADDRESS}/24`, 'dev', 'br0']);
      for (const pod of BOOKINFO_PODS) servers.push(await startPodServer(podNs(pod.name), pod.name, pod.ip, APP_PORT));
      ratingsServer = servers[BOOKINFO_PODS.findIndex((pod) => pod.name === 'ratings-v1')]!;
      servers.push(await startHashSink(podNs('details-v1'), '10.77.2.12', SINK_PORT));
      servers.push(await startWhoAmI(podNs('ratings-v1'), '10.77.2.13', WHOAMI_PORT));
      servers.push(await startPodServer(podNs('outside', 'legacy'), 'outside', '10.77.2.50', OUTSIDE_PORT));
      servers.push(await startPodServer(podNs('outside', 'legacy'), 'outside', '10.77.2.50', APP_PORT));
      // The pods run: their manifests go in (on the API server: applied, then made Ready with their IPs).
      await kubeStarting;
      await kubeMesh?.exposeIn(topology.underlayNetns);
      files = await createMeshFiles(undefined, kubeMesh);
      await files.write('legacy.yaml', `${LEGACY_NAMESPACE}---\n${LEGACY_PODS.map((p) => podManifest({ ...p, app: p.name, serviceAccount: 'default', port: APP_PORT }).replace('metadata:\n', `metadata:\n  namespace: ${p.namespace}\n`)).join('---\n')}`);
      istiod = startIstiod();
      await istiod.waitForLog((e) => e['msg'] === 'istiod-lite ready');
      startZtunnel('node-a');
      startZtunnel('node-b');
      await Promise.all([ready('node-a'), ready('node-b')]);
      // Capture rules follow the config; wait until both nodes applied theirs.
      for (const node of ['node-a', 'node-b']) await ztunnels[node]!.waitForLog((e) => e['msg'] === 'capture rules applied');
    } catch (err) {
      await kubeStarting?.catch(() => undefined);
      await cleanup();
      throw err;
    }
    // The API server's start runs beside the namespaces'; on a busy machine it alone can take a minute.
  }, variant.config === 'kubernetes' ? 150_000 : 90_000);

  afterAll(async () => {
    suite.dumpOutput();
    await cleanup();
    expect(await listNamespaces(PREFIX)).toEqual([]);
  }, 30_000);

  it('cross-node through a Service VIP: sleep → ratings, over HBONE', async () => {
    expect(await ask('sleep', VIP.ratings)).toBe('ratings-v1');
    const out = await accessLog('node-a', (e) => e['direction'] === 'outbound' && e['dst.service'] === 'ratings.default.svc.cluster.local');
    expect(out).toMatchObject({ 'src.identity': SLEEP, 'dst.addr': '10.77.2.13:9080', 'dst.hbone_addr': '10.77.2.13:15008', protocol: 'HBONE' });
    // Its own entry: in a shuffled run sleep may have called other pods on node-b before.
    const inbound = await accessLog('node-b', (e) => e['direction'] === 'inbound' && e['src.identity'] === SLEEP && e['dst.addr'] === '10.77.2.13:9080');
    expect(inbound).toMatchObject({ 'dst.addr': '10.77.2.13:9080', protocol: 'HBONE' });
  });

  // What only the API server has: there the Services' endpoints are the EndpointSlice controller's
  // slices, made from the Pods this suite made Ready (istiod-lite reads them, docs/kubernetes.md).
  it.runIf(variant.config === 'kubernetes')('the EndpointSlice controller lists the Ready pods of each Service', async () => {
    await eventually(async () => {
      const ready = await readyEndpointAddresses(kubeMesh!.kube.kubeConfig(), { managedBy: ENDPOINTSLICE_CONTROLLER });
      expect(ready.get('default/reviews')).toEqual(['10.77.1.12', '10.77.2.10', '10.77.2.11']);
      expect(ready.get('default/ratings')).toEqual(['10.77.2.13']);
    }, { what: 'the controller\'s slices of reviews and ratings' });
  });

  it('the destination pod sees the calling pod\'s address (source preserved across nodes)', async () => {
    expect(await ask('sleep', '10.77.2.13', WHOAMI_PORT)).toBe('peer=10.77.1.10');
  });

  it('spreads reviews over its three endpoints (one same-node, two cross-node)', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add(await ask('productpage-v1', VIP.reviews));
    expect(seen).toEqual(new Set(['reviews-v1', 'reviews-v2', 'reviews-v3']));
  });

  it('same-node traffic takes the same HBONE path (ztunnel A serves both ends)', async () => {
    expect(await ask('productpage-v1', '10.77.1.12')).toBe('reviews-v1');
    await accessLog('node-a', (e) => e['direction'] === 'inbound' && e['dst.addr'] === '10.77.1.12:9080' && e['src.identity'] === 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage');
  });

  it('direct to a pod IP on the other node', async () => {
    expect(await ask('sleep', '10.77.2.12')).toBe('details-v1');
  });

  it('a destination outside the mesh passes through as plain TCP', async () => {
    expect(await ask('sleep', '10.77.2.50', OUTSIDE_PORT)).toBe('outside');
    await accessLog('node-a', (e) => e['dst.addr'] === '10.77.2.50:9090' && e['protocol'] === 'TCP');
  });

  it('STRICT refuses plaintext from an uncaptured pod (PERMISSIVE let it in before)', async () => {
    const plaintext = () => answer('legacy-client', '10.77.2.13', APP_PORT, 'legacy');
    expect(await plaintext()).toBe('ratings-v1');
    await files.usePolicy('strict-mtls.yaml', {
      what: 'STRICT mTLS',
      inForce: async () => expect(await plaintext()).toMatch(/^refused/),
      lifted: async () => expect(await plaintext()).toBe('ratings-v1'),
    });
    await accessLog('node-b', (e) => e['policy'] === STRICT_REFUSAL[dialect]);
    // Mesh traffic is unaffected.
    expect(await answer('sleep', VIP.ratings)).toBe('ratings-v1');
  });

  it('a DENY policy refuses sleep → ratings and the log names it', async () => {
    await files.usePolicy('deny-sleep-to-ratings.yaml', {
      what: 'DENY sleep → ratings',
      inForce: async () => expect(await answer('sleep', VIP.ratings)).toMatch(/^refused/),
      lifted: async () => expect(await answer('sleep', VIP.ratings)).toBe('ratings-v1'),
    });
    const denied = await accessLog('node-b', (e) => typeof e['policy'] === 'string' && e['policy'].includes('deny-sleep'));
    expect(denied).toMatchObject({ direction: 'inbound', 'src.identity': SLEEP });
    expect(await answer('productpage-v1', VIP.ratings)).toBe('ratings-v1');
  });

  it('ALLOW by principal: only productpage reaches reviews', async () => {
    await files.usePolicy('allow-productpage-to-reviews.yaml', {
      what: 'ALLOW productpage → reviews',
      inForce: async () => expect(await answer('sleep', '10.77.1.12')).toMatch(/^refused/),
      lifted: async () => expect(await answer('sleep', '10.77.1.12')).toBe('reviews-v1'),
    });
    expect(await answer('productpage-v1', '10.77.1.12')).toBe('reviews-v1');
    expect(await answer('productpage-v1', '10.77.2.10')).toBe('reviews-v2');
  });

  // The data path is the same whichever source istiod-lite reads: the variants on the manifest directory carry the 1 GiB.
  it.skipIf(variant.config === 'kubernetes')(`1 GiB through the mesh arrives with the same SHA-256${variant.config === 'kubernetes' ? ' (not with the configuration on the API server: the data path does not depend on it)' : ''}`, async () => {
    const socket = connectFrom(podNs('sleep'), '10.77.2.12', SINK_PORT);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const hash = createHash('sha256');
    const chunk = randomBytes(1024 * 1024);
    const started = Date.now();
    let sent = 0;
    // Minutes on a machine busy with other work: the deadline is for a transfer that stalled.
    const reply = readLine(socket, 270_000);
    while (sent < GIB) {
      // A different chunk each time (rotated), so a reordering or repeat would change the hash.
      const piece = Buffer.concat([chunk.subarray(sent % 997), chunk.subarray(0, sent % 997)]);
      hash.update(piece);
      sent += piece.length;
      if (!socket.write(piece)) await new Promise((resolve) => socket.once('drain', resolve));
    }
    socket.end();
    const [bytes, digest] = (await reply).split(' ');
    const seconds = (Date.now() - started) / 1000;
    process.stderr.write(`1 GiB through the mesh in ${seconds.toFixed(1)} s (${(GIB / 1048576 / seconds).toFixed(0)} MiB/s)\n`);
    expect(Number(bytes)).toBe(GIB);
    expect(digest).toBe(hash.digest('hex'));
    socket.destroy();
  }, 300_000);

  it('shows what runs on the node: config_dump, metrics, tunnels', async () => {
    // Bytes from sleep to details, so node-b has received bytes to count.
    const socket = connectFrom(podNs('sleep'), '10.77.2.12', APP_PORT);
    try {
      expect(await readLine(socket)).toBe('details-v1');
      socket.write('counted\n');
      expect(await readLine(socket)).toBe('counted');
    } finally {
      socket.destroy();
    }
    const dump = (await httpInNetns(nodeNs('node-a'), 15000, '/config_dump?include_eds')).body;
    // The Envoy dialect runs a tunnel listener per local identity; the workload dialect holds the
    // mesh's workloads and the certificates of its own.
    if (dialect === 'workload') expect((JSON.parse(dump) as ZtunnelDump).certificates.map((c) => c.identity)).toContain(SLEEP);
    else expect(dump).toContain('outbound_tunnel_lis_spiffe://cluster.local/ns/default/sa/sleep');
    // Byte counters are updated as connections close: wait for the one above.
    await eventually(async () => {
      const metrics = (await httpInNetns(nodeNs('node-b'), 15000, '/stats/prometheus')).body;
      expect(metrics).toMatch(/istio_tcp_received_bytes_total\{reporter="destination",[^}]*destination_principal="spiffe:\/\/cluster.local\/ns\/default\/sa\/bookinfo-details"[^}]*\} (\d+)/);
    }, { what: 'node-b counts bytes received for details' });
    const tunnels = JSON.parse((await httpInNetns(nodeNs('node-a'), 15000, '/tunnels')).body) as { pool: unknown[] };
    expect(Array.isArray(tunnels.pool)).toBe(true);
  });

  it('ztunnel B restarted: traffic fails closed while it is down, new connections work again', async () => {
    restartAfterTest('node-b');
    await ztunnels['node-b']!.stop();
    // The capture rules outlive ztunnel: while it is down, traffic to its pods fails closed
    // (TPROXY finds no listener) instead of reaching them around the mesh.
    const reached: Array<string | undefined> = [];
    const onConnection = (socket: Socket) => reached.push(socket.remoteAddress);
    ratingsServer.on('connection', onConnection);
    try {
      expect(await answer('legacy-client', '10.77.2.13', APP_PORT, 'legacy', 3_000)).toMatch(/^refused/);
    } finally {
      ratingsServer.off('connection', onConnection);
    }
    expect(reached).toEqual([]);
    startZtunnel('node-b');
    await ready('node-b');
    await eventually(async () => expect(await answer('sleep', VIP.ratings)).toBe('ratings-v1'), { what: 'ratings through the new ztunnel B' });
  }, 60_000);

  it('istiod-lite stopped: config keeps serving; restarted: resyncs, and a new pod is usable within seconds', async () => {
    onTestFinished(async () => {
      if (!istiod.running) {
        istiod = startIstiod();
        await istiod.waitForLog((e) => e['msg'] === 'istiod-lite ready');
      }
    });
    await istiod.stop();
    expect(await answer('sleep', VIP.ratings)).toBe('ratings-v1');
    await ztunnels['node-a']!.waitForLog((e) => String(e['msg']).includes('stream lost'));
    expect(await answer('productpage-v1', VIP.reviews)).toMatch(/^reviews-v[123]$/);
    istiod = startIstiod();
    await istiod.waitForLog((e) => e['msg'] === 'istiod-lite ready');
    // Both ztunnels resync first (their pods unchanged), then the edit arrives as a push.
    await waitFor(() => istiod.logs.filter((e) => e['msg'] === 'proxy connected').length >= 2, { what: 'both ztunnels reconnected', lastSeen: () => istiod.output.slice(-2000) });
    // A manifest edit: a new ratings pod on node-b.
    await topology!.addPod({ name: 'ratings-v2', node: 'node-b', ip: '10.77.2.20' });
    servers.push(await startPodServer(podNs('ratings-v2'), 'ratings-v2', '10.77.2.20', APP_PORT));
    const edited = Date.now();
    const answers = async () => new Set(await Promise.all(Array.from({ length: 4 }, () => answer('sleep', VIP.ratings))));
    await files.useManifest('ratings-v2.yaml', podManifest({ name: 'ratings-v2', app: 'ratings', serviceAccount: 'bookinfo-ratings', node: 'node-b', ip: '10.77.2.20', port: APP_PORT }), {
      what: 'the new pod behind the VIP',
      timeoutMs: 30_000,
      inForce: async () => expect(await answers()).toContain('ratings-v2'),
      lifted: async () => expect((await httpInNetns(nodeNs('node-a'), 15000, '/config_dump?include_eds')).body).not.toContain('10.77.2.20'),
    });
    process.stderr.write(`new pod usable ${((Date.now() - edited) / 1000).toFixed(1)} s after the manifest edit\n`);
  }, 90_000);
}
