/**
 * Faults, for real (root): the sample mesh's two nodes in network namespaces, istiod-lite on the
 * underlay and a transparent ztunnel per node, then what a user sees when parts of it fail:
 *
 * - node-b's underlay link down 8 s (a live connection survives) and past the HBONE keepalive
 *   deadline (it fails promptly, saying why; new connections work once the link is back);
 * - istiod-lite killed (SIGKILL) during traffic (the data plane keeps serving; restarted, the
 *   proxies resync and an edit made meanwhile applies);
 * - a ztunnel killed (its pods' traffic fails closed; restarted, it recovers with the same
 *   capture rules, none stale or doubled);
 * - a ztunnel started while istiod-lite is unreachable (retries with backoff, ready when it is back);
 * - workload certificates that expire during a long transfer (istiod-lite signs
 *   CERT_TTL_SECONDS certificates here, `--workload-cert-ttl`) and while istiod-lite is away.
 *
 * istiod-lite's state directory read-only or full is the second describe (no mesh needed).
 * Every test leaves the mesh whole for the next (`mesh.restoreAfterTest()`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { listNamespaces } from '@mesh/netfilter';
import { readLine } from './helpers/client.js';
import { POLICIES_DIR, createMeshFiles } from './helpers/mesh.js';
import { connectFrom, httpInNetns, startHashSink, startPodServer } from './helpers/netns.js';
import { AppProcess, ISTIOD_MAIN, ZTUNNEL_MAIN, eventually, nextEvent, waitFor } from './helpers/process.js';
import { TwoNodeMesh } from './helpers/two-node-mesh.js';

const isRoot = process.getuid?.() === 0;
const BUILT = existsSync(ISTIOD_MAIN) && existsSync(ZTUNNEL_MAIN);
const APP_PORT = 9080;
const SINK_PORT = 9091;
const RATINGS_VIP = '10.77.100.13';
const DETAILS_VIP = '10.77.100.12';
const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
/** Short enough that certificates expire within a test; renewed at half of it. */
const CERT_TTL_SECONDS = 30;
/** The HBONE pool's keepalive (packages/hbone-core): a PING every 10 s, dropped once one has waited 20 s for its answer. */
const KEEPALIVE_DEADLINE_MS = 10_000 + 20_000;
/** node-b's port on the underlay bridge (createTopology names them n<index>, in node order). */
const NODE_B_UNDERLAY_PORT = 'n1';

const PODS = [
  { name: 'sleep', node: 'node-a', ip: '10.77.1.10' },
  { name: 'productpage-v1', node: 'node-a', ip: '10.77.1.11' },
  { name: 'details-v1', node: 'node-b', ip: '10.77.2.12' },
  { name: 'ratings-v1', node: 'node-b', ip: '10.77.2.13' },
];

const mesh = new TwoNodeMesh({ tag: 'fl', pods: PODS, istiodArgs: ['--workload-cert-ttl', `${CERT_TTL_SECONDS}s`] });
/** Pod servers by pod name, to see which connections reach a pod. */
const servers: Record<string, Server> = {};

/** Sets node-b's link to the underlay (the bridge every node and istiod-lite share) down or up. */
async function underlayLink(state: 'up' | 'down'): Promise<void> {
  await mesh.topology.exec(mesh.topology.underlayNetns, ['ip', 'link', 'set', NODE_B_UNDERLAY_PORT, state]);
}

/** A connection from sleep to ratings through the VIP that echoes lines; closed when the test ends. */
async function liveConnection(): Promise<{ socket: Socket; echo: (text: string, timeoutMs?: number) => Promise<string> }> {
  const socket = connectFrom(mesh.podNs('sleep'), RATINGS_VIP, APP_PORT);
  onTestFinished(() => void socket.destroy());
  expect(await readLine(socket)).toBe('ratings-v1');
  return {
    socket,
    echo: (text, timeoutMs) => {
      const line = readLine(socket, timeoutMs);
      socket.write(`${text}\n`);
      return line;
    },
  };
}

/** The remote addresses of the connections that reached a pod's server while `during` ran. */
async function reachedDuring(pod: string, during: () => Promise<unknown>): Promise<Array<string | undefined>> {
  const reached: Array<string | undefined> = [];
  const onConnection = (socket: Socket) => reached.push(socket.remoteAddress);
  servers[pod]!.on('connection', onConnection);
  try {
    await during();
  } finally {
    servers[pod]!.off('connection', onConnection);
  }
  return reached;
}

/**
 * A node's capture state, comparable across ztunnel restarts: the mangle table without counters,
 * the ipsets (members sorted, without the hash seed an ipset gets at creation), policy routing.
 */
async function captureState(node: string): Promise<string> {
  const run = async (argv: string[]) => (await mesh.topology.exec(mesh.nodeNs(node), argv)).stdout;
  const mangle = (await run(['iptables-save', '-t', 'mangle']))
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .map((line) => line.replace(/\[\d+:\d+\]/g, ''));
  const ipsets = (await run(['ipset', 'save']))
    .split('\n')
    .map((line) => line.replace(/ initval 0x[0-9a-f]+/, ''))
    .sort();
  return [...mangle, ...ipsets, await run(['ip', 'rule', 'show']), await run(['ip', 'route', 'show', 'table', '100'])].join('\n');
}

/** The workload certificates a ztunnel holds (its admin /certs). */
async function certificates(node: string): Promise<Array<{ identity: string; serialNumber?: string; notAfter?: string; state: string }>> {
  const body = JSON.parse((await httpInNetns(mesh.nodeNs(node), 15000, '/certs')).body) as { certificates: Array<{ identity: string; serialNumber?: string; notAfter?: string; state: string }> };
  return body.certificates;
}

describe.skipIf(!isRoot || !BUILT)('faults: links, crashes, an unreachable control plane, expiring certificates (root, needs `pnpm build`)', () => {
  mesh.suite.showOutputOnFailure();

  beforeAll(async () => {
    await mesh.start();
    for (const pod of PODS) {
      servers[pod.name] = await startPodServer(mesh.podNs(pod.name), pod.name, pod.ip, APP_PORT);
      mesh.suite.servers.push(servers[pod.name]!);
    }
    mesh.suite.servers.push(await startHashSink(mesh.podNs('details-v1'), '10.77.2.12', SINK_PORT));
  }, 180_000);

  afterAll(async () => {
    mesh.suite.dumpOutput();
    await mesh.teardown();
    expect(await listNamespaces(mesh.suite.prefix)).toEqual([]);
  }, 60_000);

  it("node-b's underlay link down for 8 s: a live connection survives and carries what was sent meanwhile", async () => {
    onTestFinished(() => underlayLink('up'));
    const live = await liveConnection();
    expect(await live.echo('before')).toBe('before');
    await underlayLink('down');
    const during = live.echo('during the outage', 60_000);
    await sleep(8_000);
    await underlayLink('up');
    expect(await during).toBe('during the outage');
    expect(await live.echo('after')).toBe('after');
  }, 120_000);

  it('down past the keepalive deadline: the live connection fails promptly, saying why; new connections work once the link is back', async () => {
    onTestFinished(() => underlayLink('up'));
    const live = await liveConnection();
    expect(await live.echo('before')).toBe('before');
    let closedAt: number | undefined;
    live.socket.once('close', () => (closedAt = Date.now()));
    await underlayLink('down');
    const downAt = Date.now();
    // The HBONE keepalive gives up, instead of TCP retransmitting for many minutes.
    await waitFor(() => closedAt, { timeoutMs: KEEPALIVE_DEADLINE_MS + 20_000, what: 'the live connection to fail' });
    process.stderr.write(`live connection failed ${((closedAt! - downAt) / 1000).toFixed(1)} s after the link went down\n`);
    const failed = await mesh.accessLog('node-a', (e) => e['dst.addr'] === '10.77.2.13:9080' && /PING|keepalive/i.test(String(e['error'])));
    expect(failed).toMatchObject({ direction: 'outbound', 'src.identity': SLEEP });
    await underlayLink('up');
    // The outage outlasts this suite's 30 s certificates' half-life, so node-b may come back with
    // expired ones: it renews as soon as its stream to istiod-lite is back (reconnect backoff ≤ 5 s).
    await eventually(async () => expect(await mesh.answer('sleep', RATINGS_VIP, APP_PORT)).toBe('ratings-v1'), { timeoutMs: 30_000, what: 'a new connection once the link is back' });
  }, 150_000);

  it('istiod-lite killed during traffic: the data plane keeps serving; restarted, the proxies resync and an edit made meanwhile applies', async () => {
    mesh.restoreAfterTest();
    const answers: string[] = [];
    let traffic = true;
    const loop = (async () => {
      while (traffic) {
        answers.push(await mesh.answer('sleep', RATINGS_VIP, APP_PORT));
        await sleep(50);
      }
    })();
    onTestFinished(async () => {
      traffic = false;
      await loop;
    });
    await waitFor(() => answers.length >= 5, { what: 'traffic flowing' });
    mesh.istiod.kill();
    await mesh.ztunnels['node-a']!.waitForLog((e) => String(e['msg']).includes('stream lost'));
    const killedAt = answers.length;
    await waitFor(() => answers.length >= killedAt + 20, { what: 'traffic while istiod-lite is gone' });
    traffic = false;
    await loop;
    expect(answers.filter((a) => a !== 'ratings-v1')).toEqual([]);
    // While it is gone, an edit: sleep may no longer reach ratings.
    await mesh.files.writeForTest('policy-deny-sleep-to-ratings.yaml', await readFile(join(POLICIES_DIR, 'deny-sleep-to-ratings.yaml'), 'utf8'), {
      what: 'DENY sleep → ratings',
      lifted: async () => expect(await mesh.answer('sleep', RATINGS_VIP, APP_PORT)).toBe('ratings-v1'),
    });
    await mesh.startIstiod();
    await eventually(async () => expect(await mesh.answer('sleep', RATINGS_VIP, APP_PORT)).toMatch(/^refused/), { what: 'the edit in force after the restart' });
    // Others still get through once the proxies have resynced (a connection made while node-b's
    // stream and certificates come back can be reset: shuffled stress seed 889372).
    await eventually(async () => expect(await mesh.answer('productpage-v1', RATINGS_VIP, APP_PORT)).toBe('ratings-v1'), { what: 'productpage → ratings after the restart' });
    // Both proxies resynced: connected again, every type ACKed at the version sent.
    await eventually(async () => {
      const syncz = JSON.parse((await mesh.istiodDebug('/debug/syncz')).body) as Array<{ nodeName: string; types: Record<string, { sentVersion?: string; ackedVersion?: string }> }>;
      expect(syncz.map((p) => p.nodeName).sort()).toEqual(['node-a', 'node-b']);
      for (const proxy of syncz) for (const type of Object.values(proxy.types)) expect(type.ackedVersion).toBe(type.sentVersion);
    }, { what: 'both proxies in sync' });
  }, 180_000);

  it("a ztunnel killed: its pods' traffic fails closed; restarted, it recovers with the same capture rules", async () => {
    mesh.restoreAfterTest();
    const rulesBefore = await captureState('node-b');
    mesh.ztunnels['node-b']!.kill();
    await mesh.ztunnels['node-b']!.exited;
    // Into node-b's pods, and out of them: refused, and nothing reaches a pod around the mesh.
    const intoRatings = await reachedDuring('ratings-v1', async () => expect(await mesh.answer('sleep', RATINGS_VIP, APP_PORT, 3_000)).toMatch(/^refused/));
    expect(intoRatings).toEqual([]);
    const outOfRatings = await reachedDuring('details-v1', async () => expect(await mesh.answer('ratings-v1', DETAILS_VIP, APP_PORT, 3_000)).toMatch(/^refused/));
    expect(outOfRatings).toEqual([]);
    mesh.startZtunnel('node-b');
    await mesh.ready('node-b');
    await eventually(async () => expect(await mesh.answer('sleep', RATINGS_VIP, APP_PORT)).toBe('ratings-v1'), { what: 'sleep → ratings through the new ztunnel' });
    expect(await mesh.answer('ratings-v1', DETAILS_VIP, APP_PORT)).toBe('details-v1');
    expect(await captureState('node-b')).toBe(rulesBefore);
  }, 180_000);

  it('a ztunnel started while istiod-lite is unreachable retries with backoff and gets ready when it appears', async () => {
    mesh.restoreAfterTest();
    await mesh.istiod.stop();
    await mesh.ztunnels['node-b']!.stop();
    const ztunnel = mesh.startZtunnel('node-b');
    const retries = () => ztunnel.logs.filter((e) => String(e['msg']).includes('stream lost')).map((e) => Number(e['retryInMs']));
    await waitFor(() => retries().length >= 5, { timeoutMs: 60_000, what: 'five attempts', lastSeen: retries });
    expect((await httpInNetns(mesh.nodeNs('node-b'), 15021, '/healthz/ready')).status).not.toBe(200);
    // Exponential backoff with ±20 % jitter, capped at 5 s.
    const delays = retries();
    expect(delays[4]!).toBeGreaterThan(delays[0]! * 4);
    expect(Math.max(...delays)).toBeLessThanOrEqual(5_000);
    await mesh.startIstiod();
    await mesh.ready('node-b');
    await eventually(async () => expect(await mesh.answer('sleep', RATINGS_VIP, APP_PORT)).toBe('ratings-v1'), { what: 'sleep → ratings through the new ztunnel' });
  }, 180_000);

  it('certificates renewed during a long transfer: it completes intact across their expiry', async () => {
    const before = await certificates('node-a');
    const sleepCert = before.find((c) => c.identity === SLEEP)!;
    // Straight to the pod's sink port (no Service names it): HBONE all the same.
    const socket = connectFrom(mesh.podNs('sleep'), '10.77.2.12', SINK_PORT);
    onTestFinished(() => void socket.destroy());
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const reply = readLine(socket, 240_000);
    const hash = createHash('sha256');
    let sent = 0;
    // Past the expiry of the certificates in use when it started: 1 MiB every 250 ms.
    const until = Date.parse(sleepCert.notAfter!) + 5_000;
    while (Date.now() < until) {
      const piece = randomBytes(1024 * 1024);
      hash.update(piece);
      sent += piece.length;
      if (!socket.write(piece)) await Promise.race([nextEvent(socket, 'drain', 60_000), reply]);
      await sleep(250);
    }
    socket.end();
    const [bytes, digest] = (await reply).split(' ');
    expect(Number(bytes)).toBe(sent);
    expect(digest).toBe(hash.digest('hex'));
    const after = await certificates('node-a');
    expect(after.find((c) => c.identity === SLEEP)!.serialNumber).not.toBe(sleepCert.serialNumber);
  }, 240_000);

  it('a certificate that expired while istiod-lite was away: new mTLS connections are refused, saying why; renewed when it is back', async () => {
    mesh.restoreAfterTest();
    await mesh.istiod.stop();
    const held = (await certificates('node-a')).find((c) => c.identity === SLEEP)!;
    await waitFor(() => Date.now() > Date.parse(held.notAfter!) + 1_000, { timeoutMs: CERT_TTL_SECONDS * 1_000 + 10_000, what: "sleep's certificate to expire" });
    expect(await mesh.answer('sleep', RATINGS_VIP, APP_PORT)).toMatch(/^refused/);
    const refused = await mesh.accessLog('node-a', (e) => String(e['error']).startsWith('IDENTITY_ERR_CERT_EXPIRED'));
    expect(String(refused['error'])).toMatch(new RegExp(`the workload certificate of ${SLEEP} expired at .* could not be renewed: 14 UNAVAILABLE`));
    await mesh.startIstiod();
    await eventually(async () => expect(await mesh.answer('sleep', RATINGS_VIP, APP_PORT)).toBe('ratings-v1'), { timeoutMs: 60_000, what: 'a renewed certificate' });
    // The mesh whole for the next test: no certificate on either node still expired (node-b's
    // may have expired later than sleep's, and renew only once its own stream is back).
    await eventually(async () => {
      for (const node of ['node-a', 'node-b']) {
        const expired = (await certificates(node)).filter((c) => c.notAfter === undefined || Date.parse(c.notAfter) <= Date.now());
        expect(expired.map((c) => `${node}: ${c.identity}`)).toEqual([]);
      }
    }, { timeoutMs: 30_000, what: 'every certificate renewed' });
  }, 180_000);
});

describe.skipIf(!isRoot || !BUILT)("faults: istiod-lite's state directory read-only or full (root, needs `pnpm build`)", () => {
  let root: string;
  const mounts: string[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'mesh-faults-'));
  });

  afterAll(async () => {
    for (const dir of mounts.reverse()) await run('umount', dir).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  });

  async function run(command: string, ...args: string[]): Promise<void> {
    const child = new AppProcess(command, command, args);
    const code = await child.exited;
    if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}: ${child.output}`);
  }

  /** A small tmpfs of its own (`options`: mount options), unmounted after the suite. */
  async function smallDisk(name: string, options: string): Promise<string> {
    const dir = join(root, name);
    await run('mkdir', '-p', dir);
    await run('mount', '-t', 'tmpfs', '-o', options, name, dir);
    mounts.push(dir);
    return dir;
  }

  async function startIstiod(stateDir: string): Promise<AppProcess> {
    const files = await createMeshFiles();
    onTestFinished(() => files.cleanup());
    const istiod = new AppProcess('istiod-lite', process.execPath, [ISTIOD_MAIN, '--config-dir', files.configDir, '--state-dir', stateDir, '--xds-tls-port', '0', '--debug-port', '0', '--listen-address', '127.0.0.1']);
    onTestFinished(() => istiod.stop());
    return istiod;
  }

  it('read-only: a clear error at start, naming the directory', async () => {
    const stateDir = await smallDisk('readonly', 'ro,size=1m');
    const istiod = await startIstiod(stateDir);
    expect(await istiod.exited).toBe(1);
    expect(istiod.output).toContain(`cannot write to the state directory ${stateDir}: the file system is read-only (EROFS)`);
    expect(istiod.output).not.toMatch(/\n\s+at /); // a message, not a stack trace
  });

  it('full: a clear error at start', async () => {
    const stateDir = await smallDisk('full', 'size=256k');
    await writeFile(join(stateDir, 'filler'), Buffer.alloc(256 * 1024)).catch(() => undefined);
    const istiod = await startIstiod(stateDir);
    expect(await istiod.exited).toBe(1);
    expect(istiod.output).toContain(`cannot write to the state directory ${stateDir}: no space left on the device (ENOSPC)`);
  });

  it('full later: a new node gets a clear error in the log, and istiod-lite keeps serving', async () => {
    const stateDir = await smallDisk('later', 'size=512k');
    const files = await createMeshFiles();
    onTestFinished(() => files.cleanup());
    const istiod = new AppProcess('istiod-lite', process.execPath, [ISTIOD_MAIN, '--config-dir', files.configDir, '--state-dir', stateDir, '--xds-tls-port', '0', '--debug-port', '0', '--listen-address', '127.0.0.1']);
    onTestFinished(() => istiod.stop());
    const ready = await istiod.waitForLog((e) => e['msg'] === 'istiod-lite ready');
    await writeFile(join(stateDir, 'filler'), Buffer.alloc(512 * 1024)).catch(() => undefined);
    await files.write('node-c.yaml', 'apiVersion: v1\nkind: Node\nmetadata:\n  name: node-c\nstatus:\n  addresses:\n    - type: InternalIP\n      address: 10.77.0.13\n');
    const failed = await istiod.waitForLog((e) => e['level'] === 'error' && String(e['error']).includes('ENOSPC'));
    expect(failed['msg']).toBe('could not issue node bootstrap credentials');
    expect(istiod.running).toBe(true);
    const debugPort = (ready['ports'] as { debug: number }).debug;
    expect((await fetch(`http://127.0.0.1:${debugPort}/ready`)).status).toBe(200);
  });
});
