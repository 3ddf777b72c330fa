/**
 * `meshctl proxy-status` against a tiny HTTP server answering istiod-lite's /debug/syncz rows
 * (the shape apps/istiod-lite/src/xds/debug-views.ts writes, tested there over real ADS).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, startJsonServer, tableRows } from './helpers.js';

const servers: { close: () => Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const synced = (version: string, resources: number) => ({ status: 'SYNCED', sentVersion: version, sentNonce: 'n1', ackedVersion: version, resources });

const SYNCZ = [
  {
    proxyId: 'waypoint~10.77.2.30~waypoint-0~echo.svc.cluster.local',
    nodeName: 'node-b',
    proxyType: 'waypoint',
    ip: '10.77.2.30',
    connectedAt: '2026-12-04T21:00:00.000Z',
    istiod: 'istiod-lite',
    clusterId: 'Kubernetes',
    istioVersion: '0.1.0',
    protocol: 'delta',
    metadata: { NODE_NAME: 'node-b' },
    types: { CDS: synced('7', 3), EDS: synced('7', 3), LDS: synced('7', 2), RDS: synced('7', 1) },
  },
  {
    proxyId: 'ztunnel~10.77.0.11~ztunnel-node-a~istio-system.svc.cluster.local',
    nodeName: 'node-a',
    proxyType: 'ztunnel',
    ip: '10.77.0.11',
    connectedAt: '2026-12-04T21:00:00.000Z',
    istiod: 'istiod-lite',
    clusterId: 'Kubernetes',
    istioVersion: '0.1.0',
    protocol: 'delta',
    metadata: { NODE_NAME: 'node-a' },
    types: {
      CDS: synced('7', 12),
      EDS: synced('7', 12),
      LDS: {
        status: 'STALE',
        sentVersion: '8',
        sentNonce: 'n9',
        ackedVersion: '7',
        resources: 3,
        lastNack: { version: '8', nonce: 'n9', message: 'ztunnel_outbound: filter_chain_matcher: destination port 0 is not a port', at: '2026-12-04T21:05:00.000Z' },
        rejected: { count: 1, names: [{ name: 'ztunnel_outbound', version: '8' }] },
      },
    },
  },
  {
    proxyId: 'ztunnel~10.77.0.12~ztunnel-node-b~istio-system.svc.cluster.local',
    nodeName: 'node-b',
    proxyType: 'ztunnel',
    ip: '10.77.0.12',
    connectedAt: '2026-12-04T21:00:00.000Z',
    istiod: 'istiod-lite',
    clusterId: 'Kubernetes',
    protocol: 'sotw',
    metadata: { NODE_NAME: 'node-b' },
    types: { CDS: { status: 'NOT SENT', resources: 0 } },
  },
];

async function istiod(rows: unknown = SYNCZ) {
  const server = await startJsonServer((_req, url) => (url.pathname === '/debug/syncz' ? { body: rows } : undefined));
  servers.push(server);
  return server.address;
}

describe('meshctl proxy-status', () => {
  it("lists every connected proxy with istioctl's columns", async () => {
    const { code, stdout, stderr } = await runCli(['--istiod', await istiod(), 'proxy-status']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(tableRows(stdout)).toEqual([
      ['NAME', 'CLUSTER', 'ISTIOD', 'VERSION', 'SUBSCRIBED TYPES'],
      ['waypoint-0', 'Kubernetes', 'istiod-lite', '0.1.0', '4 (CDS,LDS,EDS,RDS)'],
      ['ztunnel-node-a', 'Kubernetes', 'istiod-lite', '0.1.0', '3 (CDS,LDS,EDS)'],
      ['ztunnel-node-b', 'Kubernetes', 'istiod-lite', '-', '1 (CDS)'],
    ]);
    // istioctl's tabwriter: five spaces after the widest cell of a column.
    expect(stdout.split('\n')[1]).toBe('waypoint-0         Kubernetes     istiod-lite     0.1.0       4 (CDS,LDS,EDS,RDS)');
  });

  it('`ps <proxy>` shows each type SYNCED / STALE / NOT SENT and the last NACK in full', async () => {
    const address = await istiod();
    const { code, stdout } = await runCli(['--istiod', address, 'ps', 'ztunnel-node-a']);
    expect(code).toBe(0);
    const table = stdout.slice(stdout.indexOf('TYPE'), stdout.indexOf('\n\n', stdout.indexOf('TYPE')));
    expect(tableRows(table)).toEqual([
      ['TYPE', 'STATUS', 'SENT VERSION', 'ACKED VERSION', 'RESOURCES', 'LAST NACK'],
      ['CDS', 'SYNCED', '7', '7', '12', '-'],
      ['LDS', 'STALE', '8', '7', '3', 'version 8 at 2026-12-04T21:05:00.000Z'],
      ['EDS', 'SYNCED', '7', '7', '12', '-'],
    ]);
    expect(stdout).toContain('LDS last NACK (version 8): ztunnel_outbound: filter_chain_matcher: destination port 0 is not a port');
    expect(stdout).toContain('LDS rejected 1 resource (the proxy runs an older version of each, or none): ztunnel_outbound');
    // istioctl's <pod>.<namespace> and the xDS id name the same proxy.
    expect((await runCli(['--istiod', address, 'ps', 'ztunnel-node-a.istio-system'])).stdout).toBe(stdout);
    const notSent = await runCli(['--istiod', address, 'ps', 'ztunnel~10.77.0.12~ztunnel-node-b~istio-system.svc.cluster.local']);
    expect(notSent.stdout).toMatch(/^CDS +NOT SENT +- +- +0 +-$/m);
    expect(notSent.stdout).toContain('state-of-the-world ADS');
  });

  it('-o json gives the syncz rows as istiod-lite sent them', async () => {
    const address = await istiod();
    expect(JSON.parse((await runCli(['--istiod', address, 'ps', '-o', 'json'])).stdout)).toEqual(SYNCZ);
    expect(JSON.parse((await runCli(['--istiod', address, 'ps', 'waypoint-0', '-o', 'json'])).stdout)).toEqual(SYNCZ[0]);
  });

  it('an unknown proxy is an error that lists the connected ones', async () => {
    const { code, stdout, stderr } = await runCli(['--istiod', await istiod(), 'ps', 'ztunnel-node-z']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/no proxy named ztunnel-node-z is connected.*\n?.*connected: waypoint-0, ztunnel-node-a, ztunnel-node-b/);
  });

  it('no proxies: the header alone, and a note on stderr', async () => {
    const { code, stdout, stderr } = await runCli(['--istiod', await istiod([]), 'ps']);
    expect(code).toBe(0);
    expect(tableRows(stdout)).toEqual([['NAME', 'CLUSTER', 'ISTIOD', 'VERSION', 'SUBSCRIBED TYPES']]);
    expect(stderr).toMatch(/^note: no proxy is connected to istiod-lite at 127\.0\.0\.1:\d+\n$/);
  });

  it('istiod-lite unreachable: one error naming the address', async () => {
    const { code, stderr } = await runCli(['--istiod', '127.0.0.1:1', 'ps']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error: cannot reach istiod-lite at 127\.0\.0\.1:1 \(connection refused\)/);
  });
});
