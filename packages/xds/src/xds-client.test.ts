import { afterEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { hasCode } from '@mesh/errors';
import { FakeAdsServer, SEED_CLUSTER_LOAD_ASSIGNMENT, SEED_OUTBOUND_INTERNAL_CLUSTER, SEED_TUNNEL_CLUSTER, nextUpdate, until } from './testing/index.js';
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
    await until(() => server.requests.some((r) => r.type_url === TYPE_URL.CLUSTER && r.version_info === 'v1'));
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
    const nack = once(client, 'nack') as Promise<[XdsNack]>;
    server.setResources(TYPE_URL.CLUSTER, 'v2', [SEED_OUTBOUND_INTERNAL_CLUSTER]);
    const [event] = await nack;
    expect(event).toMatchObject({ typeUrl: TYPE_URL.CLUSTER, version: 'v2', message: 'cluster type STATIC is not supported' });
    await until(() => server.requests.some((r) => r.error_detail !== undefined));
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
    const nack = once(client, 'nack');
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
    const nack = once(client, 'nack') as Promise<[XdsNack]>;
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
    await until(() => server.requests.slice(before).some((r) => r.type_url === TYPE_URL.LISTENER && r.response_nonce === '' && r.version_info === 'v1'));
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
