// Waypoint benchmark: HTTP requests per second and p50/p99 latency, in one run, for
//   direct       client → backend (keep-alive HTTP/1.1 on loopback): the baseline
//   L4 mesh      client → HBONE tunnel (pooled mTLS HTTP/2 CONNECT) → destination "ztunnel" → backend
//   waypoint     client → HBONE → waypoint (route, RBAC, metrics, log) → HBONE → "ztunnel" → backend
// and the waypoint's CPU time per 1,000 requests (it runs in its own process). Loopback only,
// so no root or namespaces are needed; the config is istiod-lite's golden waypoint xDS with
// the endpoints pointed at the local backend. Run with `pnpm bench waypoint` (after a build).
import { fork } from 'node:child_process';
import { Agent, createServer, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { HbonePool, HboneServer, createHboneSecureContext, forwardTunnel } from '@mesh/hbone-core';
import { parseSpiffeUri } from '@mesh/pki';
import { createTestCa } from '@mesh/pki/testing';
import { TYPE_URL } from '@mesh/xds';
import { FakeAdsServer } from '@mesh/xds/testing';
import { goldenWaypointConfig, loopbackWaypointResources, openTunnel } from '@mesh/waypoint/testing';
import { createRecorder, percentile } from '../../../scripts/bench-lib.mjs';

export const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
export const BACKEND = 'spiffe://cluster.local/ns/echo/sa/echo';
export const WAYPOINT = 'spiffe://cluster.local/ns/echo/sa/waypoint';
const V1 = 'inbound-vip|80|http|echo-v1.echo.svc.cluster.local';
const V2 = 'inbound-vip|80|http|echo-v2.echo.svc.cluster.local';
const ECHO = 'inbound-vip|80|http|echo.echo.svc.cluster.local';


function get(agent, path, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: 80, path, headers: { host: '10.77.100.20:80', ...headers }, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sequential latency samples (ms) into `into.samples`, then `total` requests with `concurrency` clients. */
export async function measure(agent, { warmup, sequential, total, concurrency }, into) {
  for (let i = 0; i < warmup; i++) await get(agent, '/warm');
  for (let i = 0; i < sequential; i++) {
    const t0 = process.hrtime.bigint();
    const status = await get(agent, '/seq');
    if (status !== 200) throw new Error(`status ${status}`);
    into.samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < total) await get(agent, '/load');
    }),
  );
  into.seconds += Number(process.hrtime.bigint() - t0) / 1e9;
  into.requests += total;
}

export const summary = (m) => ({ p50: percentile(m.samples, 50), p99: percentile(m.samples, 99), rps: m.requests / m.seconds });

/** A keep-alive agent whose connections are HBONE tunnels opened by `open`. */
export function tunnelAgent(open, maxSockets) {
  // Idle connections close before the backend's keep-alive timeout (Node: 5 s), as the
  // waypoint's own upstream pools do; the paths take turns, so each sits idle for seconds.
  const agent = new Agent({ keepAlive: true, maxSockets, timeout: 4_000 });
  agent.createConnection = (_opts, done) => {
    open().then((s) => done(null, asByteStream(s)), done);
    return undefined;
  };
  return agent;
}

// HTTP/1 over an HTTP/2 stream needs the same byte-stream adapter the waypoint uses.
let asByteStream;

/**
 * The backend, the destination "ztunnel", the source's HBONE pool, the waypoint process and the
 * three clients (direct, L4, through the waypoint), shared with waypoint-floor.bench.mjs; `close()`
 * ends them all. `undefined` when the golden config is missing.
 */
export async function startPaths({ quick = false } = {}) {
  ({ asByteStream } = await import('@mesh/waypoint/testing'));
  const golden = goldenWaypointConfig('waypoint-echo');
  if (!golden) return undefined;
  // Per round; the three paths take turns, round after round, so load from elsewhere on the
  // machine hits each alike.
  const rounds = quick ? 2 : 4;
  const sizes = { warmup: quick ? 50 : 125, sequential: quick ? 250 : 750, total: quick ? 1000 : 5000, concurrency: 32 };

  const ca = createTestCa();
  const backend = createServer((_req, res) => res.end('ok'));
  await new Promise((r) => backend.listen(0, '127.0.0.1', r));
  const backendAddr = `127.0.0.1:${backend.address().port}`;
  const backendCert = ca.issue(BACKEND);
  const ztunnel = new HboneServer({
    trustDomain: 'cluster.local',
    credentialsFor: () => ({ keyPem: backendCert.keyPem, certChainPem: backendCert.chainPem, rootCertPem: ca.rootPem }),
    onTunnel: (t) => void forwardTunnel(t),
  });
  const ztunnelPort = await ztunnel.listen({ host: '127.0.0.1', port: 0 });
  const sleepCert = ca.issue(SLEEP);
  const sleepCtx = createHboneSecureContext({ keyPem: sleepCert.keyPem, certChainPem: sleepCert.chainPem, rootCertPem: ca.rootPem });
  const pool = new HbonePool({ trustDomain: 'cluster.local', secureContextFor: () => sleepCtx });

  const ads = await FakeAdsServer.start();
  const r = loopbackWaypointResources(golden, { tunnelPort: ztunnelPort, identity: BACKEND, endpoints: { [ECHO]: [backendAddr], [V1]: [backendAddr], [V2]: [backendAddr] } });
  ads.setResources(TYPE_URL.CLUSTER, '1', r.clusters);
  ads.setResources(TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, '1', r.endpoints);
  ads.setResources(TYPE_URL.LISTENER, '1', r.listeners);
  ads.setResources(TYPE_URL.ROUTE_CONFIGURATION, '1', r.routes);

  const child = fork(fileURLToPath(new URL('./waypoint-process.mjs', import.meta.url)), [], { execArgv: process.env.BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/wprof'] : process.env.BENCH_DEBUG ? ['--trace-warnings'] : [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const messages = [];
  const waiters = [];
  child.on('message', (msg) => {
    if (msg.kind === 'sign') {
      const issued = ca.ca.issueWorkloadCert({ csrPem: msg.csrPem, identity: parseSpiffeUri(msg.identity) });
      child.send({ kind: 'signed', id: msg.id, chain: [issued.certPem, ca.rootPem] });
      return;
    }
    const w = waiters.findIndex((x) => x.kind === msg.kind);
    if (w >= 0) waiters.splice(w, 1)[0].resolve(msg);
    else messages.push(msg);
  });
  const ask = (kind, payload = {}) =>
    new Promise((resolve) => {
      waiters.push({ kind: kind === 'start' ? 'ready' : kind, resolve });
      child.send({ kind, ...payload });
    });
  const close = async () => {
    child.kill();
    pool.destroy();
    ztunnel.destroy();
    backend.close();
    await ads.close();
  };
  try {
    const { port: waypointPort } = await ask('start', { xds: ads.target });
    if (process.env.BENCH_DEBUG) console.error("waypoint ready", waypointPort);

    const direct = new Agent({ keepAlive: true, maxSockets: sizes.concurrency, timeout: 4_000 });
    direct.createConnection = (_o, done) => {
      import('node:net').then(({ connect }) => {
        const s = connect(Number(backendAddr.split(':')[1]), '127.0.0.1');
        s.setNoDelay(true);
        s.once('connect', () => done(null, s));
        s.once('error', done);
      });
      return undefined;
    };
    const l4 = tunnelAgent(
      () => pool.open({ sourceIdentity: SLEEP, destination: `127.0.0.1:${ztunnelPort}`, expectedIdentities: [BACKEND], authority: backendAddr }),
      sizes.concurrency,
    );
    const viaWaypoint = tunnelAgent(
      () => openTunnel({ pool, sourceIdentity: SLEEP, waypoint: `127.0.0.1:${waypointPort}`, waypointIdentity: WAYPOINT, authority: '10.77.100.20:80' }),
      sizes.concurrency,
    );
    /** The waypoint process's CPU time so far, ms. */
    const waypointCpuMs = async () => {
      const { cpu } = await ask('cpu');
      return (cpu.user + cpu.system) / 1000;
    };
    return { sizes, rounds, ca, pool, ztunnelPort, backendAddr, agents: { direct, l4, viaWaypoint }, waypointCpuMs, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** `measure`, and the CPU (ms) it took the proxy process (`proxyCpuMs`: its total so far) and this one. */
export async function measureCpu(agent, sizes, into, proxyCpuMs) {
  const before = await proxyCpuMs();
  const benchBefore = process.cpuUsage();
  await measure(agent, sizes, into);
  const bench = process.cpuUsage(benchBefore);
  return { proxyMs: (await proxyCpuMs()) - before, benchMs: (bench.user + bench.system) / 1000 };
}

export const accumulator = () => ({ samples: [], seconds: 0, requests: 0 });

export async function run({ quick = false } = {}) {
  const paths = await startPaths({ quick });
  if (!paths) return [{ name: 'skipped', value: 0, unit: '-', note: "istiod-lite's golden waypoint-echo.json is missing" }];
  const { sizes, rounds, agents: { direct, l4, viaWaypoint }, waypointCpuMs } = paths;
  const { results, record } = createRecorder();
  try {
    const runs = { direct: accumulator(), l4: accumulator(), waypoint: accumulator() };
    let cpuMs = 0;
    // The client, both tunnel ends other than the waypoint's, and the backend run in this
    // process: its CPU over the waypoint rounds says whether the waypoint or the load generator
    // bounds `waypoint: requests/s` on a 2-core machine.
    let benchCpuMs = 0;
    for (let round = 0; round < rounds; round++) {
      if (process.env.BENCH_DEBUG) console.error('round', round);
      await measure(direct, sizes, runs.direct);
      await measure(l4, sizes, runs.l4);
      const used = await measureCpu(viaWaypoint, sizes, runs.waypoint, waypointCpuMs);
      cpuMs += used.proxyMs;
      benchCpuMs += used.benchMs;
    }
    const [d, m, w] = [runs.direct, runs.l4, runs.waypoint].map(summary);
    const requests = rounds * (sizes.warmup + sizes.sequential + sizes.total);
    record('direct: requests/s', d.rps, 'req/s', { note: `${sizes.concurrency} keep-alive clients` });
    record('L4 mesh (HBONE): requests/s', m.rps, 'req/s', { baseline: d.rps });
    record('waypoint: requests/s', w.rps, 'req/s', { baseline: d.rps, target: { ratio: true, min: 0.5 }, note: 'HBONE in, route + RBAC + metrics + access log, HBONE out' });
    record('direct: p50', d.p50, 'ms', { note: 'one request at a time' });
    record('direct: p99', d.p99, 'ms');
    record('L4 mesh (HBONE): p50', m.p50, 'ms', { baseline: d.p50 });
    record('L4 mesh (HBONE): p99', m.p99, 'ms', { baseline: d.p99 });
    record('waypoint: p50', w.p50, 'ms', { baseline: d.p50 });
    record('waypoint: p99', w.p99, 'ms', { baseline: d.p99 });
    record('waypoint CPU per 1,000 requests', (cpuMs / requests) * 1000, 'ms', { target: { max: 200 }, note: `${requests} requests; the waypoint process only` });
    record('bench process CPU per 1,000 waypoint requests', (benchCpuMs / requests) * 1000, 'ms', { note: 'client, source and destination tunnel ends, backend: the load generator of the waypoint rounds' });
    for (const a of [direct, l4, viaWaypoint]) a.destroy();
  } finally {
    await paths.close();
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(await run({ quick: process.argv.includes('--quick') }));
  process.exit(0);
}
