/**
 * The waypoint of docs/model.md for real (root): the two-node mesh in network namespaces, istiod-lite, two ztunnels
 * and the waypoint of namespace `echo` as processes. A client in the `sleep` pod (captured)
 * calls the echo Service VIP; ztunnel A tunnels it to the waypoint (HBONE to 10.77.2.30:15008,
 * `:authority` = VIP:port, the waypoint's identity expected); the waypoint applies policy and
 * the HTTPRoute and re-originates HBONE to the chosen echo pod's ztunnel. Route and policy
 * changes are manifest edits that istiod-lite pushes while everything runs. It runs once per
 * ztunnel xDS dialect (--xds-dialect envoy|workload; the waypoint speaks Envoy xDS in both).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Agent } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { Topology } from '@mesh/netfilter';
import { XDS_DIALECTS, createMeshFiles, type MeshFiles } from './helpers/mesh.js';
import { connectFrom, httpInNetns, startPodServer } from './helpers/netns.js';
import { ISTIOD_MAIN, REPO_ROOT, ZTUNNEL_MAIN, eventually, waitFor, type AppProcess } from './helpers/process.js';
import { NamespaceSuite } from './helpers/suite.js';
import { WAYPOINT_MAIN, h2cFrom, httpFrom, many, podAgent, readLines, startEchoPod } from './helpers/waypoint.js';
import { startWaypointMesh } from './helpers/waypoint-mesh.js';

const isRoot = process.getuid?.() === 0;
const BUILT = existsSync(ISTIOD_MAIN) && existsSync(ZTUNNEL_MAIN) && existsSync(WAYPOINT_MAIN);
const suite = new NamespaceSuite('wp');
const ECHO_VIP = '10.77.100.20';
const ECHO_PORT = 8080;
const WAYPOINT_IP = '10.77.2.30';
const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const WAYPOINT_ID = 'spiffe://cluster.local/ns/echo/sa/waypoint';
/** The echo pods' `/slow` answers this late: far past the 500 ms route timeout under test. */
const SLOW_BACKEND_MS = 10_000;

const PODS = [
  { name: 'sleep', node: 'node-a', ip: '10.77.1.10' },
  { name: 'echo-v1', namespace: 'echo', node: 'node-a', ip: '10.77.1.20' },
  { name: 'echo-v2', namespace: 'echo', node: 'node-b', ip: '10.77.2.20' },
  { name: 'waypoint-0', namespace: 'echo', node: 'node-b', ip: WAYPOINT_IP },
];

/** examples/waypoint/echo.yaml without its HTTPRoute: each test installs its own route. */
async function echoMeshWithoutRoute(): Promise<string> {
  const text = await readFile(`${REPO_ROOT}examples/waypoint/echo.yaml`, 'utf8');
  return text
    .split(/^---$/m)
    .filter((doc) => !/^kind: HTTPRoute$/m.test(doc))
    .join('---');
}

function route(rules: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: echo
  namespace: echo
spec:
  parentRefs:
    - group: ""
      kind: Service
      name: echo
      port: 80
  rules:
${rules}`;
}

const backend = (name: string, weight?: number) => `        - name: ${name}
          port: 80${weight === undefined ? '' : `\n          weight: ${weight}`}
`;

let topology: Topology | undefined;
let files: MeshFiles;
let waypoint: AppProcess;
let agent: Agent;
const { processes, servers } = suite;
const podNs = (name: string, namespace = 'default') => topology!.pod(name, namespace).netns;
const access = () => waypoint.logs.filter((e) => e['scope'] === 'access');

/** What each manifest file holds now, so writing the same content again does not wait for a push that never comes. */
const written = new Map<string, string>();

/** Writes a manifest and waits until the waypoint applied a new config of `type`. */
async function apply(file: string, yaml: string, type: 'RDS' | 'LDS' = 'RDS'): Promise<void> {
  if (written.get(file) === yaml) return;
  const applied = () => waypoint.logs.filter((e) => e['msg'] === 'config applied' && e['type'] === type).length;
  const before = applied();
  await files.write(file, yaml);
  written.set(file, yaml);
  await waypoint.waitForLog(() => applied() > before);
}

const ROUTE_TO_V1 = () => route(`    - backendRefs:\n${backend('echo-v1')}`);

const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => httpFrom(agent, ECHO_VIP, 80, path, headers, method);

async function cleanup(): Promise<void> {
  agent?.destroy();
  // The next run of the suite (the other dialect) starts from fresh manifests.
  written.clear();
  await suite.teardown();
  await files?.cleanup();
}

describe.skipIf(!isRoot || !BUILT).each(XDS_DIALECTS)('waypoint, %s dialect at ztunnel: examples/waypoint in network namespaces (root, needs `pnpm build`)', (dialect) => {
  suite.showOutputOnFailure();
  suite.runAround({
    start: async () => {
      files = await createMeshFiles();
      await files.write('echo.yaml', await echoMeshWithoutRoute());
      const mesh = await startWaypointMesh({
        suite,
        files,
        pods: PODS,
        dialect,
        waypoint: { pod: 'waypoint-0', namespace: 'echo', ip: WAYPOINT_IP, node: 'node-b', gateway: 'waypoint' },
        startPods: async (t) => {
          servers.push(await startEchoPod(t.pod('echo-v1', 'echo').netns, 'echo-v1', '10.77.1.20', ECHO_PORT, SLOW_BACKEND_MS));
          servers.push(await startEchoPod(t.pod('echo-v2', 'echo').netns, 'echo-v2', '10.77.2.20', ECHO_PORT, SLOW_BACKEND_MS));
          servers.push(await startPodServer(t.pod('sleep', 'default').netns, 'sleep', '10.77.1.10', 9080));
        },
      });
      topology = mesh.topology;
      waypoint = mesh.waypoint;
      agent = podAgent(podNs('sleep'));
    },
    cleanup,
    startTimeoutMs: 120_000,
    stopTimeoutMs: 30_000,
  });

  it("examples/waypoint: every request for echo goes to echo-v1, through the waypoint", async () => {
    await apply('route.yaml', ROUTE_TO_V1());
    const since = waypoint.logs.length; // this test's requests only: in a shuffled run others came first
    const answers = await many(20, 5, () => get('/'));
    expect(new Set(answers.map((a) => `${a.status} ${a.body.split(' ')[0]}`))).toEqual(new Set(['200 echo-v1']));
    const line = await waypoint.waitForLog((e) => e['scope'] === 'access' && e['response_code'] === 200 && e['src.identity'] === SLEEP, undefined, since);
    expect(line).toMatchObject({ 'dst.service': 'echo.echo.svc.cluster.local', 'dst.vip': `${ECHO_VIP}:80`, 'dst.addr': '10.77.1.20:8080', 'dst.hbone_addr': '10.77.1.20:15008' });
  });

  it('ztunnel sends echo traffic to the waypoint with :authority = VIP:port and the waypoint identity expected', async () => {
    const ztunnelA = processes.find((p) => p.name === 'ztunnel node-a')!;
    await apply('route.yaml', ROUTE_TO_V1());
    expect((await get('/')).status).toBe(200);
    // ztunnel logs a connection when it closes: close the kept-alive ones.
    agent.destroy();
    agent = podAgent(podNs('sleep'));
    const out = await ztunnelA.waitForLog((e) => e['scope'] === 'access' && e['direction'] === 'outbound' && e['dst.hbone_addr'] === `${WAYPOINT_IP}:15008`);
    expect(out).toMatchObject({ 'dst.addr': `${ECHO_VIP}:80`, 'src.identity': SLEEP });
    expect(out['dst.identity']).toBe(WAYPOINT_ID);
  });

  it('HTTP/2 with prior knowledge inside the tunnel is routed like HTTP/1.1', async () => {
    await apply('route.yaml', ROUTE_TO_V1());
    const answer = await h2cFrom(podNs('sleep'), ECHO_VIP, 80, '/h2');
    expect(answer).toMatchObject({ status: 200 });
    expect(answer.body).toMatch(/^echo-v1 GET \/h2/);
    await waypoint.waitForLog((e) => e['scope'] === 'access' && e['path'] === '/h2' && e['protocol'] === 'HTTP/2');
  });

  it('a 90/10 split lands within ±3 points over 2,000 requests', async () => {
    await apply('route.yaml', route(`    - backendRefs:\n${backend('echo-v1', 90)}${backend('echo-v2', 10)}`));
    const answers = await many(2000, 32, () => get('/split'));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const v2 = answers.filter((a) => a.body.startsWith('echo-v2')).length / answers.length;
    expect(v2).toBeGreaterThan(0.07);
    expect(v2).toBeLessThan(0.13);
  }, 120_000);

  it('header-based routing: x-version: v2 reaches echo-v2, the rest echo-v1', async () => {
    await apply(
      'route.yaml',
      route(`    - matches:\n        - headers:\n            - name: x-version\n              value: v2\n      backendRefs:\n${backend('echo-v2')}    - backendRefs:\n${backend('echo-v1')}`),
    );
    const v2 = await many(10, 5, () => get('/h', { 'x-version': 'v2' }));
    const v1 = await many(10, 5, () => get('/h'));
    expect(new Set(v2.map((a) => a.body.split(' ')[0]))).toEqual(new Set(['echo-v2']));
    expect(new Set(v1.map((a) => a.body.split(' ')[0]))).toEqual(new Set(['echo-v1']));
  });

  it('L7 deny by path: 403 naming the policy in the access log, while other paths pass', async () => {
    await apply('route.yaml', ROUTE_TO_V1());
    const before = access().length;
    await files.useManifest('l7-policy.yaml', await readFile(`${REPO_ROOT}examples/waypoint/l7-policy.yaml`, 'utf8'), {
      what: 'the L7 policy denying /admin',
      inForce: async () => expect((await get('/admin/settings')).status).toBe(403),
      lifted: async () => expect((await get('/admin/settings')).status).toBe(200),
    });
    expect((await get('/public')).status).toBe(200);
    const denied = await waitFor(() => access().slice(before).find((e) => e['path'] === '/admin/settings' && e['response_code'] === 403));
    expect(denied).toMatchObject({ response_code: 403, response_flags: 'RBAC', rbac_policy: 'ns[echo]-policy[deny-admin]-rule[0]', 'src.identity': SLEEP });
  });

  it("retries turn a flaky backend's 503s into 200s", async () => {
    await apply('route.yaml', route(`    - backendRefs:\n${backend('echo-v1')}      retry:\n        attempts: 2\n        codes: [503]\n`));
    const before = access().length;
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await get('/flaky'));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    await eventually(() => expect(access().slice(before).filter((e) => e['path'] === '/flaky' && e['attempts'] === 3)).toHaveLength(10), { what: 'ten access log lines with three attempts' });
  });

  it('a slow backend past the request timeout gets 504', async () => {
    await apply('route.yaml', route(`    - backendRefs:\n${backend('echo-v1')}      timeouts:\n        request: 500ms\n`));
    const started = Date.now();
    expect((await get('/slow')).status).toBe(504);
    // The waypoint gave up, not the backend answering late.
    expect(Date.now() - started).toBeLessThan(SLOW_BACKEND_MS / 2);
    expect(await waypoint.waitForLog((e) => e['scope'] === 'access' && e['path'] === '/slow')).toMatchObject({ response_code: 504, response_flags: 'UT' });
    await eventually(async () => {
      const { body } = await httpInNetns(podNs('waypoint-0', 'echo'), 15000, '/stats/prometheus');
      expect(body).toMatch(/istio_requests_total\{reporter="waypoint",[^}]*destination_workload="echo-v1",[^}]*response_code="504",response_flags="UT"\} [1-9]/);
    }, { what: 'istio_requests_total counts the 504' });
  });

  it('plain TCP to the same service still works (passes through the waypoint as TCP)', async () => {
    const socket = connectFrom(podNs('sleep'), ECHO_VIP, 80);
    try {
      socket.write('ping over tcp\n');
      const [banner, echoed] = await readLines(socket, 2);
      expect(banner).toMatch(/^tcp echo-v[12]$/);
      expect(echoed).toBe('ping over tcp');
    } finally {
      socket.destroy();
    }
    await waitFor(() => waypoint.logs.find((e) => e['scope'] === 'access' && e['protocol'] === 'tcp' && e['src.identity'] === SLEEP));
  });

  it('reports istio_requests_total by response code', async () => {
    await apply('route.yaml', ROUTE_TO_V1());
    const v1Ok = /istio_requests_total\{reporter="waypoint",source_workload="[^"]+",source_principal="spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep",destination_workload="echo-v1",destination_service="echo.echo.svc.cluster.local",response_code="200",response_flags="[^"]*"\} (\d+)/;
    const count = async () => Number(v1Ok.exec((await httpInNetns(podNs('waypoint-0', 'echo'), 15000, '/stats/prometheus')).body)?.[1] ?? 0);
    const before = await count();
    expect((await get('/counted')).status).toBe(200);
    await eventually(async () => expect(await count()).toBe(before + 1), { what: 'istio_requests_total counts the request' });
    const { body } = await httpInNetns(podNs('waypoint-0', 'echo'), 15000, '/stats/prometheus');
    expect(body).toContain('istio_request_duration_milliseconds_bucket');
  });
});
