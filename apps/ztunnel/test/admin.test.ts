import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenOperatorHttp, listenReadOnlyHttp, type OperatorHttpServer, type ReadOnlyHttpServer } from '@mesh/admin-access';
import { TYPE_URL } from '@mesh/xds';
import { ADMIN_ENDPOINTS, createAdminHandler, createMetricsHandler, createReadinessHandler } from '../src/admin/admin-server.js';
import { createMemoryProxyLogger as createMemoryLogger } from '@mesh/log';
import { buildFakeResources } from '../src/testing/mesh-resources.js';
import { BOOKINFO } from '../src/testing/bookinfo.js';
import { applyWorkloadGolden, hasIstiodGolden, readIstiodGolden, type WorkloadGolden } from '../src/testing/istiod-goldens.js';
import type { ZtunnelDump } from '@mesh/workload-api';
import { Ztunnel } from '../src/ztunnel.js';
import { ztunnelNode } from '../src/xds/xds.js';
import { offlineZtunnel } from './helpers.js';

let server: OperatorHttpServer;
let metrics: ReadOnlyHttpServer;
let readiness: ReadOnlyHttpServer;
let ztunnel: Ztunnel;
let base: string;

beforeAll(async () => {
  const logger = createMemoryLogger();
  ztunnel = new Ztunnel({
    nodeName: 'node-a',
    captureMode: 'explicit',
    listenAddress: '127.0.0.1',
    outboundPort: 0,
    inboundPlaintextPort: 0,
    hbonePort: 0,
    socks5Port: 0,
    trustDomain: 'cluster.local',
    logger,
    // Never answers: certificates stay pending, so readiness must say not ready.
    sign: () => new Promise(() => undefined),
    generateKeyAndCsr: async () => ({ keyPem: '', csrPem: '' }),
  });
  server = await listenOperatorHttp(createAdminHandler({ ztunnel, logger, node: ztunnelNode('node-a'), startedAt: new Date() }), { what: 'ztunnel admin', host: '127.0.0.1', port: 0 });
  metrics = await listenReadOnlyHttp(createMetricsHandler(ztunnel), '127.0.0.1', 0);
  readiness = await listenReadOnlyHttp(createReadinessHandler(ztunnel), '127.0.0.1', 0);
  base = `http://${server.address}`;
});

afterAll(async () => {
  await Promise.all([server.close(), metrics.close(), readiness.close()]);
  ztunnel.destroy();
});

describe('admin', () => {
  it('is not ready before config and certificates, and says why', async () => {
    const res = await fetch(`${base}/healthz/ready`);
    expect(res.status).toBe(503);
    expect(await res.text()).toMatch(/waiting for config/);
  });

  it('dumps the config in force, EDS only with include_eds, filtered by resource', async () => {
    const r = buildFakeResources(BOOKINFO, 'node-a');
    ztunnel.store.apply(TYPE_URL.CLUSTER, 'c1', r.clusters);
    ztunnel.store.apply(TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, 'e1', r.endpoints);
    ztunnel.store.apply(TYPE_URL.LISTENER, 'l1', r.listeners);
    const types = async (q: string) =>
      ((await (await fetch(`${base}/config_dump${q}`)).json()) as { configs: Array<{ '@type': string }> }).configs.map((c) => c['@type'].split('.').pop());
    expect(await types('')).not.toContain('EndpointsConfigDump');
    expect(await types('?include_eds')).toContain('EndpointsConfigDump');
    const listeners = (await (await fetch(`${base}/config_dump?resource=dynamic_listeners&name_regex=^ztunnel_`)).json()) as {
      configs: Array<{ '@type': string; name: string; active_state: { version_info: string } }>;
    };
    expect(listeners.configs.map((l) => l.name).sort()).toEqual(['ztunnel_inbound', 'ztunnel_inbound_plaintext', 'ztunnel_outbound']);
    expect(listeners.configs[0]).toMatchObject({ '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump.DynamicListener', active_state: { version_info: 'l1' } });
  });

  it('changes log levels at runtime', async () => {
    const res = await fetch(`${base}/logging?access=debug`, { method: 'POST' });
    expect(((await res.json()) as { levels: Record<string, string> }).levels['access']).toBe('debug');
    expect((await fetch(`${base}/logging?access=loud`, { method: 'POST' })).status).toBe(400);
  });

  it('serves Prometheus text and tunnels JSON', async () => {
    expect(await (await fetch(`${base}/stats/prometheus`)).text()).toContain('# TYPE istio_tcp_connections_opened_total counter');
    expect(await (await fetch(`${base}/tunnels`)).json()).toEqual({ connections: [], pool: [], server: [] });
  });

  it("serves the process's memory and V8's heap in bytes, and lists /memory", async () => {
    const res = await fetch(`${base}/memory`);
    expect(res.status).toBe(200);
    const { heap_spaces: spaces, ...memory } = (await res.json()) as Record<string, number> & { heap_spaces: Record<string, Record<string, number>> };
    expect(Object.keys(memory).sort()).toEqual(
      ['array_buffers', 'detached_contexts', 'external', 'heap_size_limit', 'heap_total', 'heap_used', 'malloced_memory', 'native_contexts', 'peak_malloced_memory', 'rss', 'total_available_size'].sort(),
    );
    for (const [field, value] of Object.entries(memory)) expect(Number.isInteger(value) && value >= 0, field).toBe(true);
    expect(Object.keys(spaces)).toEqual(expect.arrayContaining(['new_space', 'old_space']));
    for (const space of Object.values(spaces)) expect(Object.keys(space).sort()).toEqual(['physical', 'size', 'used']);
    expect(memory['heap_used']).toBeGreaterThan(0);
    expect(memory['heap_used']).toBeLessThanOrEqual(memory['heap_total']!);
    expect(memory['heap_total']).toBeLessThanOrEqual(memory['heap_size_limit']!);
    expect(memory['native_contexts']).toBeGreaterThanOrEqual(1);
    expect(((await (await fetch(`${base}/`)).json()) as { endpoints: string[] }).endpoints).toContain('/memory');
  });
});

describe('metrics (15020) and readiness (15021): read-only, nothing of the admin API', () => {
  const at = (port: number, path: string, method = 'GET') => fetch(`http://127.0.0.1:${port}${path}`, { method });

  it('metrics serves Prometheus text on /metrics and /stats/prometheus, readiness only /healthz/ready', async () => {
    expect(await (await at(metrics.port, '/metrics')).text()).toContain('# TYPE istio_tcp_connections_opened_total counter');
    expect((await at(metrics.port, '/stats/prometheus')).status).toBe(200);
    expect((await at(readiness.port, '/healthz/ready')).status).toBe(503); // not ready yet, but answered
  });

  it('every admin endpoint, the / listing and unknown paths are 404 there, and the 404 lists only that port', async () => {
    const paths = ['/', ...ADMIN_ENDPOINTS.filter((p) => !['/stats/prometheus', '/healthz/ready'].includes(p)), '/config_dump?include_eds', '/tunnels?watch=1', '/ready', '/x'];
    for (const path of paths) {
      for (const [port, own] of [[metrics.port, '/metrics'], [readiness.port, '/healthz/ready']] as const) {
        const res = await at(port, path);
        expect(res.status, `${port}${path}`).toBe(404);
        const body = await res.text();
        expect(body).toContain(own);
        expect(body).not.toMatch(/config_dump|tunnels|logging|certs|memory|heap/);
      }
    }
    expect((await at(metrics.port, '/stats/prometheus?x')).status).toBe(200);
    expect((await at(readiness.port, '/metrics')).status).toBe(404);
  });

  it('nothing changes state there: POST /logging is refused and the levels stay', async () => {
    const levels = async () => ((await (await fetch(`${base}/logging`)).json()) as { levels: Record<string, string> }).levels;
    const before = await levels();
    for (const port of [metrics.port, readiness.port]) expect((await at(port, '/logging?level=error', 'POST')).status).toBe(405);
    expect(await levels()).toEqual(before);
  });
});

describe.skipIf(!hasIstiodGolden('workload-deny'))('admin in the workload dialect', () => {
  it("dumps what it holds in Istio ztunnel's shapes: workloads, services with endpoints, policies, certificates", async () => {
    const logger = createMemoryLogger();
    const wz = offlineZtunnel('node-b', 'workload');
    const ws = await listenOperatorHttp(createAdminHandler({ ztunnel: wz, logger, node: ztunnelNode('node-b'), startedAt: new Date() }), { what: 'ztunnel admin', host: '127.0.0.1', port: 0 });
    try {
      applyWorkloadGolden(wz.store, readIstiodGolden<WorkloadGolden>('workload-deny'));
      const dump = (await (await fetch(`http://${ws.address}/config_dump`)).json()) as ZtunnelDump;
      expect(dump.workloads.find((w) => w.name === 'ratings-v1')).toMatchObject({
        uid: 'Kubernetes//Pod/default/ratings-v1',
        workloadIps: ['10.77.2.13'],
        protocol: 'HBONE',
        node: 'node-b',
        status: 'Healthy',
        serviceAccount: 'bookinfo-ratings',
        authorizationPolicies: ['default/deny-sleep'],
      });
      const reviews = dump.services.find((s) => s.name === 'reviews');
      // A named target port is 0 on the service and resolved per workload.
      expect(reviews).toMatchObject({ hostname: 'reviews.default.svc.cluster.local', vips: ['/10.77.100.11'], ports: { '9080': 0 } });
      expect(reviews?.endpoints['Kubernetes//Pod/default/reviews-v2:/10.77.2.10']).toEqual({
        workloadUid: 'Kubernetes//Pod/default/reviews-v2',
        service: 'default/reviews.default.svc.cluster.local',
        address: '/10.77.2.10',
        port: { '9080': 9080 },
      });
      expect(Object.keys(reviews?.endpoints ?? {}).sort()).toEqual([
        'Kubernetes//Pod/default/reviews-v1:/10.77.1.12',
        'Kubernetes//Pod/default/reviews-v2:/10.77.2.10',
        'Kubernetes//Pod/default/reviews-v3:/10.77.2.11',
      ]);
      expect(dump.policies).toEqual([
        { name: 'deny-sleep', namespace: 'default', scope: 'WorkloadSelector', action: 'Deny', rules: [[[{ principals: [{ Exact: 'cluster.local/ns/default/sa/sleep' }] }]]], dryRun: false },
      ]);
      expect(dump.certificates.map((c) => [c.identity, c.state])).toEqual([['spiffe://cluster.local/ns/default/sa/bookinfo-details', 'Initializing'], ['spiffe://cluster.local/ns/default/sa/bookinfo-ratings', 'Initializing'], ['spiffe://cluster.local/ns/default/sa/bookinfo-reviews', 'Initializing']]);
    } finally {
      await ws.close();
      wz.destroy();
    }
  });
});
