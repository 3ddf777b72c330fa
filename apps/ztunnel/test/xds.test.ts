/**
 * The ADS subscription against an in-process fake control plane: updates reach the model only
 * after they compile; a resource ztunnel cannot run is NACKed with the compiler's reason and the
 * last good model stays; a dropped stream reconnects and the model is kept meanwhile.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { TYPE_URL } from '@mesh/xds';
import { waitFor } from '@mesh/testing';
import { FakeAdsServer } from '@mesh/xds/testing';
import { ModelStore } from '../src/xds/model-store.js';
import { createMemoryProxyLogger as createMemoryLogger } from '@mesh/log';
import { startXds } from '../src/xds/xds.js';
import { buildFakeResources } from '../src/testing/mesh-resources.js';
import { BOOKINFO } from '../src/testing/bookinfo.js';
import { hasIstiodGolden, readIstiodGolden, type WorkloadGolden } from '../src/testing/istiod-goldens.js';
import { RoundRobin } from '@mesh/proxy-runtime';
import { planOutbound, planInboundTunnel } from '@mesh/ztunnel-plan';
import type { ResourceJson, XdsClient, XdsProtocol } from '@mesh/xds';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(protocol: XdsProtocol): Promise<{ fake: FakeAdsServer; store: ModelStore; client: XdsClient; logger: ReturnType<typeof createMemoryLogger> }> {
  const fake = await FakeAdsServer.start();
  cleanups.push(() => fake.close());
  const r = buildFakeResources(BOOKINFO, 'node-a');
  fake.setResources(TYPE_URL.CLUSTER, 'v1', r.clusters);
  fake.setResources(TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, 'v1', r.endpoints);
  fake.setResources(TYPE_URL.LISTENER, 'v1', r.listeners);
  const store = new ModelStore();
  const logger = createMemoryLogger();
  const client = startXds({ target: fake.target, protocol, credentials: grpc.credentials.createInsecure(), nodeName: 'node-a', store, logger, initialBackoffMs: 20, maxBackoffMs: 100 });
  cleanups.push(() => client.close());
  return { fake, store, client, logger };
}

const sleepToRatings = { src: { ip: '10.77.1.10', port: 1 }, dst: { ip: '10.77.100.13', port: 9080 } };

describe.each(['delta', 'sotw'] as const)('xDS subscription (%s)', (protocol) => {
  it('applies CDS, EDS and LDS and says who it is', async () => {
    const { fake, store } = await setup(protocol);
    await waitFor(() => store.synced, { what: 'the model synced' });
    expect(planOutbound(store.model, sleepToRatings, new RoundRobin())).toMatchObject({ kind: 'hbone', authority: '10.77.2.13:9080' });
    const [first] = protocol === 'delta' ? fake.deltaRequests : fake.requests;
    expect(first?.node).toMatchObject({ id: 'ztunnel~~ztunnel-node-a~istio-system.svc.cluster.local', metadata: { NODE_NAME: 'node-a' } });
  });

  it('NACKs what it cannot run with a precise reason and keeps the last good config', async () => {
    const { fake, store, logger } = await setup(protocol);
    await waitFor(() => store.synced, { what: 'the model synced' });
    const r = buildFakeResources(BOOKINFO, 'node-a');
    fake.setResources(TYPE_URL.CLUSTER, 'v2', [...r.clusters, { '@type': TYPE_URL.CLUSTER, name: 'db', type: 'LOGICAL_DNS' }]);
    await waitFor(() => fake.nacks.length > 0);
    const reason = 'cluster db.type: cluster type LOGICAL_DNS is not supported (EDS, ORIGINAL_DST, STATIC)';
    expect(fake.nacks[0]).toMatchObject({ type_url: TYPE_URL.CLUSTER, message: protocol === 'delta' ? `db: ${reason}` : reason });
    if (protocol === 'sotw') expect(fake.requests.find((q) => q.error_detail)).toMatchObject({ version_info: 'v1' });
    expect(store.typeStates.get(TYPE_URL.CLUSTER)?.version).toBe('v1');
    expect(planOutbound(store.model, sleepToRatings, new RoundRobin())).toMatchObject({ kind: 'hbone' });
    expect(logger.entries).toContainEqual(expect.objectContaining({ scope: 'xds', msg: 'config rejected (NACK)' }));
  });

  it('keeps serving its model while the control plane is away, then resyncs', async () => {
    const { fake, store, logger } = await setup(protocol);
    await waitFor(() => store.synced, { what: 'the model synced' });
    fake.dropStreams();
    await waitFor(() => logger.entries.some((e) => String(e['msg']).includes('stream lost')));
    expect(planOutbound(store.model, sleepToRatings, new RoundRobin())).toMatchObject({ kind: 'hbone' });
    const r = buildFakeResources({ ...BOOKINFO, services: BOOKINFO.services.filter((s) => s.name !== 'ratings') }, 'node-a');
    fake.setResources(TYPE_URL.LISTENER, 'v3', r.listeners);
    await waitFor(() => store.typeStates.get(TYPE_URL.LISTENER)?.version === 'v3');
    expect(planOutbound(store.model, sleepToRatings, new RoundRobin())).toMatchObject({ kind: 'passthrough' });
  });
});

describe.skipIf(!hasIstiodGolden('workload-deny'))('xDS subscription in the workload dialect (--xds-dialect workload)', () => {
  const golden = (name: string) => readIstiodGolden<WorkloadGolden>(name);

  // State of the world here (these read SotW requests); the delta case follows the describe.
  async function setupWorkload(node: string, protocol: XdsProtocol = 'sotw') {
    const fake = await FakeAdsServer.start();
    cleanups.push(() => fake.close());
    const bookinfo = golden('workload-bookinfo');
    fake.setResources(TYPE_URL.ADDRESS, 'v1', Object.values(bookinfo.addresses), Object.keys(bookinfo.addresses));
    fake.setResources(TYPE_URL.AUTHORIZATION, 'v1', []);
    const store = new ModelStore({ dialect: 'workload', nodeName: node });
    const logger = createMemoryLogger();
    const client = startXds({ target: fake.target, protocol, credentials: grpc.credentials.createInsecure(), nodeName: node, store, logger, initialBackoffMs: 20, maxBackoffMs: 100 });
    cleanups.push(() => client.close());
    return { fake, store, logger, bookinfo };
  }

  it('subscribes to Address and Authorization only, and routes with them', async () => {
    const { fake, store } = await setupWorkload('node-a');
    await waitFor(() => store.synced, { what: 'the model synced' });
    expect(new Set(fake.requests.map((r) => r.type_url))).toEqual(new Set([TYPE_URL.ADDRESS, TYPE_URL.AUTHORIZATION]));
    expect(planOutbound(store.model, sleepToRatings, new RoundRobin())).toMatchObject({ kind: 'hbone', authority: '10.77.2.13:9080', expectedIdentities: ['spiffe://cluster.local/ns/default/sa/bookinfo-ratings'] });
  });

  it('a policy update takes effect; a malformed resource is NACKed by name and field, the last good config stays', async () => {
    const { fake, store, bookinfo } = await setupWorkload('node-b');
    await waitFor(() => store.synced, { what: 'the model synced' });
    const facts = { localIp: '10.77.2.13', authority: '10.77.2.13:9080', originalDstHeader: '10.77.2.13:9080', peerIdentity: 'spiffe://cluster.local/ns/default/sa/sleep', sourceIp: '10.77.1.10' };
    expect(planInboundTunnel(store.model, facts)).toMatchObject({ kind: 'accept' });

    const deny = golden('workload-deny');
    fake.setResources(TYPE_URL.ADDRESS, 'v2', Object.values(deny.addresses));
    fake.setResources(TYPE_URL.AUTHORIZATION, 'v2', Object.values(deny.authorizations));
    await waitFor(() => planInboundTunnel(store.model, facts).kind === 'reject');
    expect(planInboundTunnel(store.model, facts)).toMatchObject({ status: 401, policy: 'ns[default]-policy[deny-sleep]-rule[0]' });

    const ratings = deny.addresses['Kubernetes//Pod/default/ratings-v1'] as ResourceJson;
    const broken: ResourceJson = { ...ratings, workload: { ...(ratings['workload'] as Record<string, unknown>), addresses: ['AQID'] } };
    fake.setResources(TYPE_URL.ADDRESS, 'v3', [...Object.values(bookinfo.addresses).filter((r) => r !== bookinfo.addresses['Kubernetes//Pod/default/ratings-v1']), broken]);
    await waitFor(() => fake.requests.some((r) => r.type_url === TYPE_URL.ADDRESS && Boolean(r.error_detail)));
    const nack = fake.requests.find((r) => r.type_url === TYPE_URL.ADDRESS && r.error_detail)!;
    expect(nack.version_info).toBe('v2');
    expect(nack.error_detail?.message).toBe(
      'Address Kubernetes//Pod/default/ratings-v1: workload Kubernetes//Pod/default/ratings-v1.addresses[0]: an address must be 4 (IPv4) or 16 (IPv6) bytes, got 3',
    );
    expect(store.typeStates.get(TYPE_URL.ADDRESS)?.version).toBe('v2');
    expect(planInboundTunnel(store.model, facts)).toMatchObject({ kind: 'reject', policy: 'ns[default]-policy[deny-sleep]-rule[0]' });
  });

  it('over delta (as Istio\'s ztunnel subscribes): a malformed Address is rejected alone, the other changes apply', async () => {
    const { fake, store, bookinfo } = await setupWorkload('node-a', 'delta');
    await waitFor(() => store.synced, { what: 'the model synced' });
    expect(new Set(fake.deltaRequests.map((r) => r.type_url))).toEqual(new Set([TYPE_URL.ADDRESS, TYPE_URL.AUTHORIZATION]));
    expect(planOutbound(store.model, sleepToRatings, new RoundRobin())).toMatchObject({ kind: 'hbone', authority: '10.77.2.13:9080' });
    const names = Object.keys(bookinfo.addresses);
    const ratingsName = 'Kubernetes//Pod/default/ratings-v1';
    const ratings = bookinfo.addresses[ratingsName] as ResourceJson;
    const broken: ResourceJson = { ...ratings, workload: { ...(ratings['workload'] as Record<string, unknown>), addresses: ['AQID'] } };
    // ratings-v1 broken, details-v1 gone: the removal applies, ratings-v1 keeps its last good version.
    const kept = names.filter((name) => name !== 'Kubernetes//Pod/default/details-v1');
    fake.setResources(TYPE_URL.ADDRESS, 'v2', kept.map((name) => (name === ratingsName ? broken : (bookinfo.addresses[name] as ResourceJson))), kept);
    await waitFor(() => fake.nacks.length > 0);
    expect(fake.nacks[0]!.message).toBe(`${ratingsName}: Address ${ratingsName}: workload ${ratingsName}.addresses[0]: an address must be 4 (IPv4) or 16 (IPv6) bytes, got 3`);
    await waitFor(() => store.typeStates.get(TYPE_URL.ADDRESS)?.version === 'v2');
    expect(planOutbound(store.model, sleepToRatings, new RoundRobin())).toMatchObject({ kind: 'hbone', authority: '10.77.2.13:9080' });
    expect(JSON.stringify(store.typeStates.get(TYPE_URL.ADDRESS)!.resources)).not.toContain('details-v1');
  });
});

describe('xDS subscription over delta, per resource', () => {
  it('a resource ztunnel cannot run is rejected alone: the rest of the update applies', async () => {
    const { fake, store } = await setup('delta');
    await waitFor(() => store.synced, { what: 'the model synced' });
    const r = buildFakeResources({ ...BOOKINFO, services: BOOKINFO.services.filter((s) => s.name !== 'ratings') }, 'node-a');
    fake.setResources(TYPE_URL.LISTENER, 'v4', [...r.listeners.filter((l) => l['name'] !== 'ztunnel_inbound'), { ...r.listeners.find((l) => l['name'] === 'ztunnel_inbound')!, listener_filters: [{ name: 'envoy.filters.listener.proxy_protocol' }] }]);
    await waitFor(() => fake.nacks.length > 0);
    expect(fake.nacks[0]!.message).toMatch(/^ztunnel_inbound: listener ztunnel_inbound\.listener_filters\[0\]: listener filter envoy.filters.listener.proxy_protocol is not supported/);
    // The outbound listener (ratings gone) applied; the inbound one kept its last good version.
    await waitFor(() => store.typeStates.get(TYPE_URL.LISTENER)?.version === 'v4');
    expect(planOutbound(store.model, sleepToRatings, new RoundRobin())).toMatchObject({ kind: 'passthrough' });
    expect(store.model.listeners.inbound).toBeDefined();
    expect(JSON.stringify(store.typeStates.get(TYPE_URL.LISTENER)!.resources)).not.toContain('proxy_protocol');
  });
});
