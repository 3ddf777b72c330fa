// The runtime's floor under ztunnel's data path: what node:http2 + tls alone cost for the two-hop
// relay, with no mesh code. `pnpm bench floor` (or `node scripts/bench.mjs floor [--quick]`).
//
//   client ──TCP──▶ hop a ══ HTTP/2 CONNECT over mutual TLS 1.3 (one pooled session) ══▶ hop b ──TCP──▶ echo / sink
//
// Each hop is a process of its own (floor-hop.mjs: `node:` modules, no mesh code), as the two
// ztunnels are, with @mesh/hbone-core's flow-control windows and frame size and ztunnel's V8 flags; the
// relay is `pipe()` both ways or a bare `data` listener, both measured, the better of the two
// taken as the floor. Every figure alternates rounds with the direct path (client → echo / sink
// on loopback) in the same run, and uses the load of apps/ztunnel/bench/mesh.bench.mjs, so the
// rows compare with its `added latency p50`, `ztunnel A/B CPU per 1,000 req/s`, `throughput,
// one connection A → B` and `connections per second (8 parallel)`, and carry issue 14's targets:
// whether even the floor meets them. `floor: open stream p50` is hbone.bench.mjs's `open stream on
// pooled connection p50` on node:http2 alone: this process opens CONNECT streams on its own warm
// session to a hop b, which answers 200 without an upstream. In the same blocks it opens streams
// with @mesh/hbone-core's HbonePool to peer.mjs's HboneServer (hbone.bench.mjs's open, run with
// the hops' V8 flags): `open stream, @mesh/hbone-core, same conditions as the floor p50`.
// `--open-only` runs just those open rows (they run first, in fresh processes);
// FLOOR_EXEC_ARGV adds V8 flags to the hops and the peer, e.g. '--cpu-prof --cpu-prof-dir=/tmp/p'.
import { fork } from 'node:child_process';
import { connect } from 'node:net';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { HbonePool, createHboneSecureContext } from '@mesh/hbone-core';
import { CONNECTION_WINDOW_BYTES, MAX_FRAME_BYTES, SERVER_MAX_CONCURRENT_STREAMS, STREAM_WINDOW_BYTES } from '@mesh/hbone-core/constants';
import { createTestCa } from '@mesh/pki/testing';
import { OPEN_ONLY_PORT, h2Session } from './floor-hop.mjs';
import { connectionsPerSecond, createRecorder, median, percentile, pingPong, sinkThroughput, steadyRequests } from '../../../scripts/bench-lib.mjs';

const HOP = fileURLToPath(new URL('./floor-hop.mjs', import.meta.url));
// hbone.bench.mjs's peer: an HboneServer (and its echo and sink) in a process of its own.
const PEER = fileURLToPath(new URL('./peer.mjs', import.meta.url));
const MODES = ['pipe', 'data'];
const MiB = 1024 * 1024;
// ztunnel's own V8 flags (apps/ztunnel/src/runtime.ts, ZTUNNEL_V8_FLAGS), so GC costs compare.
const HOP_EXEC_ARGV = ['--max-semi-space-size=16'];
const EXTRA_EXEC_ARGV = (process.env.FLOOR_EXEC_ARGV ?? '').split(' ').filter(Boolean);
const WINDOWS = { stream: STREAM_WINDOW_BYTES, connection: CONNECTION_WINDOW_BYTES, frame: MAX_FRAME_BYTES, serverStreams: SERVER_MAX_CONCURRENT_STREAMS };

function startHop(config, script = HOP) {
  const child = fork(script, [], { execArgv: config.role === 'echo' ? [] : [...HOP_EXEC_ARGV, ...EXTRA_EXEC_ARGV], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`floor hop ${config.role} exited with ${code}`)));
  });
  child.send(config);
  /** CPU seconds (user + system) the process has used so far. */
  const cpu = () =>
    new Promise((resolve) => {
      child.once('message', (m) => resolve((m.cpu.user + m.cpu.system) / 1e6));
      child.send('cpu');
    });
  return { child, ready, cpu };
}

const tcp = (port) =>
  new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true }, () => resolve(s));
    s.once('error', reject);
  });
const fixed = (x, digits = 0) => x.toFixed(digits);
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const elapsedUs = (t0) => Number(process.hrtime.bigint() - t0) / 1000;
// A W3C traceparent, as @mesh/hbone-core's pool sends on every CONNECT (a fresh one there).
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

/**
 * One open as HbonePool.open() does it on the wire: CONNECT (3 header fields) on the warm
 * session; resolves with the stream at the 200.
 */
function bareOpen(session, authority) {
  const stream = session.request({ ':method': 'CONNECT', ':authority': authority, traceparent: TRACEPARENT }, { endStream: false });
  return new Promise((resolve, reject) => {
    stream.once('response', () => resolve(stream));
    stream.once('error', reject);
    stream.once('close', () => reject(new Error('stream closed before its response')));
  });
}

/**
 * hbone.bench.mjs's open loop for one open: µs until `open()` gives the stream (the 200), then a
 * clean close (END_STREAM both ways, no RST_STREAM) before the next.
 */
async function timeOpen(open) {
  const t0 = process.hrtime.bigint();
  const stream = await open();
  const us = elapsedUs(t0);
  const closed = new Promise((resolve) => stream.once('close', resolve));
  stream.end();
  stream.resume();
  await closed;
  return us;
}

/** µs to a connected TCP socket on loopback, closed at once. */
async function tcpConnectTime(port) {
  const t0 = process.hrtime.bigint();
  const socket = await tcp(port);
  const us = elapsedUs(t0);
  socket.destroy();
  return us;
}

export async function run({ quick = false, openOnly = process.argv.includes('--open-only') } = {}) {
  const ca = createTestCa();
  const tlsOf = (id) => {
    const c = ca.issue(`spiffe://cluster.local/ns/floor/sa/${id}`);
    return { keyPem: c.keyPem, certChainPem: c.chainPem, rootCertPem: ca.rootPem };
  };
  const loadBefore = load();
  const processes = [];
  const start = (config, script) => {
    const hop = startHop(config, script);
    processes.push(hop);
    return hop;
  };
  const { results, record } = createRecorder();
  let openSession;
  let hbonePool;
  try {
    const echo = start({ role: 'echo' });
    const { echoPort, sinkPort } = await echo.ready;
    const targets = { echo: `127.0.0.1:${echoPort}`, sink: `127.0.0.1:${sinkPort}` };
    // Per relay mode a pair of hops: b first (a connects its session to it at start).
    const hops = {};
    for (const mode of MODES) {
      const b = start({ role: 'b', mode, windows: WINDOWS, tls: tlsOf(`hop-b-${mode}`) });
      const { port } = await b.ready;
      const a = start({ role: 'a', mode, windows: WINDOWS, tls: tlsOf(`hop-a-${mode}`), hopB: port, targets });
      hops[mode] = { a, b, bPort: port, ports: await a.ready };
    }
    const paths = { direct: { echo: echoPort, sink: sinkPort } };
    for (const mode of MODES) paths[mode] = hops[mode].ports;
    const names = Object.keys(paths); // direct first: every round below takes them in this order
    const by = (fn) => Object.fromEntries(names.map((n) => [n, fn(n)]));
    // Read when each row is recorded (the kernel updates the load average every 5 s).
    const env = () => `node ${process.version}, load average ${loadBefore} at start, ${load()} at this row`;
    const blocks = 4;

    // Opening a stream on a warm session, one at a time (hbone.bench.mjs's open loop, its sample
    // count), first, while every process is fresh: node:http2 alone (to a hop b) and
    // @mesh/hbone-core (HbonePool.open() with waitForResponse to peer.mjs's HboneServer, with the
    // hops' V8 flags), in blocks alternating with TCP connects on loopback (the baseline
    // hbone.bench.mjs gives). Either relay mode's hop b serves: an open never reaches its relay.
    const peer = start({ role: 'hbone-peer', credentials: tlsOf('hbone-peer') }, PEER);
    const { hbonePort } = await peer.ready;
    openSession = await h2Session({ tls: tlsOf('bench-open'), windows: WINDOWS, hopB: hops[MODES[0]].bPort });
    const openAuthority = `127.0.0.1:${OPEN_ONLY_PORT}`;
    const poolTls = tlsOf('bench-hbone');
    const poolContext = createHboneSecureContext(poolTls);
    hbonePool = new HbonePool({ trustDomain: 'cluster.local', secureContextFor: () => poolContext });
    const hboneOpenRequest = {
      sourceIdentity: 'spiffe://cluster.local/ns/floor/sa/bench-hbone',
      destination: `127.0.0.1:${hbonePort}`,
      expectedIdentities: ['spiffe://cluster.local/ns/floor/sa/hbone-peer'],
      authority: openAuthority,
      waitForResponse: true,
    };
    const openers = {
      connect: () => tcpConnectTime(echoPort),
      floor: () => timeOpen(() => bareOpen(openSession, openAuthority)),
      hbone: () => timeOpen(() => hbonePool.open(hboneOpenRequest)),
    };
    const opens = quick ? 300 : 2000;
    const openSamples = { connect: [], floor: [], hbone: [] };
    for (const f of Object.values(openers)) for (let i = 0; i < 200; i++) await f(); // warm-up
    // CPU per open of each side: this process (the client) and the server's process, read around
    // every block (node:http2's client and hop b; HbonePool and the HboneServer).
    const servers = { floor: hops[MODES[0]].b, hbone: peer };
    const openCpu = { floor: { client: 0, server: 0 }, hbone: { client: 0, server: 0 } };
    for (let b = 0; b < blocks; b++) {
      for (const [k, f] of Object.entries(openers)) {
        const server = servers[k];
        const serverBefore = server && (await server.cpu());
        const clientBefore = process.cpuUsage();
        for (let i = 0; i < opens / blocks; i++) openSamples[k].push(await f());
        if (!server) continue;
        const client = process.cpuUsage(clientBefore);
        openCpu[k].client += (client.user + client.system) / opens;
        openCpu[k].server += ((await server.cpu()) - serverBefore) * 1e6 / opens;
      }
    }
    const cpuNote = (k) => `CPU per open: client ${fixed(openCpu[k].client, 1)} µs, server ${fixed(openCpu[k].server, 1)} µs`;
    openSession.close();
    hbonePool.destroy();
    const openP50 = Object.fromEntries(Object.entries(openSamples).map(([k, xs]) => [k, median(xs)]));
    record('floor: open stream p50', openP50.floor, 'µs', {
      baseline: openP50.connect,
      target: { max: 100 },
      note: `CONNECT → 200 → clean close on a warm mTLS h2 session to hop b (no upstream), ${opens} sequential opens; p90 ${fixed(percentile(openSamples.floor, 90))} µs; ${cpuNote('floor')}; baseline: TCP connect on loopback (p50); ${env()}`,
    });
    record('open stream, @mesh/hbone-core, same conditions as the floor p50', openP50.hbone, 'µs', {
      baseline: openP50.connect,
      target: { max: 100 },
      note: `HbonePool.open() (waitForResponse) → 200 → clean close to peer.mjs's HboneServer (port ${OPEN_ONLY_PORT}, no upstream), ${opens} sequential opens in the floor's blocks; p90 ${fixed(percentile(openSamples.hbone, 90))} µs; minus the floor ${fixed(openP50.hbone - openP50.floor, 1)} µs, ${fixed(openP50.hbone / openP50.floor, 2)} × the floor; ${cpuNote('hbone')}; baseline: TCP connect on loopback (p50); ${env()}`,
    });
    if (openOnly) return results;


    // Throughput of one connection, rounds alternating.
    const bytes = (quick ? 128 : 512) * MiB;
    const reps = quick ? 1 : 3;
    for (const n of names) await sinkThroughput(() => tcp(paths[n].sink), 32 * MiB); // warm-up
    const gbps = by(() => []);
    for (let i = 0; i < reps; i++) for (const n of names) gbps[n].push(await sinkThroughput(() => tcp(paths[n].sink), bytes));
    const bestThroughput = MODES.reduce((best, m) => (median(gbps[m]) > median(gbps[best]) ? m : best));
    record('floor: throughput, one connection', median(gbps[bestThroughput]), 'Gbit/s', {
      baseline: median(gbps.direct),
      target: { ratio: true, min: 0.4 },
      note: `${bytes / MiB} MiB through both hops, best relay (${bestThroughput}); ratio per relay: ${MODES.map((m) => `${m} ${fixed(median(gbps[m]) / median(gbps.direct), 3)}`).join(', ')}; ${env()}`,
    });

    // 1-byte ping-pong on long-lived connections, in alternating blocks.
    const rounds = quick ? 2000 : 8000;
    const sockets = {};
    for (const n of names) {
      sockets[n] = await tcp(paths[n].echo);
      await pingPong(sockets[n], 300); // warm-up
    }
    const rtt = by(() => []);
    for (let b = 0; b < blocks; b++) for (const n of names) rtt[n].push(...(await pingPong(sockets[n], rounds / blocks)));
    for (const s of Object.values(sockets)) s.destroy();
    const p50 = by((n) => median(rtt[n]));
    const bestLatency = MODES.reduce((best, m) => (p50[m] < p50[best] ? m : best));
    record('floor: added latency p50', p50[bestLatency] - p50.direct, 'µs', {
      target: { max: 80 },
      note: `1-byte ping-pong through both hops minus direct, best relay (${bestLatency}); p50 direct ${fixed(p50.direct)}, ${MODES.map((m) => `${m} ${fixed(p50[m])}`).join(', ')} µs; ${env()}`,
    });

    // New connections, 8 in parallel (connect, 1 byte each way, close): 1-second rounds
    // alternating, as mesh.bench.mjs's. Through the hops each client connection is one CONNECT
    // stream on hop a's pooled session and one TCP connection from hop b to the echo server. Each
    // hop's CPU is read around every round, as below.
    const cpsRounds = 3;
    const cpsSeconds = 1;
    for (const n of names) await connectionsPerSecond(() => tcp(paths[n].echo), 0.25); // warm-up
    const cps = by(() => []);
    const connections = by(() => 0);
    const connCpu = Object.fromEntries(MODES.map((m) => [m, { a: 0, b: 0 }]));
    for (let i = 0; i < cpsRounds; i++) {
      for (const n of names) {
        const before = n === 'direct' ? undefined : { a: await hops[n].a.cpu(), b: await hops[n].b.cpu() };
        const rate = await connectionsPerSecond(() => tcp(paths[n].echo), cpsSeconds);
        cps[n].push(rate);
        connections[n] += rate * cpsSeconds;
        if (before) for (const h of ['a', 'b']) connCpu[n][h] += (await hops[n][h].cpu()) - before[h];
      }
    }
    const connRate = by((n) => median(cps[n]));
    const bestConn = MODES.reduce((best, m) => (connRate[m] > connRate[best] ? m : best));
    // CPU seconds per 1,000 connections = vCPU at 1,000 connections/s.
    const perConn1000 = (m, h) => connCpu[m][h] / (connections[m] / 1000);
    record('floor: connections per second (8 parallel)', connRate[bestConn], 'conn/s', {
      baseline: connRate.direct,
      target: { ratio: true, min: 0.35 },
      note: `best relay (${bestConn}); medians of ${cpsRounds} ${cpsSeconds}-second rounds: direct ${cps.direct.map((x) => fixed(x)).join('/')}, ${MODES.map((m) => `${m} ${cps[m].map((x) => fixed(x)).join('/')} (ratio ${fixed(connRate[m] / connRate.direct, 3)})`).join(', ')}; hop CPU per 1,000 connections ${MODES.map((m) => `${m}: a ${fixed(perConn1000(m, 'a'), 3)} b ${fixed(perConn1000(m, 'b'), 3)}`).join(', ')} vCPU·s; ${env()}`,
    });

    // Steady 1,000 req/s of 1 KiB on 10 connections, rounds alternating. Each hop's CPU is read
    // around every round: over its own rounds it is the traffic's cost, over the others' idle.
    const seconds = quick ? 2 : 4;
    const steadyRounds = quick ? 1 : 3;
    const p90s = by(() => []);
    const requests = by(() => 0);
    const busy = Object.fromEntries(MODES.map((m) => [m, { a: 0, b: 0 }]));
    const idle = Object.fromEntries(MODES.map((m) => [m, { a: 0, b: 0 }]));
    let directSeconds = 0;
    const readCpu = async () => Object.fromEntries(await Promise.all(MODES.map(async (m) => [m, { a: await hops[m].a.cpu(), b: await hops[m].b.cpu() }])));
    for (let i = 0; i < steadyRounds; i++) {
      for (const n of names) {
        const before = await readCpu();
        const t0 = Date.now();
        const samples = await steadyRequests(() => tcp(paths[n].echo), 1000, seconds);
        const after = await readCpu();
        p90s[n].push(percentile(samples, 90));
        requests[n] += samples.length;
        if (n === 'direct') directSeconds += (Date.now() - t0) / 1000;
        for (const m of MODES) {
          const into = n === m ? busy[m] : n === 'direct' ? idle[m] : undefined;
          if (!into) continue;
          for (const h of ['a', 'b']) into[h] += after[m][h] - before[m][h];
        }
      }
    }
    // CPU seconds per 1,000 requests = vCPU at 1,000 req/s (as mesh.bench.mjs computes it).
    const per1000 = (m, h) => busy[m][h] / (requests[m] / 1000);
    const worstHop = (m) => Math.max(per1000(m, 'a'), per1000(m, 'b'));
    const bestCpu = MODES.reduce((best, m) => (worstHop(m) < worstHop(best) ? m : best));
    record('floor: hop CPU per 1,000 req/s', worstHop(bestCpu), 'vCPU', {
      target: { max: 0.06 },
      note: `the busier hop, best relay (${bestCpu}); 1 KiB request/response on 10 connections; ${MODES.map((m) => `${m}: a ${fixed(per1000(m, 'a'), 3)} b ${fixed(per1000(m, 'b'), 3)}`).join(', ')} vCPU; idle (during the direct rounds) ${MODES.map((m) => `${m}: a ${fixed(idle[m].a / directSeconds, 3)} b ${fixed(idle[m].b / directSeconds, 3)}`).join(', ')}; ${env()}`,
    });
    const p90 = by((n) => median(p90s[n]));
    record('floor: added latency p90 at 1,000 req/s', p90[bestCpu] - p90.direct, 'µs', {
      target: { max: 200 },
      note: `relay ${bestCpu}; p90 direct ${fixed(p90.direct)}, ${MODES.map((m) => `${m} ${fixed(p90[m])}`).join(', ')} µs (medians of the rounds' p90s); requests ${names.map((n) => `${n} ${requests[n]}`).join(', ')}`,
    });
  } finally {
    openSession?.destroy();
    hbonePool?.destroy();
    // Each process exits when its IPC channel closes (so a --cpu-prof one writes its profile).
    await Promise.all(
      processes.map(({ child }) => new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill(), 5000);
        child.once('exit', () => { clearTimeout(timer); resolve(); });
        if (child.connected) child.disconnect();
        else child.kill();
      })),
    );
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(await run({ quick: process.argv.includes('--quick') }));
  process.exit(0);
}
