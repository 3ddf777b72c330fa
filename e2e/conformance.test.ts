/**
 * The Gateway API conformance suite's HTTPRoute and mesh (GAMMA) tests, ported to the waypoint
 * (root, needs `pnpm build`): istiod-lite, two ztunnels and the waypoint as processes in network
 * namespaces, every backend pod a sample workload answering as the suite's echo server. Each
 * test applies its HTTPRoutes, waits until istiod-lite's /debug/route_status shows them with
 * the conditions the suite waits for and the waypoint has acknowledged the push, sends the
 * suite's requests from a pod with the suite's convergence rule, then removes its manifests.
 * Which tests are ported, which skipped and why: docs/conformance.md.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { describe, it } from 'vitest';
import { ClientConnectionReader, OPCODE, encodeFrame, newKey } from '@mesh/sample-workload';
import { createTcpSocket, createTopology, type Topology } from '@mesh/netfilter';
import { GATEWAY_SKIPPED, GATEWAY_TESTS } from './conformance/cases-gateway.js';
import { MESH_SKIPPED, MESH_TESTS } from './conformance/cases-mesh.js';
import { CONSUMER, INFRA, MESH, PODS, WAYPOINT, baseManifests, serviceIp, type PortedCase, type PortedTest } from './conformance/suite.js';
import { awaitConvergence, compare, expectEventually, send, type ClientPod } from './helpers/conformance.js';
import { BOOKINFO_DIR, createMeshFiles, type MeshFiles } from './helpers/mesh.js';
import { httpInNetns } from './helpers/netns.js';
import { ISTIOD_MAIN, REPO_ROOT, ZTUNNEL_MAIN, waitFor, type AppProcess } from './helpers/process.js';
import { NamespaceSuite } from './helpers/suite.js';
import { WAYPOINT_MAIN, many } from './helpers/waypoint.js';

const SAMPLE_MAIN = `${REPO_ROOT}apps/sample-workload/dist/main.js`;
const isRoot = process.getuid?.() === 0;
const BUILT = [ISTIOD_MAIN, ZTUNNEL_MAIN, WAYPOINT_MAIN, SAMPLE_MAIN].every((f) => existsSync(f));
const suite = new NamespaceSuite('gc');
const ISTIOD_ADDRESS = '10.77.0.2';
const ISTIOD_DEBUG_PORT = 15014;
/** The suite's weight and mirror checks: 500 requests, 10 at a time, ±5 points, a few tries. */
const SAMPLE = { requests: 500, concurrency: 10, tolerance: 0.05, tries: 5 } as const;

let topology: Topology | undefined;
let files: MeshFiles;
const backends = new Map<string, AppProcess>();

const podNs = (name: string, namespace: string) => topology!.pod(name, namespace).netns;
const client = (from?: 'consumer'): ClientPod => ({ netns: podNs('echo-v1', from === 'consumer' ? CONSUMER : MESH), namespace: from === 'consumer' ? CONSUMER : MESH });

async function istiodDebug<T>(path: string): Promise<T> {
  const { status, body } = await httpInNetns(topology!.underlayNetns, ISTIOD_DEBUG_PORT, path);
  if (status !== 200) throw new Error(`istiod-lite ${path}: ${status} ${body}`);
  return JSON.parse(body) as T;
}

interface RouteStatusView {
  generation: number;
  routes: { namespace: string; name: string; parents: { conditions: { type: string; status: string; reason: string; message: string }[] }[] }[];
}

/** Until istiod-lite has a newer snapshot than `before` and the waypoint acknowledged what it was sent. */
async function converged(before: number, expectRoutes: (view: RouteStatusView) => string | undefined): Promise<void> {
  await waitFor(
    async () => {
      const view = await istiodDebug<RouteStatusView>('/debug/route_status');
      if (view.generation <= before) return false;
      const problem = expectRoutes(view);
      if (problem) throw new Error(problem);
      return true;
    },
    15_000,
    'istiod-lite to take the manifests with the expected route status',
  );
  await waitFor(
    async () => {
      const syncz = await istiodDebug<{ proxyType: string; types: Record<string, { sentVersion?: string; ackedVersion?: string }> }[]>('/debug/syncz');
      const wp = syncz.find((p) => p.proxyType === 'waypoint');
      return wp !== undefined && Object.values(wp.types).every((t) => t.sentVersion === t.ackedVersion);
    },
    15_000,
    'the waypoint to acknowledge the push',
  );
}

async function generation(): Promise<number> {
  return (await istiodDebug<RouteStatusView>('/debug/route_status')).generation;
}

/** The suite's GatewayAndHTTPRoutesMustBeAccepted + ResolvedRefs checks, from istiod-lite's route status. */
function routesAsExpected(test: PortedTest, names: readonly string[]) {
  return (view: RouteStatusView): string | undefined => {
    for (const key of names) {
      const route = view.routes.find((r) => `${r.namespace}/${r.name}` === key);
      if (!route) return `route ${key} is not in force (a manifest error? see /debug/config_problems)`;
      for (const parent of route.parents) {
        const [accepted, resolved] = parent.conditions;
        if (accepted?.status !== 'True') return `route ${key} not accepted: ${accepted?.reason}: ${accepted?.message}`;
        const wantReason = test.resolvedRefs?.[key];
        if (wantReason ? resolved?.reason !== wantReason : resolved?.status !== 'True') return `route ${key}: ResolvedRefs ${resolved?.status} ${resolved?.reason} (${resolved?.message}), expected ${wantReason ?? 'True'}`;
      }
    }
    return undefined;
  };
}

function routeNames(manifests: string): string[] {
  return manifests
    .split(/^---$/m)
    .filter((doc) => /^kind: HTTPRoute$/m.test(doc))
    .map((doc) => {
      const m = /metadata: \{ name: ([^,]+), namespace: ([^ }]+) \}/.exec(doc) as RegExpExecArray;
      return `${m[2]}/${m[1]}`;
    });
}

/** Requests sent by this test process get a unique marker, so backend logs can be searched per test. */
function logsOf(pod: string, namespace: string, since: number): { url: string; time: number }[] {
  const proc = backends.get(`${namespace}/${pod}`);
  return (proc?.logs ?? [])
    .filter((e) => e['msg'] === 'http request' && typeof e['url'] === 'string')
    .map((e) => ({ url: e['url'] as string, time: Date.parse(String(e['time'])) }))
    .filter((e) => e.time >= since);
}

async function runCase(test: PortedTest, c: PortedCase): Promise<void> {
  const started = Date.now();
  await expectEventually(client(c.from), serviceIp, c, test.threshold);
  for (const mirror of c.mirroredTo ?? []) {
    await waitFor(() => logsOf(mirror, INFRA, started - 1000).some((l) => l.url === c.request.path), 10_000, `a mirrored ${c.request.path} in ${mirror}'s log`);
  }
}

async function checkDistribution(test: PortedTest): Promise<void> {
  const { request, weights } = test.distribution!;
  let last = '';
  for (let attempt = 1; attempt <= SAMPLE.tries; attempt++) {
    // The suite adds entropy (a random header, or a delay): the header here, the delays would only slow it down.
    const answers = await many(SAMPLE.requests, SAMPLE.concurrency, () => send(client(), serviceIp, { request: { ...request, headers: { 'X-Jitter': String(Math.floor(Math.random() * 10_000)) } } }));
    const counts: Record<string, number> = {};
    for (const a of answers) {
      const backend = Object.keys(weights).find((b) => a.request?.pod.startsWith(b));
      if (!backend) throw new Error(`answered by an unexpected pod: ${a.status} ${a.request?.pod ?? a.body.slice(0, 100)}`);
      counts[backend] = (counts[backend] ?? 0) + 1;
    }
    const off = Object.entries(weights).filter(([b, w]) => Math.abs((counts[b] ?? 0) / SAMPLE.requests - w) > SAMPLE.tolerance);
    if (off.length === 0) return;
    last = JSON.stringify(counts);
  }
  throw new Error(`weighted distribution not within ±${SAMPLE.tolerance * 100} points after ${SAMPLE.tries} tries; last: ${last}`);
}

async function checkMirrorShares(test: PortedTest): Promise<void> {
  for (const { request, mirror, share } of test.mirrorShares!) {
    let last = '';
    let ok = false;
    for (let attempt = 1; attempt <= SAMPLE.tries && !ok; attempt++) {
      const since = Date.now();
      await many(SAMPLE.requests, SAMPLE.concurrency, () => send(client(), serviceIp, { request }));
      // Mirrors are sent alongside the request, never awaited: give the copies a moment to land.
      // Settled: two reads 300 ms apart count the same, and not zero.
      let count = 0;
      await waitFor(() => {
        const now = logsOf(mirror, INFRA, since).filter((l) => l.url === request.path).length;
        const settled = now === count && now > 0;
        count = now;
        return settled;
      }, { timeoutMs: 15_000, intervalMs: 300, what: `mirrored ${request.path} in ${mirror}'s log`, lastSeen: () => count });
      ok = Math.abs(count / SAMPLE.requests - share) <= SAMPLE.tolerance;
      last = `${count} of ${SAMPLE.requests}`;
    }
    if (!ok) throw new Error(`${request.path}: mirrored share not within ±${SAMPLE.tolerance * 100} points of ${share * 100} % after ${SAMPLE.tries} tries; last: ${last}`);
  }
}

async function checkEveryAnswer(test: PortedTest): Promise<void> {
  const { request, count, check } = test.everyAnswer!;
  for (let i = 0; i < count; i++) {
    const answer = await send(client(), serviceIp, { request });
    if (!answer.request) throw new Error(`answer ${i + 1}: ${answer.status} without an echo`);
    const problem = check(answer.request);
    if (problem) throw new Error(`answer ${i + 1}: ${problem}`);
  }
}

async function checkRetries(test: PortedTest): Promise<void> {
  const host = `same-namespace.${INFRA}`;
  for (const { path, params, status } of test.retries!) {
    const what = `${path} ${JSON.stringify(params)} → ${status}`;
    // A fresh uuid per probe, so the backend counts each probe's attempts on their own (the suite's rule).
    await awaitConvergence(what, async () => {
      const query = new URLSearchParams({ ...params, uuid: crypto.randomUUID() }).toString();
      const expected = status === 200 ? { request: { host, path: `${path}?${query}` }, backend: 'infra-backend-v3', namespace: INFRA } : { request: { host, path: `${path}?${query}` }, response: { status } };
      return compare(expected, await send(client(), serviceIp, expected));
    });
  }
}

/** A WebSocket through the waypoint echoes a text and a binary message (the suite's check). */
async function checkWebSocket(test: PortedTest): Promise<void> {
  const { host, path } = test.websocket!;
  await awaitConvergence(`WebSocket ${path}`, async () => {
    const socket = createTcpSocket({ netns: client().netns }).connect(80, serviceIp('same-namespace', INFRA) as string);
    try {
      const key = newKey();
      socket.write(`GET ${path} HTTP/1.1\r\nhost: ${host}\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: ${key}\r\norigin: ws://gateway/\r\n\r\n`);
      const reader = new ClientConnectionReader();
      socket.on('data', (chunk: Buffer) => reader.push(chunk));
      socket.write(encodeFrame({ opcode: OPCODE.text, payload: Buffer.from('Websocket Support!'), mask: true }));
      socket.write(encodeFrame({ opcode: OPCODE.binary, payload: Buffer.from([1, 2, 3, 4, 5, 6, 7]), mask: true }));
      // A miss (no answer in time, a closed socket) is reported below, from what did arrive.
      await waitFor(() => reader.frames.length >= 2 || socket.destroyed, { timeoutMs: 5_000, what: 'two echoed frames' }).catch(() => undefined);
      if (!reader.accepted(key)) return `no WebSocket handshake: ${reader.head.split('\r\n')[0] || 'nothing'}`;
      const [text, binary] = reader.frames;
      if (text?.opcode !== OPCODE.text || text.payload.toString() !== 'Websocket Support!') return `text frame not echoed: ${text?.payload.toString()}`;
      if (binary?.opcode !== OPCODE.binary || !binary.payload.equals(Buffer.from([1, 2, 3, 4, 5, 6, 7]))) return 'binary frame not echoed';
      return undefined;
    } finally {
      socket.destroy();
    }
  });
}

async function runTest(test: PortedTest): Promise<void> {
  const file = `test-${test.name}.yaml`;
  try {
    if (test.manifests) {
      const before = await generation();
      await files.write(file, test.manifests);
      await converged(before, routesAsExpected(test, routeNames(test.manifests)));
    }
    for (const c of test.cases ?? []) await runCase(test, c);
    if (test.distribution) await checkDistribution(test);
    if (test.mirrorShares) await checkMirrorShares(test);
    if (test.everyAnswer) await checkEveryAnswer(test);
    if (test.retries) await checkRetries(test);
    if (test.websocket) await checkWebSocket(test);
  } finally {
    if (test.manifests) {
      const before = await generation();
      await files.remove(file);
      await converged(before, () => undefined);
    }
  }
}

async function cleanup(): Promise<void> {
  await suite.teardown();
  await files?.cleanup();
}

describe.skipIf(!isRoot || !BUILT)('Gateway API conformance, HTTPRoute and mesh, through the waypoint (root, needs `pnpm build`)', () => {
  suite.showOutputOnFailure();
  suite.runAround({
    start: async () => {
      files = await createMeshFiles();
      // Only this suite's mesh: none of the sample bookinfo.
      for (const f of await readdir(BOOKINFO_DIR)) await files.remove(f);
      await files.write('base.yaml', baseManifests());
      topology = await createTopology({
        prefix: suite.prefix,
        underlayCidr: '10.77.0.0/24',
        nodes: [
          { name: 'node-a', address: '10.77.0.11' },
          { name: 'node-b', address: '10.77.0.12' },
        ],
        pods: [...PODS.map((p) => ({ name: p.name, namespace: p.namespace, node: p.node, ip: p.ip })), { name: WAYPOINT.pod, namespace: WAYPOINT.namespace, node: WAYPOINT.node, ip: WAYPOINT.ip }],
      });
      const underlay = topology.underlayNetns;
      await topology.exec(underlay, ['ip', 'addr', 'add', `${ISTIOD_ADDRESS}/24`, 'dev', 'br0']);
      await topology.exec(underlay, ['ip', 'route', 'replace', '10.77.1.0/24', 'via', '10.77.0.11']);
      await topology.exec(underlay, ['ip', 'route', 'replace', '10.77.2.0/24', 'via', '10.77.0.12']);
      const istiod = suite.start('istiod-lite', underlay, ISTIOD_MAIN, ['--config-dir', files.configDir, '--state-dir', files.stateDir, '--listen-address', ISTIOD_ADDRESS]);
      for (const pod of PODS) {
        const args = ['--name', pod.name, '--namespace', pod.namespace, '--node', pod.node, '--http-answer', 'echo', ...pod.ports.flatMap((port) => ['--listen', `${pod.ip}:${port}`])];
        backends.set(`${pod.namespace}/${pod.name}`, suite.start(`${pod.namespace}/${pod.name}`, podNs(pod.name, pod.namespace), SAMPLE_MAIN, args));
      }
      await istiod.waitForLog((e) => e['msg'] === 'istiod-lite ready', 30_000);
      for (const proc of backends.values()) await proc.waitForLog((e) => e['msg'] === 'sample workload listening', 30_000);
      const ztunnels = ['node-a', 'node-b'].map((node) =>
        suite.start(`ztunnel ${node}`, topology!.node(node).netns, ZTUNNEL_MAIN, [
          '--node-name', node, '--xds-address', `${ISTIOD_ADDRESS}:15012`, '--bootstrap-dir', `${files.stateDir}/nodes/${node}`,
          '--capture-mode', 'transparent', '--capture-netns', topology!.node(node).netns,
        ]),
      );
      suite.start('waypoint', podNs(WAYPOINT.pod, WAYPOINT.namespace), WAYPOINT_MAIN, [
        '--node-name', WAYPOINT.node, '--pod-name', WAYPOINT.pod, '--namespace', WAYPOINT.namespace, '--pod-ip', WAYPOINT.ip,
        '--xds-address', `${ISTIOD_ADDRESS}:15012`, '--bootstrap-dir', `${files.stateDir}/waypoints/${WAYPOINT.namespace}/${WAYPOINT.name}`, '--listen-address', WAYPOINT.ip,
      ]);
      for (const [i, node] of ['node-a', 'node-b'].entries()) {
        await waitFor(async () => (await httpInNetns(topology!.node(node).netns, 15021, '/healthz/ready').catch(() => ({ status: 0 }))).status === 200, 60_000, `ztunnel ${node} ready`);
        await ztunnels[i]!.waitForLog((e) => e['msg'] === 'capture rules applied', 30_000);
      }
      await waitFor(async () => (await httpInNetns(podNs(WAYPOINT.pod, WAYPOINT.namespace), 15021, '/healthz/ready', 'GET', WAYPOINT.ip).catch(() => ({ status: 0 }))).status === 200, 60_000, 'waypoint ready');
    },
    cleanup,
    startTimeoutMs: 180_000,
    stopTimeoutMs: 60_000,
  });

  for (const test of [...MESH_TESTS, ...GATEWAY_TESTS]) it(`${test.family === 'mesh' ? 'mesh' : 'HTTPRoute'}: ${test.name}`, () => runTest(test), 240_000);
  for (const skipped of [...MESH_SKIPPED, ...GATEWAY_SKIPPED]) it.skip(`${skipped.family === 'mesh' ? 'mesh' : 'HTTPRoute'}: ${skipped.name} — skipped: ${skipped.reason}`, () => undefined);
});
