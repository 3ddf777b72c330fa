/**
 * The waypoint with real sockets on loopback: a fake control plane serves istiod-lite's golden
 * waypoint config (endpoints pointed at local servers behind a fake destination ztunnel), a test
 * CA signs the waypoint's certificate, and an HBONE client plays the source ztunnel (CONNECT with
 * `:authority` = the echo VIP:port). Covers the request path end to end without namespaces; the
 * root-only e2e (e2e/waypoint.test.ts) repeats the important cases in the real mesh.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createH2Server, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { HbonePool, HboneServer, forwardTunnel } from '@mesh/hbone-core';
import { startEchoServer, type EchoServer } from '@mesh/hbone-core/testing';
import { createTestCa } from '@mesh/pki/testing';
import { TYPE_URL } from '@mesh/xds';
import { FakeAdsServer } from '@mesh/xds/testing';
import { eventually, waitFor } from '@mesh/testing';
import { createHboneSecureContext } from '@mesh/hbone-core';
import { createMemoryProxyLogger as createMemoryLogger } from '@mesh/log';
import { Waypoint, parseConfig } from '../src/index.js';
import { caSignerFor, goldenWaypointConfig, h2cThroughWaypoint, httpThroughWaypoint, loopbackWaypointResources, openTunnel, type WaypointClient } from '../src/testing/index.js';

const golden = goldenWaypointConfig('waypoint-echo-policy');
const ECHO = 'inbound-vip|80|http|echo.echo.svc.cluster.local';
const V1 = 'inbound-vip|80|http|echo-v1.echo.svc.cluster.local';
const V2 = 'inbound-vip|80|http|echo-v2.echo.svc.cluster.local';
const WAYPOINT_ID = 'spiffe://cluster.local/ns/echo/sa/waypoint';
const BACKEND_ID = 'spiffe://cluster.local/ns/echo/sa/echo';
const SLEEP_ID = 'spiffe://cluster.local/ns/default/sa/sleep';
/** The slow backends answer this late: far past the route and per-try timeouts under test. */
const SLOW_BACKEND_MS = 10_000;

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ca = createTestCa();
let ads: FakeAdsServer;
let waypoint: Waypoint;
let fakeZtunnel: HboneServer;
let pool: HbonePool;
let client: WaypointClient;
let echo: EchoServer;
const servers: Server[] = [];
const logger = createMemoryLogger();
let flakyCalls = 0;
const seenHeaders: Obj[] = [];
/** echo-v2's keep-alive timeout: it ends idle connections after this. */
const V2_KEEP_ALIVE_MS = 300;
/** Request bodies as echo-v2 received them. */
const v2Bodies: string[] = [];

async function httpServer(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

let v1 = '';
let v2 = '';
let flaky = '';
let slow = '';
let h2c = '';
let websocket = '';
let slowOnce = '';
const slowOnceSeen = new Set<string>();
const mirrored: IncomingHttpHeaders[] = [];
let h2Server: Http2Server | undefined;

let versions = 0;
function publish(
  endpoints: Record<string, string[]>,
  mutateRoutes?: (routes: Obj[]) => void,
  version = `v${++versions}`,
  mutateClusters?: (clusters: Obj[]) => void,
  mutateListeners?: (listeners: Obj[]) => void,
): string {
  const r = loopbackWaypointResources(golden!, {
    tunnelPort: fakeZtunnelPort,
    identity: BACKEND_ID,
    endpoints,
    ...(mutateRoutes ? { mutateRoutes } : {}),
    ...(mutateClusters ? { mutateClusters } : {}),
    ...(mutateListeners ? { mutateListeners } : {}),
  });
  ads.setResources(TYPE_URL.CLUSTER, version, r.clusters);
  ads.setResources(TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, version, r.endpoints);
  ads.setResources(TYPE_URL.LISTENER, version, r.listeners);
  ads.setResources(TYPE_URL.ROUTE_CONFIGURATION, version, r.routes);
  return version;
}

const PUBLISHED_TYPES = [TYPE_URL.CLUSTER, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, TYPE_URL.LISTENER, TYPE_URL.ROUTE_CONFIGURATION];

/** Publishes and waits until the waypoint ACKed this version of every type (it applies a config as it ACKs). */
async function publishAndWait(
  endpoints: Record<string, string[]>,
  mutateRoutes?: (routes: Obj[]) => void,
  mutateClusters?: (clusters: Obj[]) => void,
  mutateListeners?: (listeners: Obj[]) => void,
): Promise<void> {
  const version = publish(endpoints, mutateRoutes, undefined, mutateClusters, mutateListeners);
  await waitFor(() => PUBLISHED_TYPES.every((type) => ads.acked(type, version)), { what: `the waypoint to ACK config ${version}`, lastSeen: () => ads.requests.slice(-4) });
}

/** publishAndWait for the rest of the current test: the base config is published back (and ACKed) when it ends. */
async function publishForTest(
  endpoints: Record<string, string[]>,
  mutateRoutes?: (routes: Obj[]) => void,
  mutateClusters?: (clusters: Obj[]) => void,
  mutateListeners?: (listeners: Obj[]) => void,
): Promise<void> {
  onTestFinished(() => publishAndWait(baseEndpoints()));
  await publishAndWait(endpoints, mutateRoutes, mutateClusters, mutateListeners);
}

const baseEndpoints = () => ({ [ECHO]: [`127.0.0.1:${echo.port}`], [V1]: [v1], [V2]: [v2] });
const accessLog = (predicate: (e: Obj) => boolean) =>
  waitFor(() => logger.entries.find((e) => e.scope === 'access' && predicate(e)), { what: 'an access log line', lastSeen: () => logger.entries.slice(-5) });

/** A route of the echo service, placed first, for path prefix `prefix`. */
function firstRoute(route: Obj): (routes: Obj[]) => void {
  return (routes) => routes.find((r) => r.name === ECHO)!.virtual_hosts[0].routes.unshift(route);
}
let fakeZtunnelPort = 0;

/** The route `echo.echo.1.0` (the 90/10 split) of the echo service. */
function splitRoute(routes: Obj[]): Obj {
  return routes.find((r) => r.name === ECHO)!.virtual_hosts[0].routes.find((x: Obj) => x.name === 'echo.echo.1.0');
}

describe.skipIf(!golden)('waypoint on loopback', () => {
  beforeAll(async () => {
    echo = await startEchoServer();
    v1 = await httpServer((req, res) => {
      seenHeaders.push({ ...req.headers, ':path': req.url });
      res.end('v1');
    });
    v2 = await httpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => v2Bodies.push(Buffer.concat(chunks).toString()));
      res.end('v2');
    });
    // Closes idle keep-alive connections long before the waypoint's upstream idle timeout.
    servers.at(-1)!.keepAliveTimeout = V2_KEEP_ALIVE_MS;
    flaky = await httpServer((_req, res) => {
      flakyCalls++;
      res.statusCode = flakyCalls % 3 === 0 ? 200 : 503;
      res.end(res.statusCode === 200 ? 'finally' : 'unavailable');
    });
    slow = await httpServer((_req, res) => void setTimeout(() => res.end('late'), SLOW_BACKEND_MS).unref());
    // The first request of each ?key= waits SLOW_BACKEND_MS; later ones answer at once (per-try timeouts).
    slowOnce = await httpServer((req, res) => {
      const key = new URL(req.url ?? '/', 'http://x').searchParams.get('key') ?? '';
      const first = !slowOnceSeen.has(key);
      slowOnceSeen.add(key);
      setTimeout(() => res.end(first ? 'slow' : 'quick'), first ? SLOW_BACKEND_MS : 0).unref();
    });
    h2Server = createH2Server((req, res) => res.end(`h2c ${req.httpVersion} ${req.headers[':authority']}`));
    await new Promise<void>((resolve) => h2Server!.listen(0, '127.0.0.1', resolve));
    h2c = `127.0.0.1:${(h2Server.address() as AddressInfo).port}`;
    const ws = createServer((_req, res) => res.end('not an upgrade'));
    ws.on('upgrade', (req, socket) => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nx-seen-path: ${req.url}\r\n\r\n`);
      socket.pipe(socket);
    });
    servers.push(ws);
    await new Promise<void>((resolve) => ws.listen(0, '127.0.0.1', resolve));
    websocket = `127.0.0.1:${(ws.address() as AddressInfo).port}`;
    const backend = ca.issue(BACKEND_ID);
    const backendCreds = { keyPem: backend.keyPem, certChainPem: backend.chainPem, rootCertPem: ca.rootPem };
    fakeZtunnel = new HboneServer({ trustDomain: 'cluster.local', credentialsFor: () => backendCreds, onTunnel: (t) => void forwardTunnel(t) });
    fakeZtunnelPort = await fakeZtunnel.listen({ host: '127.0.0.1', port: 0 });

    ads = await FakeAdsServer.start();
    publish(baseEndpoints());
    const { config } = parseConfig(
      ['--node-name', 'node-b', '--pod-name', 'waypoint-0', '--namespace', 'echo', '--xds-address', ads.target, '--listen-address', '127.0.0.1', '--hbone-port', '0', '--admin-port', '0', '--readiness-port', '0', '--metrics-port', '0'],
      {},
    ) as { config: Parameters<typeof Waypoint.start>[0]['config'] };
    waypoint = await Waypoint.start({ config, logger, sign: caSignerFor(ca) });
    const port = await waypoint.listening();
    await waitFor(() => waypoint.ready, { what: 'the waypoint ready' });

    const sleepCert = ca.issue(SLEEP_ID);
    const ctx = createHboneSecureContext({ keyPem: sleepCert.keyPem, certChainPem: sleepCert.chainPem, rootCertPem: ca.rootPem });
    pool = new HbonePool({ trustDomain: 'cluster.local', secureContextFor: () => ctx });
    client = { pool, sourceIdentity: SLEEP_ID, waypoint: `127.0.0.1:${port}`, waypointIdentity: WAYPOINT_ID, authority: '10.77.100.20:80' };
  });

  afterAll(async () => {
    pool?.destroy();
    waypoint?.destroy();
    fakeZtunnel?.destroy();
    await ads?.close();
    await echo?.close();
    for (const s of servers) s.closeAllConnections(), s.close();
    h2Server?.close();
  });

  it('routes x-version: v2 to echo-v2 (header match)', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => httpThroughWaypoint(client, '/', { headers: { 'x-version': 'v2' } })));

    expect(new Set(answers.map((a) => `${a.status} ${a.body}`))).toEqual(new Set(['200 v2']));
  });

  it('forwards request bodies whole: with Content-Length, chunked, and none', async () => {
    const v2 = { 'x-version': 'v2' };
    const big = 'b'.repeat(300_000);
    const sent = [
      await httpThroughWaypoint(client, '/body', { method: 'POST', headers: v2, body: 'hello' }),
      await httpThroughWaypoint(client, '/body', { method: 'POST', headers: { ...v2, 'transfer-encoding': 'chunked' }, body: big }),
      await httpThroughWaypoint(client, '/body', { headers: v2 }),
    ];
    expect(sent.map((a) => `${a.status} ${a.body}`)).toEqual(['200 v2', '200 v2', '200 v2']);
    expect(v2Bodies.slice(-3).map((b) => (b.length > 20 ? `${b.length} × ${b[0]}` : b))).toEqual(['hello', `${big.length} × b`, '']);
  });

  it('a backend that ended an idle keep-alive connection gets the next request on a new one', async () => {
    const v2 = { 'x-version': 'v2' };
    expect((await httpThroughWaypoint(client, '/keepalive', { headers: v2 })).body).toBe('v2');
    await new Promise((resolve) => setTimeout(resolve, V2_KEEP_ALIVE_MS * 3));
    const started = performance.now();
    const again = await httpThroughWaypoint(client, '/keepalive', { headers: v2 });
    expect(`${again.status} ${again.body}`).toBe('200 v2');
    // Not after a route timeout or a retry: the closed connection was not used.
    const lines = await waitFor(() => {
      const found = logger.entries.filter((e) => e.scope === 'access' && e['path'] === '/keepalive');
      return found.length === 2 ? found : undefined;
    }, { what: 'both access log lines' });
    expect(lines.map((e) => e['attempts'])).toEqual([1, 1]);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('splits the rest 90/10 between echo-v1 and echo-v2', async () => {
    const counts: Record<string, number> = {};
    for (let batch = 0; batch < 10; batch++) {
      const answers = await Promise.all(Array.from({ length: 100 }, () => httpThroughWaypoint(client, '/split')));
      for (const a of answers) counts[a.body] = (counts[a.body] ?? 0) + 1;
    }
    expect((counts.v1 ?? 0) + (counts.v2 ?? 0)).toBe(1000);
    expect(counts.v2! / 1000).toBeGreaterThan(0.06);
    expect(counts.v2! / 1000).toBeLessThan(0.14);
  });

  it('serves HTTP/2 prior knowledge inside the tunnel', async () => {
    const a = await h2cThroughWaypoint(client, '/', { 'x-version': 'v2' });
    expect(a).toMatchObject({ status: 200, body: 'v2' });
  });

  it('denies /admin with 403 and names the policy in the access log; other paths pass', async () => {
    const denied = await httpThroughWaypoint(client, '/admin/users');
    expect(denied.status).toBe(403);
    const line = await accessLog((e) => e.path === '/admin/users');
    expect(line).toMatchObject({ response_code: 403, response_flags: 'RBAC', rbac_policy: 'ns[echo]-policy[deny-admin]-rule[0]', 'src.identity': SLEEP_ID });
    expect((await httpThroughWaypoint(client, '/administrator', { headers: { 'x-version': 'v2' } })).status).toBe(200);
  });

  it('denies methods the ALLOW policy does not list', async () => {
    expect((await httpThroughWaypoint(client, '/', { method: 'DELETE', headers: { 'x-version': 'v2' } })).status).toBe(403);
  });

  const readAll = async (tunnel: Awaited<ReturnType<typeof openTunnel>>) => {
    const chunks: Buffer[] = [];
    try {
      for await (const c of tunnel) chunks.push(c as Buffer);
    } catch {
      // a refused TCP connection is reset
    }
    return Buffer.concat(chunks).toString();
  };

  it('refuses non-HTTP traffic the policies cover: a DENY with only HTTP attributes denies all TCP (Istio), naming the policy', async () => {
    const tunnel = await openTunnel(client);
    tunnel.end('HELLO raw tcp\n');
    expect(await readAll(tunnel)).toBe('');
    const refused = await accessLog((e) => e.protocol === 'tcp' && e.response_flags === 'RBAC');
    expect(refused).toMatchObject({ rbac_policy: 'ns[echo]-policy[deny-admin]-rule[0]', 'src.identity': SLEEP_ID, chain: 'inbound-vip|80|tcp|echo.echo.svc.cluster.local' });
  });

  it('passes non-HTTP bytes through as TCP to the service when no policy covers them', async () => {
    const TCP_CHAIN = 'inbound-vip|80|tcp|echo.echo.svc.cluster.local';
    const withoutTcpRbac = (listeners: Obj[]) => {
      for (const chain of listeners.find((l) => l.name === 'main_internal')?.filter_chains ?? []) chain.filters = chain.filters.filter((f: Obj) => f.name !== 'envoy.filters.network.rbac');
    };
    await publishForTest(baseEndpoints(), undefined, undefined, withoutTcpRbac);
    const chain = waypoint.store.model.listeners?.chains.get(TCP_CHAIN);
    expect(chain?.kind === 'tcp' && chain.rbac.length).toBe(0);
    const tunnel = await openTunnel(client);
    tunnel.end('HELLO raw tcp\n');
    expect(await readAll(tunnel)).toBe('HELLO raw tcp\n');
  });

  it('adds x-request-id and forwards to the backend with the attempt count', async () => {
    seenHeaders.length = 0;
    await publishForTest({ [ECHO]: [`127.0.0.1:${echo.port}`], [V1]: [v1], [V2]: [v1] });
    await httpThroughWaypoint(client, '/h');
    expect(seenHeaders[0]).toMatchObject({ 'x-envoy-attempt-count': '1', 'x-forwarded-proto': 'http', host: '10.77.100.20:80', ':path': '/h' });
    expect(seenHeaders[0]?.['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('retries turn a flaky backend’s 503s into 200s', async () => {
    await publishForTest({ [ECHO]: [`127.0.0.1:${echo.port}`], [V1]: [flaky], [V2]: [flaky] });
    flakyCalls = 0;
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await httpThroughWaypoint(client, '/flaky'));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(flakyCalls).toBe(30);
  });

  it('a slow backend past the route timeout answers 504', async () => {
    await publishForTest({ [ECHO]: [`127.0.0.1:${echo.port}`], [V1]: [slow], [V2]: [slow] }, (routes) => (splitRoute(routes).route.timeout = '0.3s'));
    const started = performance.now();
    const a = await httpThroughWaypoint(client, '/slow');
    expect(a.status).toBe(504);
    // The waypoint gave up, not the backend answering late.
    expect(performance.now() - started).toBeLessThan(SLOW_BACKEND_MS / 2);
    expect(await accessLog((e) => e.path === '/slow')).toMatchObject({ response_code: 504, response_flags: 'UT' });
  });

  it('reports istio_requests_total and the duration histogram', async () => {
    const metrics = async () => (await fetch(`http://127.0.0.1:${waypoint.adminPort}/stats/prometheus`)).text();
    const denied = /istio_requests_total\{reporter="waypoint",source_workload="sleep",source_principal="spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep",destination_workload="[^"]+",destination_service="echo.echo.svc.cluster.local",response_code="403",response_flags="RBAC"\} (\d+)/;
    const deniedCount = async () => Number(denied.exec(await metrics())?.[1] ?? 0);
    const before = await deniedCount();
    expect((await httpThroughWaypoint(client, '/admin/metrics-probe')).status).toBe(403);
    expect((await httpThroughWaypoint(client, '/', { headers: { 'x-version': 'v2' } })).status).toBe(200);
    await eventually(async () => expect(await deniedCount()).toBe(before + 1), { what: 'the 403 counted' });
    expect(await metrics()).toMatch(/istio_request_duration_milliseconds_bucket\{.*response_code="200".*le="\+Inf"\} \d+/);
  });

  it('serves /config_dump with the RDS routes it runs, and readiness', async () => {
    const dump = (await (await fetch(`http://127.0.0.1:${waypoint.adminPort}/config_dump`)).json()) as { configs: Obj[] };
    const types = dump.configs.map((c) => c['@type'] as string);
    expect(types).toContain('type.googleapis.com/envoy.admin.v3.RoutesConfigDump');
    const routes = dump.configs.find((c) => c['@type'].endsWith('RoutesConfigDump'));
    expect(JSON.stringify(routes)).toContain(ECHO);
    const secrets = dump.configs.find((c) => c['@type'].endsWith('SecretsConfigDump'));
    expect(JSON.stringify(secrets)).toContain(WAYPOINT_ID);
    expect(JSON.stringify(secrets)).not.toContain('PRIVATE KEY');
    expect((await fetch(`http://127.0.0.1:${waypoint.readinessPort}/healthz/ready`)).status).toBe(200);
  });

  it('shows and changes its log levels per scope at /logging, as ztunnel does', async () => {
    const url = `http://127.0.0.1:${waypoint.adminPort}/logging`;
    expect(await (await fetch(url)).json()).toMatchObject({ levels: { access: 'debug', rbac: 'debug' } });
    expect(await (await fetch(`${url}?rbac=warn`, { method: 'POST' })).json()).toMatchObject({ levels: { access: 'debug', rbac: 'warn' } });
    expect((await fetch(`${url}?upstream=debug`, { method: 'POST' })).status).toBe(400); // not a scope of ours
    await fetch(`${url}?rbac=debug`, { method: 'POST' });
  });

  it('readiness and metrics are read-only: no config, certificate or listing there', async () => {
    expect(await (await fetch(`http://127.0.0.1:${waypoint.metricsPort}/metrics`)).text()).toContain('istio_requests_total');
    for (const port of [waypoint.readinessPort, waypoint.metricsPort]) {
      for (const path of ['/', '/config_dump', '/config_dump?include_eds', '/certs', '/x']) {
        const res = await fetch(`http://127.0.0.1:${port}${path}`);
        expect(res.status, `${port}${path}`).toBe(404);
        expect(await res.text()).not.toMatch(/config_dump|certs|BEGIN CERTIFICATE/);
      }
      expect((await fetch(`http://127.0.0.1:${port}/healthz/ready`, { method: 'POST' })).status).toBe(405);
    }
  });

  it('NACKs a route configuration it cannot run and keeps serving the last good one', async () => {
    const before = ads.nacks.length;
    onTestFinished(() => publishAndWait(baseEndpoints()));
    publish(baseEndpoints(), (routes) => (splitRoute(routes).route.idle_timeout = '5s'), 'bad');
    await waitFor(() => ads.nacks.slice(before).some((r) => r.type_url === TYPE_URL.ROUTE_CONFIGURATION), { what: 'the RDS NACK' });
    const nack = ads.nacks.slice(before).find((r) => r.type_url === TYPE_URL.ROUTE_CONFIGURATION);
    expect(nack?.message).toContain('idle_timeout');
    expect((await httpThroughWaypoint(client, '/', { headers: { 'x-version': 'v2' } })).status).toBe(200);
  });

  it('RequestRedirect: the waypoint answers with the Location, no backend is called', async () => {
    await publishForTest({ [ECHO]: [`127.0.0.1:${echo.port}`], [V1]: [v1], [V2]: [v2] }, firstRoute({
      name: 'redirect',
      match: { path_separated_prefix: '/old', headers: [{ name: 'x-version', string_match: { exact: 'v2' } }] },
      redirect: { host_redirect: 'example.org', port_redirect: 8083, regex_rewrite: { pattern: { regex: '^/old(/.*)?$' }, substitution: '/new\\1' }, response_code: 'SEE_OTHER' },
    }));
    const a = await httpThroughWaypoint(client, '/old/page?q=1', { headers: { 'x-version': 'v2' } });
    expect(a).toMatchObject({ status: 303, headers: { location: 'http://example.org:8083/new/page?q=1' } });
  });

  it('a backend that does not resolve gets its share of requests as 500 (NC)', async () => {
    await publishForTest({ [ECHO]: [`127.0.0.1:${echo.port}`], [V1]: [v1], [V2]: [v2] }, firstRoute({
      name: 'invalid',
      match: { prefix: '/invalid', headers: [{ name: 'x-version', string_match: { exact: 'v2' } }] },
      route: { cluster: 'unresolved|RefNotPermitted|Service/other/web:80', cluster_not_found_response_code: 'INTERNAL_SERVER_ERROR', timeout: '0s' },
    }));
    expect((await httpThroughWaypoint(client, '/invalid', { headers: { 'x-version': 'v2' } })).status).toBe(500);
    expect(await accessLog((e) => e.path === '/invalid')).toMatchObject({ response_code: 500, response_flags: 'NC' });
  });

  it('RequestMirror: the mirror backend gets a copy (Host with -shadow), the client the real answer', async () => {
    const mirror = await httpServer((req, res) => {
      mirrored.push({ ...req.headers, ':path': req.url ?? '' });
      res.end('mirror');
    });
    await publishForTest({ [ECHO]: [`127.0.0.1:${echo.port}`], [V1]: [v1], [V2]: [mirror] }, firstRoute({
      name: 'mirrored',
      match: { prefix: '/mirrored', headers: [{ name: 'x-version', string_match: { exact: 'v2' } }] },
      route: { cluster: V1, timeout: '0s', request_mirror_policies: [{ cluster: V2 }] },
    }));
    const a = await httpThroughWaypoint(client, '/mirrored', { headers: { 'x-version': 'v2' } });
    expect(a).toMatchObject({ status: 200, body: 'v1' });
    await waitFor(() => mirrored.length > 0, { what: 'the mirrored request' });
    expect(mirrored[0]).toMatchObject({ ':path': '/mirrored', host: '10.77.100.20:80-shadow' });
  });

  it('per-cluster request headers reach the backend', async () => {
    seenHeaders.length = 0;
    await publishForTest({ [ECHO]: [`127.0.0.1:${echo.port}`], [V1]: [v1], [V2]: [v2] }, firstRoute({
      name: 'per-cluster',
      match: { prefix: '/per-cluster', headers: [{ name: 'x-version', string_match: { exact: 'v2' } }] },
      route: { weighted_clusters: { clusters: [{ name: V1, weight: 1, request_headers_to_add: [{ header: { key: 'x-backend', value: 'v1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] }] } },
    }));
    await httpThroughWaypoint(client, '/per-cluster', { headers: { 'x-version': 'v2' } });
    expect(seenHeaders[0]).toMatchObject({ 'x-backend': 'v1' });
  });

  it('an HTTP/2 cluster (h2c backend) is spoken to in HTTP/2 inside the tunnel', async () => {
    await publishForTest(
      { [ECHO]: [`127.0.0.1:${echo.port}`], [V1]: [v1], [V2]: [h2c] },
      undefined,
      (clusters) => {
        clusters.find((c) => c.name === V2)!.typed_extension_protocol_options = {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } },
        };
      },
    );
    const answers = await Promise.all([1, 2, 3].map(() => httpThroughWaypoint(client, '/h2c', { headers: { 'x-version': 'v2' } })));
    expect(answers.map((a) => `${a.status} ${a.body}`)).toEqual(Array(3).fill('200 h2c 2.0 10.77.100.20:80'));
  });

  it('a WebSocket upgrade is relayed byte for byte once the backend switches protocols', async () => {
    await publishForTest({ [ECHO]: [`127.0.0.1:${echo.port}`], [V1]: [v1], [V2]: [websocket] });
    const tunnel = await openTunnel(client);
    tunnel.write('GET /ws HTTP/1.1\r\nhost: echo\r\nx-version: v2\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    let text = '';
    tunnel.on('data', (c: Buffer) => (text += c.toString('latin1')));
    await waitFor(() => text.includes('\r\n\r\n'), { what: 'the 101', lastSeen: () => text });
    expect(text).toMatch(/^HTTP\/1\.1 101 /);
    expect(text).toContain('x-seen-path: /ws');
    tunnel.write('frames both ways');
    await waitFor(() => text.endsWith('frames both ways'), { what: 'the echoed bytes', lastSeen: () => text });
    tunnel.destroy();
    expect(await accessLog((e) => e.protocol === 'websocket')).toMatchObject({ response_code: 101, path: '/ws' });
  });

  it('a per-try timeout ends a slow attempt and the retry answers (Envoy: retried under gateway-error)', async () => {
    await publishForTest({ [ECHO]: [`127.0.0.1:${echo.port}`], [V1]: [slowOnce], [V2]: [slowOnce] }, firstRoute({
      name: 'per-try',
      match: { prefix: '/per-try', headers: [{ name: 'x-version', string_match: { exact: 'v2' } }] },
      route: { cluster: V2, timeout: '0s', retry_policy: { retry_on: 'connect-failure,gateway-error', num_retries: 2, per_try_timeout: '1s' } },
    }));
    const started = performance.now();
    const a = await httpThroughWaypoint(client, '/per-try?key=a', { headers: { 'x-version': 'v2' } });
    expect(a).toMatchObject({ status: 200, body: 'quick' });
    // The retry answered, not the slow first attempt.
    expect(performance.now() - started).toBeLessThan(SLOW_BACKEND_MS / 2);
    expect(await accessLog((e) => e.path === '/per-try?key=a')).toMatchObject({ attempts: 2 });
  });
});

