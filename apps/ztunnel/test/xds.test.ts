/**
 * The ADS subscription against an in-process fake control plane: updates reach the model only
 * after they compile; a resource ztunnel cannot run is NACKed with the compiler's reason and the
 * last good model stays; a dropped stream reconnects and the model is kept meanwhile.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { TYPE_URL } from '@mesh/xds';
import { FakeAdsServer } from '@mesh/xds/testing';
import { ModelStore } from '../src/xds/model-store.js';
import { createMemoryLogger } from '../src/log.js';
import { startXds } from '../src/xds/xds.js';
import { buildFakeResources } from '../src/testing/mesh-resources.js';
import { BOOKINFO } from '../src/testing/bookinfo.js';
import { planOutbound } from '../src/proxy/outbound-plan.js';
import type { XdsClient } from '@mesh/xds';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function setup(): Promise<{ fake: FakeAdsServer; store: ModelStore; client: XdsClient; logger: ReturnType<typeof createMemoryLogger> }> {
  const fake = await FakeAdsServer.start();
  cleanups.push(() => fake.close());
  const r = buildFakeResources(BOOKINFO, 'node-a');
  fake.setResources(TYPE_URL.CLUSTER, 'v1', r.clusters);
  fake.setResources(TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, 'v1', r.endpoints);
  fake.setResources(TYPE_URL.LISTENER, 'v1', r.listeners);
  const store = new ModelStore();
  const logger = createMemoryLogger();
  const client = startXds({ target: fake.target, credentials: grpc.credentials.createInsecure(), nodeName: 'node-a', store, logger, initialBackoffMs: 20, maxBackoffMs: 100 });
  cleanups.push(() => client.close());
  return { fake, store, client, logger };
}

const sleepToRatings = { src: { ip: '10.77.1.10', port: 1 }, dst: { ip: '10.77.100.13', port: 9080 } };

describe('xDS subscription', () => {
  it('applies CDS, EDS and LDS and says who it is', async () => {
    const { fake, store } = await setup();
    await until(() => store.synced);
    expect(planOutbound(store.model, sleepToRatings)).toMatchObject({ kind: 'hbone', authority: '10.77.2.13:9080' });
    expect(fake.requests[0]?.node).toMatchObject({ id: 'ztunnel~~ztunnel-node-a~istio-system.svc.cluster.local', metadata: { NODE_NAME: 'node-a' } });
  });

  it('NACKs what it cannot run with a precise reason and keeps the last good config', async () => {
    const { fake, store, logger } = await setup();
    await until(() => store.synced);
    fake.setResources(TYPE_URL.CLUSTER, 'v2', [{ '@type': TYPE_URL.CLUSTER, name: 'db', type: 'LOGICAL_DNS' }]);
    await until(() => fake.requests.some((r) => r.error_detail !== undefined && r.error_detail !== null));
    const nack = fake.requests.find((r) => r.error_detail)!;
    expect(nack).toMatchObject({ type_url: TYPE_URL.CLUSTER, version_info: 'v1' });
    expect(nack.error_detail?.message).toBe('cluster db.type: cluster type LOGICAL_DNS is not supported (EDS, ORIGINAL_DST, STATIC)');
    expect(store.typeStates.get(TYPE_URL.CLUSTER)?.version).toBe('v1');
    expect(planOutbound(store.model, sleepToRatings)).toMatchObject({ kind: 'hbone' });
    expect(logger.entries).toContainEqual(expect.objectContaining({ scope: 'xds', msg: 'config rejected (NACK)' }));
  });

  it('keeps serving its model while the control plane is away, then resyncs', async () => {
    const { fake, store, logger } = await setup();
    await until(() => store.synced);
    fake.dropStreams();
    await until(() => logger.entries.some((e) => String(e['msg']).includes('stream lost')));
    expect(planOutbound(store.model, sleepToRatings)).toMatchObject({ kind: 'hbone' });
    const r = buildFakeResources({ ...BOOKINFO, services: BOOKINFO.services.filter((s) => s.name !== 'ratings') }, 'node-a');
    fake.setResources(TYPE_URL.LISTENER, 'v3', r.listeners);
    await until(() => store.typeStates.get(TYPE_URL.LISTENER)?.version === 'v3');
    expect(planOutbound(store.model, sleepToRatings)).toMatchObject({ kind: 'passthrough' });
  });
});
