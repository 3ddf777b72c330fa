// The waypoint's runtime floor: can ANY waypoint built on node:http + node:http2 + tls reach
// issue 14's `waypoint: requests/s` ≥ 0.50 of direct on this machine? `pnpm bench waypoint-floor`
// (or `node scripts/bench.mjs waypoint-floor [--quick]`; `waypoint` and `floor` match its path too).
//
// waypoint.bench.mjs's paths, clients, backend, "ztunnel", sizes and rounds (its `startPaths`), and
// a fourth path through the smallest proxy Node's own modules allow (floor-waypoint.mjs, its own
// process, no mesh code):
//
//   client → HBONE → floor proxy (mTLS HTTP/2 CONNECT → http.Server; http.Agent over CONNECT
//            streams on one pooled mTLS HTTP/2 session; pipe) → HBONE → "ztunnel" → backend
//
// The floor forwards bodies with `pipe`, or the cheapest way found (`data`: floor-waypoint.mjs);
// each runs as a process of its own, both are measured and each row takes the better one. The five
// paths — direct, L4, the real waypoint, the two floors — take turns round after round, so one run
// compares them under the same machine load; the CPU of each proxy process (and of this one, the
// load generator) is read around each of its rounds.
import { fork } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { CONNECTION_WINDOW_BYTES, MAX_FRAME_BYTES, SERVER_MAX_CONCURRENT_STREAMS, STREAM_WINDOW_BYTES } from '@mesh/hbone-core/constants';
import { openTunnel } from '@mesh/waypoint/testing';
import { createRecorder } from '../../../scripts/bench-lib.mjs';
import { SLEEP, WAYPOINT, accumulator, measure, measureCpu, startPaths, summary, tunnelAgent } from './waypoint.bench.mjs';

const FORWARDS = ['pipe', 'data'];
const FLOOR = fileURLToPath(new URL('./floor-waypoint.mjs', import.meta.url));
const WINDOWS = { stream: STREAM_WINDOW_BYTES, connection: CONNECTION_WINDOW_BYTES, frame: MAX_FRAME_BYTES, serverStreams: SERVER_MAX_CONCURRENT_STREAMS };
// The waypoint's upstream agent per endpoint (apps/waypoint/src/proxy/upstream.ts).
const AGENT = { agentMaxSockets: 128, agentIdleMs: 4_000 };
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

/** The floor proxy process, its port, and its CPU time so far (ms). */
async function startFloor(config) {
  const child = fork(FLOOR, [], { execArgv: process.env.BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/wprof'] : [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = (kind) => new Promise((resolve) => child.on('message', function on(m) { if (m.kind === kind) { child.off('message', on); resolve(m); } }));
  const ready = next('ready');
  child.send({ kind: 'start', ...config });
  const { port } = await Promise.race([ready, new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`floor proxy exited with ${code}`))))]);
  const cpuMs = async () => {
    const answer = next('cpu');
    child.send({ kind: 'cpu' });
    const { cpu } = await answer;
    return (cpu.user + cpu.system) / 1000;
  };
  return { child, port, cpuMs };
}

export async function run({ quick = false } = {}) {
  const loadBefore = load();
  const paths = await startPaths({ quick });
  if (!paths) return [{ name: 'skipped', value: 0, unit: '-', note: "istiod-lite's golden waypoint-echo.json is missing" }];
  const { sizes, rounds, ca, pool, ztunnelPort, backendAddr, agents, waypointCpuMs } = paths;
  const { results, record } = createRecorder();
  const floors = {};
  try {
    const cert = ca.issue(WAYPOINT);
    const tls = { keyPem: cert.keyPem, certChainPem: cert.chainPem, rootCertPem: ca.rootPem };
    for (const forward of FORWARDS) {
      floors[forward] = await startFloor({ forward, tls, windows: WINDOWS, tunnelPort: ztunnelPort, authority: backendAddr, ...AGENT });
      floors[forward].agent = tunnelAgent(
        () => openTunnel({ pool, sourceIdentity: SLEEP, waypoint: `127.0.0.1:${floors[forward].port}`, waypointIdentity: WAYPOINT, authority: '10.77.100.20:80' }),
        sizes.concurrency,
      );
    }
    const runs = { direct: accumulator(), l4: accumulator(), waypoint: accumulator() };
    const proxyCpu = { waypoint: 0 };
    const benchCpu = { waypoint: 0 };
    for (const forward of FORWARDS) [runs[forward], proxyCpu[forward], benchCpu[forward]] = [accumulator(), 0, 0];
    const cpuOf = { waypoint: [agents.viaWaypoint, waypointCpuMs], ...Object.fromEntries(FORWARDS.map((f) => [f, [floors[f].agent, floors[f].cpuMs]])) };
    for (let round = 0; round < rounds; round++) {
      await measure(agents.direct, sizes, runs.direct);
      await measure(agents.l4, sizes, runs.l4);
      for (const [path, [agent, cpuMs]] of Object.entries(cpuOf)) {
        const used = await measureCpu(agent, sizes, runs[path], cpuMs);
        proxyCpu[path] += used.proxyMs;
        benchCpu[path] += used.benchMs;
      }
    }
    const s = Object.fromEntries(Object.entries(runs).map(([path, acc]) => [path, summary(acc)]));
    const d = s.direct;
    const per1000 = (ms) => (ms / (rounds * (sizes.warmup + sizes.sequential + sizes.total))) * 1000;
    const fixed = (x, digits) => x.toFixed(digits);
    // The floor: the better of the two forwardings, row by row; the note gives both.
    const best = (of, better) => FORWARDS.map(of).reduce((a, b) => (better(b, a) ? b : a));
    const both = (of, digits) => FORWARDS.map((f) => `${f} ${fixed(of(f), digits)}`).join(', ');
    const rps = (f) => s[f].rps;
    const cpuPer1000 = (f) => per1000(proxyCpu[f]);
    record('direct: requests/s', d.rps, 'req/s', { note: `${sizes.concurrency} keep-alive clients` });
    record('L4 mesh (HBONE): requests/s', s.l4.rps, 'req/s', { baseline: d.rps });
    record('waypoint: requests/s', s.waypoint.rps, 'req/s', { baseline: d.rps, note: 'the real waypoint, same run (its target is judged in `waypoint`)' });
    record('waypoint floor: requests/s', best(rps, (a, b) => a > b), 'req/s', { baseline: d.rps, target: { ratio: true, min: 0.5 }, note: `HBONE in, http.Server → http.Agent, HBONE out; node: modules only. ${both(rps, 0)}` });
    record('direct: p50', d.p50, 'ms', { note: 'one request at a time' });
    record('waypoint: p50', s.waypoint.p50, 'ms', { baseline: d.p50 });
    record('waypoint floor: p50', best((f) => s[f].p50, (a, b) => a < b), 'ms', { baseline: d.p50, note: both((f) => s[f].p50, 3) });
    record('waypoint CPU per 1,000 requests', per1000(proxyCpu.waypoint), 'ms', { note: 'the waypoint process, same run' });
    record('waypoint floor CPU per 1,000 requests', best(cpuPer1000, (a, b) => a < b), 'ms', { baseline: per1000(proxyCpu.waypoint), note: `the floor proxy process (baseline: the waypoint's). ${both(cpuPer1000, 1)}. node ${process.version}; load average ${loadBefore} at start, ${load()} at the end` });
    record('bench process CPU per 1,000 waypoint requests', per1000(benchCpu.waypoint), 'ms', { note: 'the load generator (client, tunnel ends, backend)' });
    record('bench process CPU per 1,000 floor requests', best((f) => per1000(benchCpu[f]), (a, b) => a < b), 'ms', { note: both((f) => per1000(benchCpu[f]), 1) });
    for (const a of [...Object.values(agents), ...FORWARDS.map((f) => floors[f].agent)]) a.destroy();
  } finally {
    for (const f of Object.values(floors)) f.child.kill();
    await paths.close();
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(await run({ quick: process.argv.includes('--quick') }));
  process.exit(0);
}
