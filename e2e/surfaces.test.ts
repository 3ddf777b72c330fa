/**
 * Who reaches what (root): the two-node mesh in network namespaces with istiod-lite (plaintext
 * ADS asked for, so it is there to be refused), a ztunnel per node and the waypoint. From a
 * pod's network namespace every admin, debug and plaintext-xDS address of every node, of the
 * waypoint and of istiod-lite is refused — a connection from a pod outside the mesh gets a
 * TCP RST to its SYN (connection refused), and one from a captured pod is taken by its
 * ztunnel's capture, whose own connection to that address is refused, so the pod's connection
 * is reset without a byte. Metrics and readiness answer pods, read-only and nothing else. The
 * operator reaches all of it: inside the namespaces, through the owner-only admin sockets, and
 * with meshctl from the host, which enters the namespaces itself (docs/operations.md, "Who may
 * reach what").
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Socket } from 'node:net';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createTcpSocket, createTopology, type Topology } from '@mesh/netfilter';
import { createMeshFiles, podManifest, type MeshFiles } from './helpers/mesh.js';
import { readLine } from './helpers/client.js';
import { connectFrom, httpInNetns, startPodServer } from './helpers/netns.js';
import { ISTIOD_MAIN, REPO_ROOT, ZTUNNEL_MAIN, waitFor, type AppProcess } from './helpers/process.js';
import { NamespaceSuite } from './helpers/suite.js';
import { WAYPOINT_MAIN } from './helpers/waypoint.js';

const execFileAsync = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const MESHCTL_MAIN = `${REPO_ROOT}apps/istioctl-ts/dist/main.js`;
const BUILT = [ISTIOD_MAIN, ZTUNNEL_MAIN, WAYPOINT_MAIN, MESHCTL_MAIN].every((p) => existsSync(p));
const suite = new NamespaceSuite('sf');
const ISTIOD_ADDRESS = '10.77.0.2';
const NODES = { 'node-a': '10.77.0.11', 'node-b': '10.77.0.12' } as const;
const WAYPOINT_IP = '10.77.2.30';
/** The node side of every pod's veth: the pod's default gateway. */
const POD_GATEWAY = '169.254.1.1';
const APP_PORT = 9080;
const RATINGS_VIP = '10.77.100.13';
const RATINGS_IP = '10.77.2.13';
/** Connections per flood on the capture ports. */
const FLOOD = 500;
/**
 * Memory is judged by what the garbage collector itself reports: the ztunnels of this suite run
 * with `--trace-gc` and a 64 MiB old space (a leak would end them; live heap here is ~26 MiB), and
 * the live heap after the last full collection may be at most this much above the one after the
 * first flood. Resident memory (native buffers, young generation) gets its own budget.
 */
const ZTUNNEL_NODE_FLAGS = ['--trace-gc', '--max-old-space-size=64'];
const LIVE_HEAP_BUDGET_MIB = 8;
const RSS_BUDGET_MIB = 48;

const PODS = [
  { name: 'sleep', node: 'node-a', ip: '10.77.1.10' },
  { name: 'ratings-v1', node: 'node-b', ip: '10.77.2.13' },
  { name: 'waypoint-0', namespace: 'echo', node: 'node-b', ip: WAYPOINT_IP },
  { name: 'legacy-client', namespace: 'legacy', node: 'node-a', ip: '10.77.1.50' },
];
const LEGACY = `apiVersion: v1
kind: Namespace
metadata:
  name: legacy
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: default
  namespace: legacy
---
${podManifest({ name: 'legacy-client', app: 'legacy-client', serviceAccount: 'default', node: 'node-a', ip: '10.77.1.50', port: APP_PORT }).replace('metadata:\n', 'metadata:\n  namespace: legacy\n')}`;

/** Every operator surface a pod might try, by the address it would use. */
const CONTROL_SURFACES = [
  { what: "node-a's ztunnel admin", host: NODES['node-a'], port: 15000, path: '/config_dump' },
  { what: "node-b's ztunnel admin", host: NODES['node-b'], port: 15000, path: '/logging?level=debug' },
  { what: 'the admin of the node behind the pod gateway', host: POD_GATEWAY, port: 15000, path: '/certs' },
  { what: "the waypoint's admin", host: WAYPOINT_IP, port: 15000, path: '/config_dump' },
  { what: "istiod-lite's debug API", host: ISTIOD_ADDRESS, port: 15014, path: '/debug/syncz' },
  { what: "istiod-lite's plaintext ADS", host: ISTIOD_ADDRESS, port: 15010, path: '/' },
] as const;

let topology: Topology | undefined;
let files: MeshFiles;
let socketDir: string;
const ztunnels: Record<string, AppProcess> = {};
const podNs = (name: string, namespace = 'default') => topology!.pod(name, namespace).netns;
const nodeNs = (node: string) => topology!.node(node).netns;
const adminSocket = (proxy: string) => `${socketDir}/${proxy}.sock`;

type ProbeResult = { connected: boolean; received: number; outcome: string };

/** Connects from inside `netns`, sends an HTTP request once connected, and says how it ended. */
function probe(netns: string, host: string, port: number, path = '/', timeoutMs = 5_000): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = createTcpSocket({ netns });
    let connected = false;
    let received = 0;
    const done = (outcome: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ connected, received, outcome });
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    socket.on('connect', () => {
      connected = true;
      socket.write(`GET ${path} HTTP/1.1\r\nhost: ${host}\r\n\r\n`);
    });
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    socket.on('close', () => done(received > 0 ? 'answered' : 'closed'));
    socket.connect(port, host);
  });
}

function httpFromPod(netns: string, host: string, port: number, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return httpInNetns(netns, port, path, method, host);
}

function overSocket(path: string, socketPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function meshctl(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync(process.execPath, [MESHCTL_MAIN, '--istiod', `netns:${topology!.underlayNetns}/127.0.0.1:15014`, ...args], { encoding: 'utf8', timeout: 20_000 });
}

async function cleanup(): Promise<void> {
  await suite.teardown();
  await files?.cleanup();
}

describe.skipIf(!isRoot || !BUILT)('control surfaces: pods are refused, the operator gets through (root, needs `pnpm build`)', () => {
  suite.showOutputOnFailure();
  suite.runAround({
    start: async () => {
      files = await createMeshFiles();
      socketDir = `${files.root}/run`;
      await files.write('legacy.yaml', LEGACY);
      await files.write('echo.yaml', await readFile(`${REPO_ROOT}examples/waypoint/echo.yaml`, 'utf8'));
      topology = await createTopology({
        prefix: suite.prefix,
        underlayCidr: '10.77.0.0/24',
        nodes: [
          { name: 'node-a', address: NODES['node-a'] },
          { name: 'node-b', address: NODES['node-b'] },
        ],
        pods: PODS,
      });
      const ul = topology.underlayNetns;
      await topology.exec(ul, ['ip', 'addr', 'add', `${ISTIOD_ADDRESS}/24`, 'dev', 'br0']);
      // The waypoint is a pod: istiod-lite reaches pod addresses through their nodes.
      await topology.exec(ul, ['ip', 'route', 'replace', '10.77.1.0/24', 'via', NODES['node-a']]);
      await topology.exec(ul, ['ip', 'route', 'replace', '10.77.2.0/24', 'via', NODES['node-b']]);
      // Plaintext ADS asked for (on its default, loopback), so there is something to be refused.
      const istiod = suite.start('istiod-lite', ul, ISTIOD_MAIN, ['--config-dir', files.configDir, '--state-dir', files.stateDir, '--listen-address', ISTIOD_ADDRESS, '--xds-port', '15010']);
      await istiod.waitForLog((e) => e['msg'] === 'istiod-lite ready', 30_000);
      suite.servers.push(await startPodServer(podNs('ratings-v1'), 'ratings-v1', '10.77.2.13', APP_PORT));
      for (const node of ['node-a', 'node-b'] as const) {
        ztunnels[node] = suite.start(`ztunnel ${node}`, nodeNs(node), ZTUNNEL_MAIN, [
          '--node-name', node, '--xds-address', `${ISTIOD_ADDRESS}:15012`, '--bootstrap-dir', `${files.stateDir}/nodes/${node}`,
          '--capture-mode', 'transparent', '--capture-netns', nodeNs(node),
          // As the dev mesh and compose run it: metrics and readiness on the node address.
          '--listen-address', NODES[node], '--admin-socket', adminSocket(`ztunnel-${node}`),
        ], ZTUNNEL_NODE_FLAGS);
      }
      suite.start('waypoint', podNs('waypoint-0', 'echo'), WAYPOINT_MAIN, [
        '--node-name', 'node-b', '--pod-name', 'waypoint-0', '--namespace', 'echo', '--pod-ip', WAYPOINT_IP,
        '--xds-address', `${ISTIOD_ADDRESS}:15012`, '--bootstrap-dir', `${files.stateDir}/waypoints/echo/waypoint`, '--listen-address', WAYPOINT_IP,
      ]);
      for (const node of ['node-a', 'node-b'] as const) {
        await waitFor(async () => (await httpInNetns(nodeNs(node), 15021, '/healthz/ready', 'GET', NODES[node]).catch(() => ({ status: 0 }))).status === 200, 30_000, `ztunnel ${node} ready`);
        await ztunnels[node]!.waitForLog((e) => e['msg'] === 'capture rules applied', 30_000);
      }
      await waitFor(async () => (await httpInNetns(podNs('waypoint-0', 'echo'), 15021, '/healthz/ready', 'GET', WAYPOINT_IP).catch(() => ({ status: 0 }))).status === 200, 30_000, 'waypoint ready');
    },
    cleanup,
    startTimeoutMs: 120_000,
    stopTimeoutMs: 30_000,
  });

  it.each(CONTROL_SURFACES)('a pod outside the mesh: $what ($host:$port) refuses the connection', async ({ host, port, path }) => {
    expect(await probe(podNs('legacy-client', 'legacy'), host, port, path)).toEqual({ connected: false, received: 0, outcome: 'ECONNREFUSED' });
  });

  it.each(CONTROL_SURFACES)('a captured pod: $what ($host:$port) — ztunnel takes it, is refused upstream, resets the pod without a byte', async ({ host, port, path }) => {
    const before = ztunnels['node-a']!.logs.length;
    // Reset, never refused: the handshake was ztunnel's (whether the RST overtakes the client's
    // own view of the connect is a race), and not one byte of the surface came back.
    expect(await probe(podNs('sleep'), host, port, path)).toMatchObject({ received: 0, outcome: 'ECONNRESET' });
    const logged = await waitFor(() => ztunnels['node-a']!.logs.slice(before).find((e) => e['scope'] === 'access' && e['dst.addr'] === `${host}:${port}`), 10_000, 'the access log line');
    expect(logged).toMatchObject({ direction: 'outbound', 'src.addr': expect.stringMatching(/^10\.77\.1\.10:/), error: expect.stringContaining('ECONNREFUSED') });
  });

  it('metrics and readiness answer pods, and nothing of the admin API: no config, no listing, no log-level change', async () => {
    const legacy = podNs('legacy-client', 'legacy');
    for (const [host, metrics] of [[NODES['node-a'], '/metrics'], [NODES['node-b'], '/metrics'], [WAYPOINT_IP, '/stats/prometheus']] as const) {
      expect((await httpFromPod(legacy, host, 15020, metrics)).status).toBe(200);
      expect((await httpFromPod(legacy, host, 15021, '/healthz/ready')).status).toBe(200);
      for (const port of [15020, 15021]) {
        for (const path of ['/', '/config_dump', '/config_dump?include_eds', '/certs', '/tunnels', '/logging', '/memory']) {
          const res = await httpFromPod(legacy, host, port, path);
          expect(res.status, `${host}:${port}${path}`).toBe(404);
          expect(res.body).not.toMatch(/config_dump|tunnels|logging|certs|memory|heap_used|BEGIN CERTIFICATE/);
        }
        expect((await httpFromPod(legacy, host, port, '/logging?level=debug', 'POST')).status).toBe(405);
      }
    }
    // The refused POSTs changed nothing.
    const levels = JSON.parse((await httpInNetns(nodeNs('node-b'), 15000, '/logging')).body) as { levels: Record<string, string> };
    expect(Object.values(levels.levels)).not.toContain('debug');
  });

  it('the operator reaches every surface: inside the namespaces, and through the owner-only admin sockets', async () => {
    expect(JSON.parse((await httpInNetns(nodeNs('node-a'), 15000, '/config_dump')).body)).toHaveProperty('configs');
    expect((await httpInNetns(podNs('waypoint-0', 'echo'), 15000, '/config_dump')).status).toBe(200);
    expect((await httpInNetns(topology!.underlayNetns, 15014, '/debug/syncz')).status).toBe(200);
    // Plaintext ADS is there, on istiod-lite's loopback.
    expect(await probe(topology!.underlayNetns, '127.0.0.1', 15010)).toMatchObject({ connected: true });
    for (const node of ['node-a', 'node-b']) {
      expect(statSync(adminSocket(`ztunnel-${node}`)).mode & 0o777).toBe(0o600);
      expect((await overSocket('/tunnels', adminSocket(`ztunnel-${node}`))).status).toBe(200);
    }
  });

  it('meshctl from the host reads what each proxy runs, entering the namespaces itself', async () => {
    const listeners = await meshctl('proxy-config', 'listeners', 'ztunnel-node-a', '--port', '15001');
    expect(listeners.stdout).toMatch(/10\.77\.1\.10 → 10\.77\.100\.13 → 9080\s+Cluster: spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep_to_http_ratings/);
    // No note: the config came from the proxy's own admin API, not istiod-lite's copy.
    expect(listeners.stderr).toBe('');
    const waypoint = await meshctl('proxy-config', 'listeners', 'waypoint-0');
    expect(waypoint.stderr).toBe('');
    expect(waypoint.stdout).toContain('15008');
    const tunnels = await meshctl('tunnels', 'ztunnel-node-b', '--once', '-o', 'json');
    expect(JSON.parse(tunnels.stdout)).toMatchObject({ proxy: 'ztunnel-node-b' });
    const explain = await meshctl('x', 'explain', '--from', 'sleep.default', '--to', 'ratings:9080');
    expect(explain.stdout).toMatch(/^Result: allowed/m);
    expect(explain.stderr).toBe('');
    const certs = await meshctl('zc', 'certificates', 'ztunnel-node-a', '--admin', `unix:${adminSocket('ztunnel-node-a')}`);
    expect(certs.stdout).toContain('spiffe://cluster.local/ns/default/sa/sleep');
  }, 60_000);

  describe('hostile input on the capture ports: 15001 (outbound, from a captured pod) and 15006 (plaintext inbound, from outside the mesh)', () => {
    /** 15001: sleep → the ratings VIP (HBONE); 15006: legacy-client → the ratings pod (plaintext inbound on node-b). */
    const PORTS = [
      { port: 15001, from: () => podNs('sleep'), host: RATINGS_VIP, node: 'node-a' },
      { port: 15006, from: () => podNs('legacy-client', 'legacy'), host: RATINGS_IP, node: 'node-b' },
    ] as const;

    const rssMiB = (node: string) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${ztunnels[node]!.child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    /** Full collections so far (--trace-gc): the live heap (MiB) each left. */
    const fullGcs = (node: string) =>
      ztunnels[node]!.output.split('\n').flatMap((line) => {
        const m = /Mark-Compact [\d.]+ \([\d.]+\) -> ([\d.]+) \(/.exec(line);
        return m ? [Number(m[1])] : [];
      });
    const live = async (node: string) => (JSON.parse((await httpInNetns(nodeNs(node), 15000, '/tunnels')).body) as { connections: unknown[] }).connections.length;
    /** Says where memory stands, and that it stayed within budget since `start`. */
    function expectBounded(node: string, start: { rss: number; gcs: number }, what: string): void {
      const gcs = fullGcs(node);
      const afterFirst = gcs[start.gcs];
      const last = gcs.at(-1);
      console.log(`${node} ${what}: RSS ${rssMiB(node).toFixed(1)} MiB (${start.rss.toFixed(1)} before); live heap after full GC ${afterFirst} → ${last} MiB (${gcs.length - start.gcs} full GCs)`);
      expect(rssMiB(node) - start.rss).toBeLessThan(RSS_BUDGET_MIB);
      if (afterFirst !== undefined && last !== undefined) expect(last - afterFirst).toBeLessThan(LIVE_HEAP_BUDGET_MIB);
    }
    async function served(from: string, host: string): Promise<void> {
      const socket = connectFrom(from, host, APP_PORT);
      try {
        expect(await readLine(socket, 10_000)).toBe('ratings-v1');
      } catch (e) {
        for (const n of ['node-a', 'node-b']) {
          const errs = ztunnels[n]!.logs.filter((l) => l['error'] || l['level'] === 'warn' || l['level'] === 'error').slice(-8);
          process.stderr.write(`DEBUG ${n} ${JSON.stringify(errs, null, 0).slice(0, 4000)}\n`);
          const counts: Record<string, number> = {};
          for (const l of ztunnels[n]!.logs) if (l['error']) counts[String(l['error']).slice(0, 80)] = (counts[String(l['error']).slice(0, 80)] ?? 0) + 1;
          process.stderr.write(`DEBUG ${n} counts ${JSON.stringify(counts)}\n`);
        }
        throw e;
      } finally {
        socket.destroy();
      }
    }

    /** `count` connections from `netns`, each doing `behave` once connected; resolves when all have closed. */
    function flood(netns: string, host: string, port: number, count: number, behave: (socket: Socket) => void): Promise<void> {
      return Promise.all(
        Array.from({ length: count }, () =>
          new Promise<void>((resolve) => {
            const socket = connectFrom(netns, host, port);
            socket.resume(); // read what comes back, so the far side's close is seen
            socket.once('connect', () => behave(socket));
            socket.once('close', () => resolve());
          }),
        ),
      ).then(() => undefined);
    }

    async function settle(node: string): Promise<void> {
      await waitFor(async () => (await live(node)) === 0, 30_000, `no live connections on ${node}`);
    }

    it.each(PORTS)('$port: $node survives instant closes, resets and half-closes; nothing stays live; it serves after; memory bounded', async ({ from, host, node }) => {
      await settle(node);
      const start = { rss: rssMiB(node), gcs: 0 };
      for (const round of [1, 2, 3]) {
        await flood(from(), host, APP_PORT, FLOOD, (socket) => socket.end());
        await flood(from(), host, APP_PORT, FLOOD, (socket) => socket.resetAndDestroy());
        // Half-closed: the client sends its FIN at once but keeps reading; the answer still arrives.
        await flood(from(), host, APP_PORT, FLOOD / 5, (socket) => {
          socket.end();
          socket.resume();
        });
        await settle(node);
        await served(from(), host);
        if (round === 1) start.gcs = fullGcs(node).length;
      }
      expect(fullGcs(node).length).toBeGreaterThan(start.gcs); // the heap was collected during the floods, so the figures mean something
      expectBounded(node, start, `after ${3 * (2 * FLOOD + FLOOD / 5)} closing, resetting and half-closing connections`);
    }, 180_000);

    it.each(PORTS)(`$port: $node holds ${FLOOD} silent connections, serves others meanwhile, and lets go of all of them`, async ({ from, host, node }) => {
      await settle(node);
      const start = { rss: rssMiB(node), gcs: fullGcs(node).length };
      const held: Socket[] = [];
      try {
        for (let i = 0; i < FLOOD; i++) held.push(connectFrom(from(), host, APP_PORT));
        await waitFor(async () => (await live(node)) >= FLOOD, 30_000, `${FLOOD} live connections on ${node}`);
        await served(from(), host);
        console.log(`${node} holding ${FLOOD} silent connections: RSS ${rssMiB(node).toFixed(1)} MiB (${start.rss.toFixed(1)} before)`);
      } finally {
        for (const socket of held) socket.destroy();
      }
      await settle(node);
      await served(from(), host);
      expectBounded(node, start, `after ${FLOOD} held connections were let go`);
    }, 120_000);

    it.each(PORTS)('$port: a half-open flood (SYN-ACKs dropped at the client) does not stop $node accepting', async ({ from, host, node }) => {
      // The client's kernel drops the SYN-ACKs for one destination port, so each of these
      // connections stays half-open on the ztunnel side (SYN_RECV) until the kernel gives up.
      const floodPort = APP_PORT + 1;
      const drop = ['iptables', '-w', '-I', 'INPUT', '-p', 'tcp', '--sport', String(floodPort), '--tcp-flags', 'SYN,ACK', 'SYN,ACK', '-j', 'DROP'];
      await topology!.exec(from(), drop);
      const sockets: Socket[] = [];
      try {
        for (let i = 0; i < FLOOD * 2; i++) sockets.push(connectFrom(from(), host, floodPort));
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        expect(sockets.every((s) => s.connecting)).toBe(true); // none got through: the flood is real
        await served(from(), host);
      } finally {
        for (const socket of sockets) socket.destroy();
        await topology!.exec(from(), ['iptables', '-w', '-D', ...drop.slice(3)]);
      }
      await settle(node);
    }, 60_000);
  });
});
