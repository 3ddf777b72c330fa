/**
 * Port 15008 of a real ztunnel and of a waypoint, as a peer sees it (root): two nodes in network
 * namespaces, istiod-lite, a ztunnel per node, the waypoint of namespace `echo`, and raw clients
 * in node A's namespace holding a mesh identity. What a peer sends there must never end the
 * process: a CONNECT reset while ztunnel B is still connecting to the pod is answered with
 * nothing, dropped, logged and counted, and the next CONNECT gets 200; every hostile input of
 * `HOSTILE_ATTACKS` leaves the port serving with memory bounded. The source a policy sees is one
 * the peer cannot forge.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { constants as h2constants } from 'node:http2';
import type { SecureContext } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HbonePool } from '@mesh/hbone-core';
import { HOSTILE_ATTACKS, HOSTILE_PEAK_GROWTH_BOUND_MIB, runHostileAttack, type HostileRun, type HostileTarget } from '@mesh/hbone-core/testing';
import { createTcpSocket, createTopology, isSockoptAvailable, listNamespaces, type Topology } from '@mesh/netfilter';
import { connectStream, hboneSessionFrom, meshClientContext } from './helpers/hbone.js';
import { createMeshFiles, type MeshFiles } from './helpers/mesh.js';
import { readLine } from './helpers/client.js';
import { connectFrom, httpInNetns, startPodServer } from './helpers/netns.js';
import { ISTIOD_MAIN, REPO_ROOT, ZTUNNEL_MAIN, waitFor, type AppProcess } from './helpers/process.js';
import { WAYPOINT_MAIN, startEchoPod } from './helpers/waypoint.js';
import { NamespaceSuite } from './helpers/suite.js';

const isRoot = process.getuid?.() === 0;
const BUILT = existsSync(ISTIOD_MAIN) && existsSync(ZTUNNEL_MAIN) && existsSync(WAYPOINT_MAIN);
const suite = new NamespaceSuite('hb');
const ISTIOD_ADDRESS = '10.77.0.2';
const APP_PORT = 9080;
const PODS = [
  { name: 'sleep', node: 'node-a', ip: '10.77.1.10' },
  { name: 'productpage-v1', node: 'node-a', ip: '10.77.1.11' },
  { name: 'reviews-v1', node: 'node-a', ip: '10.77.1.12' },
  { name: 'reviews-v2', node: 'node-b', ip: '10.77.2.10' },
  { name: 'reviews-v3', node: 'node-b', ip: '10.77.2.11' },
  { name: 'details-v1', node: 'node-b', ip: '10.77.2.12' },
  { name: 'ratings-v1', node: 'node-b', ip: '10.77.2.13' },
  { name: 'echo-v1', namespace: 'echo', node: 'node-a', ip: '10.77.1.20' },
  { name: 'echo-v2', namespace: 'echo', node: 'node-b', ip: '10.77.2.20' },
  { name: 'waypoint-0', namespace: 'echo', node: 'node-b', ip: '10.77.2.30' },
];
const RATINGS = '10.77.2.13';
const WAYPOINT_IP = '10.77.2.30';
const ECHO_VIP = '10.77.100.20';
const ECHO_PORT = 8080;
const SLEEP_ID = 'spiffe://cluster.local/ns/default/sa/sleep';
/** Linux retransmits an unanswered SYN after its initial RTO of 1 s (RFC 6298). */
const SYN_RETRANSMIT_MS = 1_000;

let topology: Topology | undefined;
let files: MeshFiles;
const ztunnels: Record<string, AppProcess> = {};
let waypoint: AppProcess;
let sleepContext: SecureContext;
const hostileRuns: Array<HostileRun & { server: string }> = [];

const podNs = (name: string, namespace = 'default') => topology!.pod(name, namespace).netns;
const nodeNs = (node: string) => topology!.node(node).netns;

async function iptablesIn(netns: string, args: string[]): Promise<string> {
  return (await topology!.exec(netns, ['iptables', ...args])).stdout;
}

describe.skipIf(!isRoot || !BUILT)('port 15008 of a ztunnel, from a peer (root, needs `pnpm build`)', () => {
  beforeAll(async () => {
    expect(isSockoptAvailable()).toBe(true);
    await suite.removeStale();
    try {
      files = await createMeshFiles();
      await files.write('echo.yaml', await readFile(`${REPO_ROOT}examples/waypoint/echo.yaml`, 'utf8'));
      topology = await createTopology({
        prefix: suite.prefix,
        underlayCidr: '10.77.0.0/24',
        nodes: [
          { name: 'node-a', address: '10.77.0.11' },
          { name: 'node-b', address: '10.77.0.12' },
        ],
        pods: PODS,
      });
      await topology.exec(topology.underlayNetns, ['ip', 'addr', 'add', `${ISTIOD_ADDRESS}/24`, 'dev', 'br0']);
      // The waypoint is a pod: istiod-lite must reach pod addresses through their nodes.
      await topology.exec(topology.underlayNetns, ['ip', 'route', 'replace', '10.77.1.0/24', 'via', '10.77.0.11']);
      await topology.exec(topology.underlayNetns, ['ip', 'route', 'replace', '10.77.2.0/24', 'via', '10.77.0.12']);
      const istiod = suite.start('istiod-lite', topology.underlayNetns, ISTIOD_MAIN, [
        '--config-dir', files.configDir, '--state-dir', files.stateDir, '--listen-address', ISTIOD_ADDRESS,
      ]);
      await istiod.waitForLog((e) => e['msg'] === 'istiod-lite ready');
      for (const pod of PODS.filter((p) => !p.namespace)) suite.servers.push(await startPodServer(podNs(pod.name), pod.name, pod.ip, APP_PORT));
      suite.servers.push(await startEchoPod(podNs('echo-v1', 'echo'), 'echo-v1', '10.77.1.20', ECHO_PORT));
      suite.servers.push(await startEchoPod(podNs('echo-v2', 'echo'), 'echo-v2', '10.77.2.20', ECHO_PORT));
      for (const node of ['node-a', 'node-b']) {
        ztunnels[node] = suite.start(`ztunnel ${node}`, nodeNs(node), ZTUNNEL_MAIN, [
          '--node-name', node,
          '--xds-address', `${ISTIOD_ADDRESS}:15012`,
          '--bootstrap-dir', `${files.stateDir}/nodes/${node}`,
          '--capture-mode', 'transparent',
          '--capture-netns', nodeNs(node),
        ]);
      }
      waypoint = suite.start('waypoint', podNs('waypoint-0', 'echo'), WAYPOINT_MAIN, [
        '--node-name', 'node-b', '--pod-name', 'waypoint-0', '--namespace', 'echo', '--pod-ip', WAYPOINT_IP,
        '--xds-address', `${ISTIOD_ADDRESS}:15012`, '--bootstrap-dir', `${files.stateDir}/waypoints/echo/waypoint`, '--listen-address', WAYPOINT_IP,
      ]);
      for (const node of ['node-a', 'node-b']) {
        await waitFor(async () => (await httpInNetns(nodeNs(node), 15021, '/healthz/ready').catch(() => ({ status: 0 }))).status === 200, 30_000, `ztunnel ${node} ready`);
        await ztunnels[node]!.waitForLog((e) => e['msg'] === 'capture rules applied');
      }
      await waitFor(async () => (await httpInNetns(podNs('waypoint-0', 'echo'), 15021, '/healthz/ready', 'GET', WAYPOINT_IP).catch(() => ({ status: 0 }))).status === 200, 30_000, 'waypoint ready');
      sleepContext = await meshClientContext(files.stateDir, SLEEP_ID);
    } catch (err) {
      await suite.teardown();
      await files?.cleanup();
      throw err;
    }
  }, 120_000);

  afterAll(async () => {
    if (hostileRuns.length > 0) {
      console.log(`hostile input on 15008:\n${hostileRuns.map((r) => `  [${r.server}] ${r.attack}: ${r.count} ${r.unit} → ${r.answer}; RSS ${r.memoryMiB.before} → peak ${r.memoryMiB.peak} → ${r.memoryMiB.after} MiB`).join('\n')}`);
    }
    suite.dumpOutput();
    await suite.teardown();
    await files?.cleanup();
    expect(await listNamespaces(suite.prefix)).toEqual([]);
  }, 30_000);

  const CODES = [
    ['NO_ERROR', h2constants.NGHTTP2_NO_ERROR],
    ['CANCEL', h2constants.NGHTTP2_CANCEL],
    ['INTERNAL_ERROR', h2constants.NGHTTP2_INTERNAL_ERROR],
  ] as const;

  for (const [name, code] of CODES) {
    it(`RST_STREAM(${name}) while ztunnel B connects to the pod: ztunnel B stays up, logs it, and the next CONNECT echoes`, async () => {
      const ratingsNs = podNs('ratings-v1');
      // The pod drops the first SYN from each source (`recent` remembers it) and accepts the
      // retransmit: ztunnel B's upstream connect is pending for one RTO, deterministically.
      const list = `hb${code}`;
      const rules = [
        ['-p', 'tcp', '--dport', String(APP_PORT), '--syn', '-m', 'recent', '--name', list, '--rcheck', '-j', 'ACCEPT'],
        ['-p', 'tcp', '--dport', String(APP_PORT), '--syn', '-m', 'recent', '--name', list, '--set', '-j', 'DROP'],
      ];
      for (const rule of rules) await iptablesIn(ratingsNs, ['-A', 'INPUT', ...rule]);
      const zb = ztunnels['node-b']!;
      const logsBefore = zb.logs.length;
      const session = await hboneSessionFrom(nodeNs('node-a'), RATINGS, 15008, sleepContext);
      try {
        const doomed = session.request({ ':method': 'CONNECT', ':authority': `${RATINGS}:${APP_PORT}` }, { endStream: false });
        doomed.on('error', () => undefined);
        let answered = false;
        doomed.once('response', () => (answered = true));
        const firstSynAt = Date.now();
        // The first SYN reached the pod's INPUT chain (and was dropped): ztunnel B is connecting.
        await waitFor(async () => (await synCount(ratingsNs, 'DROP')) >= 1, 10_000, 'the first SYN to the pod');
        doomed.close(code);
        const failed = await zb.waitForLog(
          (e) => zb.logs.indexOf(e) >= logsBefore && e['scope'] === 'access' && e['msg'] === 'connection failed' && String(e['error']).includes(name),
          10_000,
        );
        expect(failed).toMatchObject({ direction: 'inbound', 'dst.addr': `${RATINGS}:${APP_PORT}` });
        // Past the retransmit the old code connected at and then answered on the closed stream.
        await sleep(Math.max(0, firstSynAt + SYN_RETRANSMIT_MS + 500 - Date.now()));
        expect(await synCount(ratingsNs, 'ACCEPT')).toBe(0);
        expect(answered).toBe(false);
        expect(zb.running).toBe(true);
        const next = await connectStream(session, `${RATINGS}:${APP_PORT}`);
        expect(next.status).toBe(200);
        next.stream.write('ping');
        const text = await readUntil(next.stream, 'ping');
        expect(text).toBe('ratings-v1\nping');
        next.stream.close();
      } finally {
        session.destroy();
        for (const rule of rules) await iptablesIn(ratingsNs, ['-D', 'INPUT', ...rule]).catch(() => undefined);
      }
    });
  }

  it('a DENY on the source range of a real peer holds: ztunnel A tunnels from the pod\'s own address, ztunnel B authorizes on it', async () => {
    // ipBlocks is the connection's source (Envoy's direct_remote_ip): node A's pods.
    await files.write(
      'deny-node-a-pods.yaml',
      `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-node-a-pods
  namespace: default
spec:
  selector:
    matchLabels:
      app: ratings
  action: DENY
  rules:
    - from:
        - source:
            ipBlocks: ["10.77.1.0/24"]
`,
    );
    const zb = ztunnels['node-b']!;
    try {
      await waitFor(async () => (await askPod('sleep', RATINGS).catch(() => 'refused')) === 'refused', 15_000, 'the DENY to apply');
      const denied = await zb.waitForLog((e) => e['scope'] === 'access' && e['policy'] === 'ns[default]-policy[deny-node-a-pods]-rule[0]');
      expect(String(denied['src.addr'])).toMatch(/^10\.77\.1\.10:\d+$/);
      // Pods outside the range still get through (reviews-v2 is on node B: a same-node tunnel).
      expect(await askPod('reviews-v2', RATINGS)).toBe('ratings-v1');
      // A peer with sleep's certificate, from node A's own address, claiming a node-B pod's
      // address: not a workload of its identity, refused.
      const session = await hboneSessionFrom(nodeNs('node-a'), RATINGS, 15008, sleepContext);
      try {
        const forged = await connectStream(session, `${RATINGS}:${APP_PORT}`, { forwarded: 'for="10.77.2.10:4711"' });
        expect(forged.status).toBe(401);
        forged.stream.close();
      } finally {
        session.destroy();
      }
    } finally {
      await files.remove('deny-node-a-pods.yaml');
      await waitFor(async () => (await askPod('sleep', RATINGS).catch(() => 'refused')) === 'ratings-v1', 15_000, 'the DENY to lift');
    }
  });

  /**
   * The hostile battery against one HBONE port, reached from node A's namespace with sleep's
   * identity; after each attack a fresh tunnel must answer `banner` and echo.
   */
  function hostileSuite(server: string, process: () => AppProcess, port: { host: string; expectedIdentity: string; echoAuthority: string; banner: RegExp }): void {
    describe(`hostile input on ${server}'s 15008`, () => {
      const target = (): HostileTarget => ({
        connect: () => createTcpSocket({ netns: nodeNs('node-a') }).connect(15008, port.host),
        clientContext: sleepContext,
        rootPem: '',
        echoAuthority: port.echoAuthority,
      });
      async function tunnelEchoes(): Promise<void> {
        const pool = new HbonePool({
          trustDomain: 'cluster.local',
          secureContextFor: () => sleepContext,
          createSocket: ({ host, port: p }) => createTcpSocket({ netns: nodeNs('node-a') }).connect(p, host),
        });
        try {
          const stream = await pool.open({ sourceIdentity: SLEEP_ID, destination: `${port.host}:15008`, expectedIdentities: [port.expectedIdentity], authority: port.echoAuthority });
          stream.write('still serving');
          const answer = await readUntil(stream, 'still serving');
          expect(answer.replace(port.banner, '')).toBe('still serving');
          stream.destroy();
        } finally {
          pool.destroy();
        }
      }
      for (const attack of HOSTILE_ATTACKS) {
        it(`${attack.name}: ${server} survives, a tunnel still echoes, memory stays bounded`, async () => {
          const t = { ...target(), rootPem: await readFile(`${files.stateDir}/root-cert.pem`, 'utf8') };
          const p = process();
          const run = await runHostileAttack(attack, t, { pid: p.child.pid!, alive: () => p.running, tunnelEchoes });
          hostileRuns.push({ ...run, server });
          expect(p.running).toBe(true);
          expect(run.memoryMiB.peak - run.memoryMiB.before).toBeLessThan(HOSTILE_PEAK_GROWTH_BOUND_MIB);
        }, 180_000);
      }
    });
  }

  hostileSuite('ztunnel B', () => ztunnels['node-b']!, { host: RATINGS, expectedIdentity: 'spiffe://cluster.local/ns/default/sa/bookinfo-ratings', echoAuthority: `${RATINGS}:${APP_PORT}`, banner: /^ratings-v1\n/ });
  hostileSuite('the waypoint', () => waypoint, { host: WAYPOINT_IP, expectedIdentity: 'spiffe://cluster.local/ns/echo/sa/waypoint', echoAuthority: `${ECHO_VIP}:80`, banner: /^tcp echo-v[12]\n/ });

  /** Connects from a pod to `host:9080` like any client (captured by its node's ztunnel); the first line. */
  async function askPod(pod: string, host: string): Promise<string> {
    const socket = connectFrom(podNs(pod), host, APP_PORT);
    try {
      return await readLine(socket, 5_000);
    } finally {
      socket.destroy();
    }
  }

  /** Packets counted by the pod's SYN rule with this target. */
  async function synCount(netns: string, target: 'ACCEPT' | 'DROP'): Promise<number> {
    const out = await iptablesIn(netns, ['-L', 'INPUT', '-v', '-n', '-x']);
    const line = out.split('\n').find((l) => l.includes('recent') && l.includes(` ${target} `));
    return Number(line?.trim().split(/\s+/)[0] ?? 0);
  }
});

function readUntil(stream: NodeJS.ReadableStream, suffix: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no "${suffix}" within ${timeoutMs} ms (got ${JSON.stringify(text)})`)), timeoutMs);
    stream.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.endsWith(suffix)) {
        clearTimeout(timer);
        resolve(text);
      }
    });
  });
}
