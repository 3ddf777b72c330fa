import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TYPE_URL } from '@mesh/xds';
import { createAdminHandler, listenHttp, portOf } from '../src/admin/admin-server.js';
import { createMemoryLogger } from '../src/log.js';
import { buildFakeResources } from '../src/testing/mesh-resources.js';
import { BOOKINFO } from '../src/testing/bookinfo.js';
import { Ztunnel } from '../src/ztunnel.js';
import { ztunnelNode } from '../src/xds/xds.js';

let server: Server;
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
  server = await listenHttp(createAdminHandler({ ztunnel, logger, node: ztunnelNode('node-a'), startedAt: new Date() }), '127.0.0.1', 0);
  base = `http://127.0.0.1:${portOf(server)}`;
});

afterAll(() => {
  server.close();
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
});
