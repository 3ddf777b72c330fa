/**
 * The waypoint with real sockets on loopback: a fake control plane serves istiod-lite's golden
 * waypoint config (endpoints pointed at local servers behind a fake destination ztunnel), a test
 * CA signs the waypoint's certificate, and an HBONE client plays the source ztunnel (CONNECT with
 * `:authority` = the echo VIP:port). Covers the request path end to end without namespaces; the
 * root-only e2e (e2e/waypoint.test.ts) repeats the important cases in the real mesh.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HbonePool, HboneServer, forwardTunnel } from '@mesh/hbone-core';
import { startEchoServer, type EchoServer } from '@mesh/hbone-core/testing';
import { createTestCa } from '@mesh/pki/testing';
import { TYPE_URL } from '@mesh/xds';
import { FakeAdsServer, until } from '@mesh/xds/testing';
import { createHboneSecureContext } from '@mesh/hbone-core';
import { Waypoint, createMemoryLogger, parseConfig } from '../src/index.js';
import { caSignerFor, goldenWaypointConfig, h2cThroughWaypoint, httpThroughWaypoint, loopbackWaypointResources, openTunnel, type WaypointClient } from '../src/testing/index.js';

const golden = goldenWaypointConfig('waypoint-echo-policy');
const ECHO = 'inbound-vip|80|http|echo.echo.svc.cluster.local';
const V1 = 'inbound-vip|80|http|echo-v1.echo.svc.cluster.local';
const V2 = 'inbound-vip|80|http|echo-v2.echo.svc.cluster.local';
const WAYPOINT_ID = 'spiffe://cluster.local/ns/echo/sa/waypoint';
const BACKEND_ID = 'spiffe://cluster.local/ns/echo/sa/echo';
const SLEEP_ID = 'spiffe://cluster.local/ns/default/sa/sleep';

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

function publish(endpoints: Record<string, string[]>, mutateRoutes?: (routes: Obj[]) => void, version = String(Date.now())): void {
  const r = loopbackWaypointResources(golden!, { tunnelPort: fakeZtunnelPort, identity: BACKEND_ID, endpoints, ...(mutateRoutes ? { mutateRoutes } : {}) });
  ads.setResources(TYPE_URL.CLUSTER, version, r.clusters);
  ads.setResources(TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, version, r.endpoints);
  ads.setResources(TYPE_URL.LISTENER, version, r.listeners);
  ads.setResources(TYPE_URL.ROUTE_CONFIGURATION, version, r.routes);
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
    v2 = await httpServer((_req, res) => res.end('v2'));
    flaky = await httpServer((_req, res) => {
      flakyCalls++;
      res.statusCode = flakyCalls % 3 === 0 ? 200 : 503;
      res.end(res.statusCode === 200 ? 'finally' : 'unavailable');
    });
    slow = await httpServer((_req, res) => void setTimeout(() => res.end('late'), 1500));
    const backend = ca.issue(BACKEND_ID);
    const backendCreds = { keyPem: backend.keyPem, certChainPem: backend.chainPem, rootCertPem: ca.rootPem };
    fakeZtunnel = new HboneServer({ trustDomain: 'cluster.local', credentialsFor: () => backendCreds, onTunnel: (t) => void forwardTunnel(t) });
    fakeZtunnelPort = await fakeZtunnel.listen({ host: '127.0.0.1', port: 0 });

    ads = await FakeAdsServer.start();
    publish({ [ECHO]: [`127.0.0.1:${echo.port}`], [V1]: [v1], [V2]: [v2] });
    const { config } = parseConfig(
      ['--node-name', 'node-b', '--pod-name', 'waypoint-0', '--namespace', 'echo', '--xds-address', ads.target, '--listen-address', '127.0.0.1', '--hbone-port', '0', '--admin-port', '0', '--readiness-port', '0'],
      {},
    ) as { config: Parameters<typeof Waypoint.start>[0]['config'] };
    waypoint = await Waypoint.start({ config, logger, sign: caSignerFor(ca) });
    const port = await waypoint.listening();
    await until(() => waypoint.ready);

    const sleepCert = ca.issue(SLEEP_ID);
    const ctx = createHboneSecureContext({ keyPem: sleepCert.keyPem, certChainPem: sleepCert.chainPem, rootCertPem: ca.rootPem });
    pool = new HbonePool({ trustDomain: 'cluster.local', secureContextFor: () => ctx });
    client = { pool, sourceIdentity: SLEEP_ID, waypoint: `127.0.0.1:${port}`, waypointIdentity: WAYPOINT_ID, authority: '10.77.100.20:80', sourceAddress: '10.77.1.10' };
  });

  afterAll(async () => {
    pool?.destroy();
    waypoint?.destroy();
    fakeZtunnel?.destroy();
    await ads?.close();
    await echo?.close();
    for (const s of servers) s.closeAllConnections(), s.close();
  });

  it('routes x-version: v2 to echo-v2 (header match)', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => httpThroughWaypoint(client, '/', { headers: { 'x-version': 'v2' } })));

    expect(new Set(answers.map((a) => `${a.status} ${a.body}`))).toEqual(new Set(['200 v2']));
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
    const line = logger.entries.find((e) => e.scope === 'access' && e.path === '/admin/users');
    expect(line).toMatchObject({ response_code: 403, response_flags: 'RBAC', rbac_policy: 'ns[echo]-policy[deny-admin]-rule[0]', 'src.identity': SLEEP_ID });
    expect((await httpThroughWaypoint(client, '/administrator', { headers: { 'x-version': 'v2' } })).status).toBe(200);
  });

  it('denies methods the ALLOW policy does not list', async () => {
    expect((await httpThroughWaypoint(client, '/', { method: 'DELETE', headers: { 'x-version': 'v2' } })).status).toBe(403);
  });

  it('passes non-HTTP bytes through as TCP to the service', async () => {
    const tunnel = await openTunnel(client);
    tunnel.end('HELLO raw tcp\n');
    const chunks: Buffer[] = [];
    for await (const c of tunnel) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('HELLO raw tcp\n');
  });

  it('adds x-request-id and forwards to the backend with the attempt count', async () => {
    seenHeaders.length = 0;
    publish({ [ECHO]: [`127.0.0.1:${echo.port}`], [V1]: [v1], [V2]: [v1] });
    await sleep(200);
    await httpThroughWaypoint(client, '/h');
    expect(seenHeaders[0]).toMatchObject({ 'x-envoy-attempt-count': '1', 'x-forwarded-proto': 'http', host: '10.77.100.20:80', ':path': '/h' });
    expect(seenHeaders[0]?.['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('retries turn a flaky backend’s 503s into 200s', async () => {
    publish({ [ECHO]: [`127.0.0.1:${echo.port}`], [V1]: [flaky], [V2]: [flaky] });
    await sleep(200);
    flakyCalls = 0;
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await httpThroughWaypoint(client, '/flaky'));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(flakyCalls).toBe(30);
  });

  it('a slow backend past the route timeout answers 504', async () => {
    publish({ [ECHO]: [`127.0.0.1:${echo.port}`], [V1]: [slow], [V2]: [slow] }, (routes) => (splitRoute(routes).route.timeout = '0.3s'));
    await sleep(200);
    const started = performance.now();
    const a = await httpThroughWaypoint(client, '/slow');
    expect(a.status).toBe(504);
    expect(performance.now() - started).toBeLessThan(1200);
    expect(logger.entries.find((e) => e.scope === 'access' && e.path === '/slow')).toMatchObject({ response_code: 504, response_flags: 'UT' });
  });

  it('reports istio_requests_total and the duration histogram', async () => {
    const text = await (await fetch(`http://127.0.0.1:${waypoint.adminPort}/stats/prometheus`)).text();
    expect(text).toMatch(/istio_requests_total\{reporter="waypoint",source_workload="sleep",source_principal="spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep",destination_workload="[^"]+",destination_service="echo.echo.svc.cluster.local",response_code="403",response_flags="RBAC"\} 2/);
    expect(text).toMatch(/istio_request_duration_milliseconds_bucket\{.*response_code="200".*le="\+Inf"\} \d+/);
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

  it('NACKs a route configuration it cannot run and keeps serving the last good one', async () => {
    const before = ads.requests.length;
    publish({ [ECHO]: [`127.0.0.1:${echo.port}`], [V1]: [v1], [V2]: [v2] }, (routes) => (splitRoute(routes).route.idle_timeout = '5s'), 'bad');
    await until(() => ads.requests.slice(before).some((r) => r.error_detail && r.type_url === TYPE_URL.ROUTE_CONFIGURATION));
    const nack = ads.requests.slice(before).find((r) => r.error_detail && r.type_url === TYPE_URL.ROUTE_CONFIGURATION);
    expect(nack?.error_detail?.message).toContain('idle_timeout');
    expect((await httpThroughWaypoint(client, '/', { headers: { 'x-version': 'v2' } })).status).toBe(200);
  });
});


