import { afterEach, describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import { FakeAdsServer, SEED_CLUSTER_LOAD_ASSIGNMENT, SEED_OUTBOUND_INTERNAL_CLUSTER, SEED_TUNNEL_CLUSTER, nextUpdate } from './testing/index.js';
import { nextEvent, waitFor } from '@mesh/testing';
import diagnostics from 'node:diagnostics_channel';
import { XDS_CLIENT_CHANNELS, XdsClient } from './xds-client.js';
import type { XdsNack } from './xds-client.js';
import { TYPE_URL } from './type-urls.js';
import { encodeResource } from './codec.js';

const NODE = { id: 'ztunnel~10.0.0.1~ztunnel-a~istio-system.svc.cluster.local', metadata: { NODE_NAME: 'node-a' } };
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: Partial<ConstructorParameters<typeof XdsClient>[0]> = {}) {
  const server = await FakeAdsServer.start();
  cleanups.push(() => server.close());
  const client = new XdsClient({ target: server.target, node: NODE, initialBackoffMs: 20, ...options });
  cleanups.push(() => client.close());
  return { server, client };
}

describe('XdsClient', () => {
  it('subscribes with its node, decodes resources and ACKs with version and nonce', async () => {
    const { server, client } = await setup();
    server.setResources(TYPE_URL.CLUSTER, 'v1', [SEED_OUTBOUND_INTERNAL_CLUSTER, SEED_TUNNEL_CLUSTER]);
    const update = nextUpdate(client, TYPE_URL.CLUSTER);
    client.start();
    expect((await update).resources).toEqual([SEED_OUTBOUND_INTERNAL_CLUSTER, SEED_TUNNEL_CLUSTER]);
    await waitFor(() => server.requests.some((r) => r.type_url === TYPE_URL.CLUSTER && r.version_info === 'v1'));
    const ack = server.requests.find((r) => r.type_url === TYPE_URL.CLUSTER && r.version_info === 'v1')!;
    expect(ack.response_nonce).not.toBe('');
    expect(ack.error_detail).toBeUndefined();
    expect(ack.node).toEqual(NODE);
    expect(client.current(TYPE_URL.CLUSTER)?.version).toBe('v1');
  });

  it('NACKs what the validator rejects and keeps the last ACKed resources', async () => {
    const { server, client } = await setup({
      validate: (update) => (update.version === 'v2' ? 'cluster type STATIC is not supported' : undefined),
    });
    server.setResources(TYPE_URL.CLUSTER, 'v1', [SEED_TUNNEL_CLUSTER]);
    const first = nextUpdate(client, TYPE_URL.CLUSTER);
    client.start();
    await first;
    const nack = nextEvent<[XdsNack]>(client, 'nack');
    server.setResources(TYPE_URL.CLUSTER, 'v2', [SEED_OUTBOUND_INTERNAL_CLUSTER]);
    const [event] = await nack;
    expect(event).toMatchObject({ typeUrl: TYPE_URL.CLUSTER, version: 'v2', message: 'cluster type STATIC is not supported' });
    await waitFor(() => server.requests.some((r) => r.error_detail !== undefined));
    const request = server.requests.find((r) => r.error_detail !== undefined)!;
    expect(request.version_info).toBe('v1'); // the NACK names the version still running
    expect(request.error_detail?.message).toContain('STATIC is not supported');
    expect(client.current(TYPE_URL.CLUSTER)?.resources).toEqual([SEED_TUNNEL_CLUSTER]);
  });

  it('publishes NACKs on diagnostics_channel for apps to log', async () => {
    const published: unknown[] = [];
    const onNack = (message: unknown) => published.push(message);
    diagnostics.subscribe(XDS_CLIENT_CHANNELS.nack, onNack);
    cleanups.push(() => diagnostics.unsubscribe(XDS_CLIENT_CHANNELS.nack, onNack));
    const { server, client } = await setup({ validate: () => 'no thanks' });
    server.setResources(TYPE_URL.LISTENER, 'v9', []);
    const nack = nextEvent(client, 'nack');
    client.start();
    await nack;
    expect(published).toEqual([expect.objectContaining({ target: server.target, nodeId: NODE.id, typeUrl: TYPE_URL.LISTENER, version: 'v9', message: 'no thanks' })]);
  });

  it('NACKs a resource that does not decode', async () => {
    const { server, client } = await setup();
    server.setEncodedResources(TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, 'v1', [
      encodeResource(SEED_CLUSTER_LOAD_ASSIGNMENT),
      { type_url: TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, value: new Uint8Array([0xff, 0xff, 0xff]) },
    ]);
    const nack = nextEvent<[XdsNack]>(client, 'nack');
    client.start();
    expect((await nack)[0].message).toMatch(/EDS v1: resource 1: .*not a valid envoy.config.endpoint.v3.ClusterLoadAssignment/);
    expect(client.current(TYPE_URL.CLUSTER_LOAD_ASSIGNMENT)).toBeUndefined();
  });

  it('reconnects with backoff after the server drops the stream and re-subscribes with its ACKed version', async () => {
    const { server, client } = await setup();
    server.setResources(TYPE_URL.LISTENER, 'v1', []);
    const first = nextUpdate(client, TYPE_URL.LISTENER);
    client.start();
    await first;
    const before = server.requests.length;
    server.dropStreams();
    await waitFor(() => server.requests.slice(before).some((r) => r.type_url === TYPE_URL.LISTENER && r.response_nonce === '' && r.version_info === 'v1'));
    expect(server.streamCount).toBe(1);
  });

  it('close() and destroy() are idempotent and start() after close fails with XDS_ERR_CLOSED', async () => {
    const { client } = await setup();
    client.start();
    client.close();
    client.close();
    client.destroy();
    expect(() => client.start()).toThrow(expect.objectContaining({ code: 'XDS_ERR_CLOSED' }));
    try {
      client.start();
    } catch (err) {
      expect(hasCode(err, 'XDS_ERR_CLOSED')).toBe(true);
    }
  });
});

describe('XdsClient, delta protocol', () => {
  const BLACKHOLE = { '@type': TYPE_URL.CLUSTER, name: 'BlackHoleCluster', type: 'STATIC' };
  const names = (resources: readonly Record<string, unknown>[]) => resources.map((r) => r['name']);

  it('subscribes (wildcard) with its node, applies resources by name and ACKs the nonce', async () => {
    const { server, client } = await setup({ protocol: 'delta' });
    server.setResources(TYPE_URL.CLUSTER, 'v1', [SEED_OUTBOUND_INTERNAL_CLUSTER, SEED_TUNNEL_CLUSTER]);
    const update = nextUpdate(client, TYPE_URL.CLUSTER);
    client.start();
    expect((await update).resources).toEqual([SEED_OUTBOUND_INTERNAL_CLUSTER, SEED_TUNNEL_CLUSTER].sort((a, b) => String(a['name']).localeCompare(String(b['name']))));
    const [subscribe] = server.deltaRequests.filter((r) => r.type_url === TYPE_URL.CLUSTER);
    expect(subscribe).toMatchObject({ node: NODE, resource_names_subscribe: [], initial_resource_versions: {}, response_nonce: '' });
    await waitFor(() => server.deltaRequests.some((r) => r.type_url === TYPE_URL.CLUSTER && r.response_nonce !== ''));
    expect(server.deltaRequests.find((r) => r.type_url === TYPE_URL.CLUSTER && r.response_nonce !== '')?.error_detail).toBeUndefined();
    expect(client.current(TYPE_URL.CLUSTER)).toMatchObject({ version: 'v1' });
    expect([...client.current(TYPE_URL.CLUSTER)!.versions!.keys()].sort()).toEqual(names([SEED_OUTBOUND_INTERNAL_CLUSTER, SEED_TUNNEL_CLUSTER]).sort());
  });

  it('applies what changed and what was removed, and reports both', async () => {
    const { server, client } = await setup({ protocol: 'delta' });
    server.setResources(TYPE_URL.CLUSTER, 'v1', [SEED_OUTBOUND_INTERNAL_CLUSTER, SEED_TUNNEL_CLUSTER]);
    const first = nextUpdate(client, TYPE_URL.CLUSTER);
    client.start();
    await first;
    const second = nextUpdate(client, TYPE_URL.CLUSTER);
    server.setResources(TYPE_URL.CLUSTER, 'v2', [SEED_TUNNEL_CLUSTER, BLACKHOLE]);
    const update = await second;
    expect(update).toMatchObject({ version: 'v2', changed: ['BlackHoleCluster'], removed: [SEED_OUTBOUND_INTERNAL_CLUSTER['name']] });
    expect(names(update.resources)).toEqual(['BlackHoleCluster', SEED_TUNNEL_CLUSTER['name']]);
  });

  it('rejects one bad resource by name, applies the rest and keeps the last good version of the bad one', async () => {
    const { server, client } = await setup({
      protocol: 'delta',
      validate: (update) => (update.resources.some((r) => r['type'] === 'LOGICAL_DNS') ? 'cluster type LOGICAL_DNS is not supported' : undefined),
    });
    server.setResources(TYPE_URL.CLUSTER, 'v1', [SEED_TUNNEL_CLUSTER, BLACKHOLE]);
    const first = nextUpdate(client, TYPE_URL.CLUSTER);
    client.start();
    await first;
    const nack = nextEvent<[XdsNack]>(client, 'nack');
    const applied = nextUpdate(client, TYPE_URL.CLUSTER);
    server.setResources(TYPE_URL.CLUSTER, 'v2', [SEED_TUNNEL_CLUSTER, { ...BLACKHOLE, type: 'LOGICAL_DNS' }, SEED_OUTBOUND_INTERNAL_CLUSTER]);
    const [event] = await nack;
    expect(event).toMatchObject({ typeUrl: TYPE_URL.CLUSTER, version: 'v2', rejected: ['BlackHoleCluster'], message: 'BlackHoleCluster: cluster type LOGICAL_DNS is not supported' });
    expect((await applied).changed).toEqual([SEED_OUTBOUND_INTERNAL_CLUSTER['name']]);
    expect(client.current(TYPE_URL.CLUSTER)!.resources).toContainEqual(BLACKHOLE); // the last good one
    expect(client.current(TYPE_URL.CLUSTER)!.resources).toContainEqual(SEED_OUTBOUND_INTERNAL_CLUSTER);
    await waitFor(() => server.nacks.length === 1);
    expect(server.nacks[0]).toMatchObject({ type_url: TYPE_URL.CLUSTER, message: 'BlackHoleCluster: cluster type LOGICAL_DNS is not supported' });
  });

  it('rejects a resource that does not decode, naming it', async () => {
    const { server, client } = await setup({ protocol: 'delta' });
    server.setEncodedResources(
      TYPE_URL.CLUSTER_LOAD_ASSIGNMENT,
      'v1',
      [encodeResource(SEED_CLUSTER_LOAD_ASSIGNMENT), { type_url: TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, value: new Uint8Array([0xff, 0xff, 0xff]) }],
      ['', 'garbled'],
    );
    const nack = nextEvent<[XdsNack]>(client, 'nack');
    const applied = nextUpdate(client, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT);
    client.start();
    expect((await nack)[0].message).toMatch(/^garbled: .*not a valid envoy.config.endpoint.v3.ClusterLoadAssignment/);
    expect((await applied).resources).toEqual([SEED_CLUSTER_LOAD_ASSIGNMENT]);
  });

  it('finds the bad resources among many by halving, and applies every other one', async () => {
    const clusters = Array.from({ length: 40 }, (_, i) => ({ ...BLACKHOLE, name: `c${String(i).padStart(2, '0')}` }));
    const bad = new Set(['c07', 'c31']);
    let checks = 0;
    const { server, client } = await setup({
      protocol: 'delta',
      validate: (u) => {
        checks += 1;
        const found = u.resources.filter((r) => bad.has(String(r['name'])) && r['type'] === 'LOGICAL_DNS');
        return found.length > 0 ? `cluster ${found.map((r) => r['name']).join(', ')}: LOGICAL_DNS is not supported` : undefined;
      },
    });
    server.setResources(TYPE_URL.CLUSTER, 'v1', clusters);
    const first = nextUpdate(client, TYPE_URL.CLUSTER);
    client.start();
    await first;
    checks = 0;
    const nack = nextEvent<[XdsNack]>(client, 'nack');
    const applied = nextUpdate(client, TYPE_URL.CLUSTER);
    server.setResources(TYPE_URL.CLUSTER, 'v2', clusters.map((c) => ({ ...c, type: bad.has(c.name) ? 'LOGICAL_DNS' : 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED' })));
    expect((await nack)[0].rejected).toEqual(['c07', 'c31']);
    const update = await applied;
    expect(update.changed).toHaveLength(38);
    expect(update.resources.filter((r) => r['type'] === 'STATIC').map((r) => r['name'])).toEqual(['c07', 'c31']); // their last good versions
    expect(checks).toBeLessThan(30); // about 2 × log2(40) per bad resource, not one per resource
  });

  it('rejects the whole response when even its removals do not pass', async () => {
    const { server, client } = await setup({ protocol: 'delta', validate: (u) => (u.resources.length < 2 ? 'at least two clusters, please' : undefined) });
    server.setResources(TYPE_URL.CLUSTER, 'v1', [SEED_TUNNEL_CLUSTER, BLACKHOLE]);
    const first = nextUpdate(client, TYPE_URL.CLUSTER);
    client.start();
    await first;
    const nack = nextEvent<[XdsNack]>(client, 'nack');
    server.setResources(TYPE_URL.CLUSTER, 'v2', [SEED_TUNNEL_CLUSTER]);
    expect((await nack)[0]).toMatchObject({ message: 'at least two clusters, please' });
    expect(client.current(TYPE_URL.CLUSTER)).toMatchObject({ version: 'v1' });
    expect(client.current(TYPE_URL.CLUSTER)!.resources).toHaveLength(2);
  });

  it('reconnects with every resource version, so nothing unchanged is sent again', async () => {
    const { server, client } = await setup({ protocol: 'delta' });
    server.setResources(TYPE_URL.CLUSTER, 'v1', [SEED_OUTBOUND_INTERNAL_CLUSTER, SEED_TUNNEL_CLUSTER]);
    const first = nextUpdate(client, TYPE_URL.CLUSTER);
    client.start();
    await first;
    const versions = Object.fromEntries(client.current(TYPE_URL.CLUSTER)!.versions!);
    const before = server.deltaRequests.length;
    server.dropStreams();
    await waitFor(() => server.deltaRequests.slice(before).some((r) => r.type_url === TYPE_URL.CLUSTER && r.response_nonce === ''));
    const resubscribe = server.deltaRequests.slice(before).find((r) => r.type_url === TYPE_URL.CLUSTER)!;
    expect(resubscribe.initial_resource_versions).toEqual(versions);
    const changed = nextUpdate(client, TYPE_URL.CLUSTER, (u) => (u.changed ?? []).length > 0);
    server.setResources(TYPE_URL.CLUSTER, 'v2', [SEED_OUTBOUND_INTERNAL_CLUSTER, SEED_TUNNEL_CLUSTER, BLACKHOLE]);
    expect((await changed).changed).toEqual(['BlackHoleCluster']); // the reconnect re-sent nothing
  });
});
