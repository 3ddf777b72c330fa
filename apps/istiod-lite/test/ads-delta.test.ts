import { afterEach, describe, expect, it } from 'vitest';
import { nextEvent } from '@mesh/testing';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { TYPE_URL, decodeResource } from '@mesh/xds';
import type { DeltaDiscoveryResponse, ResourceJson, XdsNack, XdsResourcesUpdate } from '@mesh/xds';
import type { MeshSnapshot } from '@mesh/mesh-model';
import { GeneratorRegistry } from '../src/xds/proxy-resources.js';
import type { XdsGenerator } from '../src/xds/proxy-resources.js';
import { MESH_YAML, filterChainNames, nextUpdate, podYaml, proxyNode, rawAdsStream, rawDeltaStream, startTestIstiod, testGenerator, waitFor } from './helpers.js';
import type { TestIstiod } from './helpers.js';

let env: TestIstiod | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

const FILES = {
  'mesh.yaml': MESH_YAML,
  'sleep.yaml': podYaml('sleep', 'node-a', '10.77.1.10'),
  'reviews.yaml': podYaml('reviews-v1', 'node-b', '10.77.2.10', 'reviews'),
};

async function start(generators?: GeneratorRegistry, options: { idleTtlMs?: number } = {}) {
  env = await startTestIstiod(FILES, generators, options);
  return env;
}

const node = proxyNode('node-a');
const namesOf = (response: DeltaDiscoveryResponse) => response.resources.map((r) => r.name).sort();
const ofType = (responses: DeltaDiscoveryResponse[], typeUrl: string) => responses.filter((r) => r.type_url === typeUrl);

describe('delta ADS (DeltaAggregatedResources)', () => {
  it('serves a wildcard subscription, and syncz shows each type SYNCED over delta', async () => {
    const { istiod, plaintextClient } = await start();
    const client = plaintextClient('node-a', { protocol: 'delta' });
    const listeners = nextUpdate(client, TYPE_URL.LISTENER);
    client.start();
    expect(filterChainNames(await listeners)).toEqual(['inbound_10.77.1.10']);
    await waitFor(() => client.current(TYPE_URL.CLUSTER) !== undefined && client.current(TYPE_URL.CLUSTER_LOAD_ASSIGNMENT) !== undefined);
    expect(client.current(TYPE_URL.CLUSTER)!.resources.map((c) => c['name'])).toEqual(['pod_reviews-v1', 'pod_sleep']);
    await waitFor(() => Object.values(istiod.ads.syncz()[0]?.types ?? {}).every((t) => t.status === 'SYNCED'), { what: 'all types SYNCED' });
    const [row] = istiod.ads.syncz();
    expect(row).toMatchObject({ protocol: 'delta', nodeName: 'node-a' });
    expect(row!.types['CDS']).toMatchObject({ generator: 'test', status: 'SYNCED', resources: 2 });
    expect(row!.types['CDS']!.ackedVersion).toBe(row!.types['CDS']!.sentVersion);
  });

  it('pushes only the resources that changed and the names removed', async () => {
    const { istiod, writeManifest, configDir } = await start();
    const raw = rawDeltaStream(istiod.ports.xds!);
    try {
      for (const typeUrl of [TYPE_URL.CLUSTER, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, TYPE_URL.LISTENER]) raw.send({ node, type_url: typeUrl });
      await waitFor(() => raw.responses.length === 3, { what: 'initial responses' });
      expect(namesOf(ofType(raw.responses, TYPE_URL.CLUSTER)[0]!)).toEqual(['pod_reviews-v1', 'pod_sleep']);
      const acked = raw.ackAll();

      await writeManifest('ratings.yaml', podYaml('ratings', 'node-b', '10.77.2.11')); // another node's pod: LDS of node-a is unchanged
      await waitFor(() => raw.responses.length === 5, { what: 'CDS and EDS pushes' });
      const pushed = raw.responses.slice(3);
      expect(pushed.map((r) => r.type_url)).toEqual([TYPE_URL.CLUSTER, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT]);
      for (const response of pushed) expect(response).toMatchObject({ removed_resources: [] });
      expect(pushed.map(namesOf)).toEqual([['pod_ratings'], ['pod_ratings']]);
      expect(decodeResource(pushed[0]!.resources[0]!.resource!)).toMatchObject({ name: 'pod_ratings' });
      raw.ackAll(acked);

      // Sentinel: a pod on node-a changes its listeners. A push is written whole, in one turn, and
      // the stream keeps order, so a listener push for ratings would have come before this one's.
      await writeManifest('marker.yaml', podYaml('marker', 'node-a', '10.77.1.12'));
      await waitFor(() => raw.responses.slice(5).some((r) => r.type_url === TYPE_URL.LISTENER), { what: 'the listener push for the marker pod' });
      expect(raw.responses.slice(5).map((r) => r.type_url)).toEqual([TYPE_URL.CLUSTER, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, TYPE_URL.LISTENER]);
      expect(raw.responses.slice(5, 7).map(namesOf)).toEqual([['pod_marker'], ['pod_marker']]);
      raw.ackAll(acked);

      await rm(path.join(configDir, 'ratings.yaml'));
      await waitFor(() => raw.responses.length === 10, { what: 'removal pushes' });
      expect(raw.responses.slice(8).map((r) => [r.type_url, r.resources.length, r.removed_resources])).toEqual([
        [TYPE_URL.CLUSTER, 0, ['pod_ratings']],
        [TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, 0, ['pod_ratings']],
      ]);
    } finally {
      raw.close();
    }
  });

  it('subscribes and unsubscribes by name, reports a missing name as removed, and honours *', async () => {
    const { istiod, writeManifest } = await start();
    const raw = rawDeltaStream(istiod.ports.xds!);
    try {
      raw.send({ node, type_url: TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, resource_names_subscribe: ['pod_sleep'] });
      await waitFor(() => raw.responses.length === 1);
      expect(namesOf(raw.responses[0]!)).toEqual(['pod_sleep']);
      const acked = raw.ackAll();

      raw.send({ type_url: TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, resource_names_subscribe: ['pod_reviews-v1', 'pod_nope'] });
      await waitFor(() => raw.responses.length === 2);
      expect(namesOf(raw.responses[1]!)).toEqual(['pod_reviews-v1']);
      expect(raw.responses[1]!.removed_resources).toEqual(['pod_nope']); // does not exist
      raw.ackAll(acked);

      // Unsubscribed: its changes are no longer sent; a name not subscribed is never sent.
      // (The missing name subscribed in the same request tells when the server has read it.)
      raw.send({ type_url: TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, resource_names_unsubscribe: ['pod_sleep'], resource_names_subscribe: ['pod_marker'] });
      await waitFor(() => raw.responses.length === 3);
      expect(raw.responses[2]).toMatchObject({ resources: [], removed_resources: ['pod_marker'] });
      raw.ackAll(acked);
      await writeManifest('sleep.yaml', podYaml('sleep', 'node-a', '10.77.1.20'));
      await writeManifest('ratings.yaml', podYaml('ratings', 'node-b', '10.77.2.11'));
      await istiod.source.reload();

      // pod_nope appears: it was subscribed, so it is sent — the sentinel: a push for sleep or
      // ratings (a snapshot before this one) would have come before it.
      await writeManifest('nope.yaml', podYaml('nope', 'node-b', '10.77.2.12'));
      await waitFor(() => raw.responses.some((r) => namesOf(r).includes('pod_nope')), { what: 'the push of pod_nope' });
      expect(raw.responses.slice(3).map(namesOf)).toEqual([['pod_nope']]);
      raw.ackAll(acked);

      raw.send({ type_url: TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, resource_names_subscribe: ['*'] });
      await waitFor(() => raw.responses.length === 5);
      expect(namesOf(raw.responses[4]!)).toEqual(['pod_ratings', 'pod_sleep']); // what it lacked
    } finally {
      raw.close();
    }
  });

  it('a reconnecting client that lists its versions is sent nothing unchanged; gone names are reported removed', async () => {
    const { istiod, plaintextClient, writeManifest } = await start();
    const client = plaintextClient('node-a', { protocol: 'delta' });
    const first = nextUpdate(client, TYPE_URL.LISTENER);
    client.start();
    await first;
    await waitFor(() => client.current(TYPE_URL.CLUSTER) !== undefined);
    const clusters = Object.fromEntries(client.current(TYPE_URL.CLUSTER)!.versions!);
    const listeners = Object.fromEntries(client.current(TYPE_URL.LISTENER)!.versions!);
    client.close();

    const raw = rawDeltaStream(istiod.ports.xds!);
    try {
      raw.send({ node, type_url: TYPE_URL.CLUSTER, initial_resource_versions: clusters });
      raw.send({ node, type_url: TYPE_URL.LISTENER, initial_resource_versions: listeners });
      await waitFor(() => raw.responses.length === 2, { what: 'an answer per type' });
      for (const response of raw.responses) expect(response).toMatchObject({ resources: [], removed_resources: [] });
    } finally {
      raw.close();
    }

    // Meanwhile reviews-v1 went away and productpage came; sleep moved (its endpoints changed, its cluster did not).
    await writeManifest('reviews.yaml', podYaml('productpage', 'node-b', '10.77.2.20'));
    await writeManifest('sleep.yaml', podYaml('sleep', 'node-a', '10.77.1.30'));
    await waitFor(() => istiod.source.current().pods.has('default/productpage') && istiod.source.current().podByIp('10.77.1.30') !== undefined);
    const again = rawDeltaStream(istiod.ports.xds!);
    try {
      again.send({ node, type_url: TYPE_URL.CLUSTER, initial_resource_versions: { ...clusters, pod_gone_long_ago: 'x' } });
      await waitFor(() => again.responses.length === 1);
      expect(namesOf(again.responses[0]!)).toEqual(['pod_productpage']);
      expect(again.responses[0]!.removed_resources.sort()).toEqual(['pod_gone_long_ago', 'pod_reviews-v1']);
    } finally {
      again.close();
    }
  });

  it('a NACK of one resource keeps the rest applied, shows in syncz, and the rejected version is not re-sent', async () => {
    const { istiod, plaintextClient, writeManifest, logger } = await start();
    const client = plaintextClient('node-a', {
      protocol: 'delta',
      validate: (u) => (u.typeUrl === TYPE_URL.CLUSTER && u.resources.some((r) => r['name'] === 'pod_bad') ? 'cluster pod_bad: not today' : undefined),
    });
    const first = nextUpdate(client, TYPE_URL.CLUSTER);
    client.start();
    await first;
    const nacks: XdsNack[] = [];
    client.on('nack', (nack: XdsNack) => nacks.push(nack));
    const nacked = nextEvent(client, 'nack');
    await writeManifest('bad.yaml', podYaml('bad', 'node-b', '10.77.2.66'));
    await writeManifest('good.yaml', podYaml('good', 'node-b', '10.77.2.67'));
    await nacked;
    await waitFor(() => client.current(TYPE_URL.CLUSTER)!.resources.some((c) => c['name'] === 'pod_good'), { what: 'the good cluster applied' });
    expect(client.current(TYPE_URL.CLUSTER)!.resources.map((c) => c['name'])).not.toContain('pod_bad');

    await waitFor(() => istiod.ads.syncz()[0]?.types['CDS']?.lastNack !== undefined, { what: 'NACK recorded' });
    const cds = istiod.ads.syncz()[0]!.types['CDS']!;
    expect(cds.status).toBe('STALE');
    expect(cds.lastNack!.message).toContain('pod_bad: cluster pod_bad: not today');
    expect(cds.rejected).toEqual({ count: 1, names: [{ name: 'pod_bad', version: expect.any(String) }] });
    expect(istiod.ads.syncz()[0]!.types['EDS']!.status).toBe('SYNCED'); // its endpoints were fine
    expect(logger.entries.some((e) => e.msg === 'proxy rejected config (NACK)' && (e['rejected'] as string[]).includes('pod_bad'))).toBe(true);

    // An unrelated change is pushed; pod_bad (unchanged) is not sent again: not with it (its
    // update names only pod_later) and not before it (the client validates each response as it
    // arrives, in the stream's order, so a re-sent pod_bad would have been NACKed by now).
    const updates: string[][] = [];
    const record = (u: XdsResourcesUpdate) => u.typeUrl === TYPE_URL.CLUSTER && updates.push(u.changed ?? []);
    client.on('resources', record);
    const later = nextUpdate(client, TYPE_URL.CLUSTER, (u) => (u.changed ?? []).includes('pod_later'));
    await writeManifest('later.yaml', podYaml('later', 'node-b', '10.77.2.68'));
    expect((await later).changed).toEqual(['pod_later']);
    expect(updates).toEqual([['pod_later']]);
    expect(nacks).toHaveLength(1);
    client.off('resources', record);

    // Once pod_bad is gone the proxy runs everything it should again.
    await rm(path.join(env!.configDir, 'bad.yaml'));
    await waitFor(() => istiod.ads.syncz()[0]?.types['CDS']?.status === 'SYNCED', { what: 'CDS SYNCED again' });
  });

  it('serves state-of-the-world and delta clients of one node from one cached generation', async () => {
    let generations = 0;
    const counting: XdsGenerator = {
      ...testGenerator,
      generate: (snapshot, proxy) => {
        generations += 1;
        return testGenerator.generate(snapshot, proxy);
      },
    };
    const { istiod, plaintextClient, writeManifest } = await start(new GeneratorRegistry([{ generator: counting, serves: () => true }]));
    const sotw = plaintextClient('node-a', { protocol: 'sotw' });
    const delta = plaintextClient('node-a', { protocol: 'delta', node: { ...proxyNode('node-a'), id: 'ztunnel~10.77.0.99~ztunnel-2~istio-system.svc.cluster.local' } });
    const ready = [nextUpdate(sotw, TYPE_URL.LISTENER), nextUpdate(delta, TYPE_URL.LISTENER)];
    sotw.start();
    delta.start();
    await Promise.all(ready);
    expect(generations).toBe(1);
    expect(istiod.ads.stats()).toMatchObject({ connections: 2, proxies: 2, scopes: 1 });
    const edited = [sotw, delta].map((c) => nextUpdate(c, TYPE_URL.LISTENER, (u) => filterChainNames(u).includes('inbound_10.77.1.11')));
    await writeManifest('productpage.yaml', podYaml('productpage', 'node-a', '10.77.1.11'));
    const [fromSotw, fromDelta] = await Promise.all(edited);
    expect(fromDelta!.resources).toEqual(fromSotw!.resources);
    expect(generations).toBe(2);
    expect(istiod.ads.syncz().map((row) => row.protocol).sort()).toEqual(['delta', 'sotw']);
  });

  it('serves two dialects on one server: a resource shared by every proxy is generated once per snapshot', async () => {
    const ROOT_SECRET = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';
    let sharedGenerations = 0;
    const shared: XdsGenerator = {
      name: 'mesh-wide',
      typeUrls: [ROOT_SECRET],
      scopeOf: () => '',
      generate: (snapshot: MeshSnapshot) => {
        sharedGenerations += 1;
        const secret: ResourceJson = { '@type': ROOT_SECRET, name: `pods-${snapshot.pods.size}` };
        return new Map([[ROOT_SECRET, new Map([[String(secret['name']), secret]])]]);
      },
    };
    const registry = new GeneratorRegistry([
      { generator: testGenerator, serves: () => true },
      { generator: shared, serves: () => true },
    ]);
    const { istiod, plaintextClient, writeManifest } = await start(registry);
    const types = [TYPE_URL.CLUSTER, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, TYPE_URL.LISTENER, ROOT_SECRET];
    const clients = ['node-a', 'node-b'].map((n) => plaintextClient(n, { protocol: 'delta', typeUrls: types }));
    const ready = clients.map((c) => nextUpdate(c, ROOT_SECRET));
    for (const c of clients) c.start();
    for (const update of await Promise.all(ready)) expect(update.resources).toEqual([{ '@type': ROOT_SECRET, name: 'pods-2' }]);
    await waitFor(() => clients.every((c) => c.current(TYPE_URL.LISTENER) !== undefined));
    expect(sharedGenerations).toBe(1);
    expect(istiod.ads.stats().scopes).toBe(3); // node-a, node-b, and one shared
    await waitFor(() => istiod.ads.syncz().every((row) => row.types['SDS']?.status === 'SYNCED'), { what: 'SDS SYNCED' });
    expect(istiod.ads.syncz()[0]!.types['SDS']).toMatchObject({ generator: 'mesh-wide', resources: 1 });

    const next = clients.map((c) => nextUpdate(c, ROOT_SECRET));
    await writeManifest('ratings.yaml', podYaml('ratings', 'node-b', '10.77.2.11'));
    for (const update of await Promise.all(next)) expect(update).toMatchObject({ changed: ['pods-3'], removed: ['pods-2'] });
    expect(sharedGenerations).toBe(2);
  });

  it('keeps the last good config when generation fails, and says so in syncz', async () => {
    const failing: XdsGenerator = {
      ...testGenerator,
      generate: (snapshot, proxy) => {
        if (snapshot.pods.has('default/explode')) throw new Error('generator bug: explode');
        return testGenerator.generate(snapshot, proxy);
      },
    };
    const { istiod, plaintextClient, writeManifest, logger } = await start(new GeneratorRegistry([{ generator: failing, serves: () => true }]));
    const client = plaintextClient('node-a', { protocol: 'delta' });
    const first = nextUpdate(client, TYPE_URL.CLUSTER);
    client.start();
    const before = await first;
    const next = nextUpdate(client, TYPE_URL.CLUSTER);
    await writeManifest('explode.yaml', podYaml('explode', 'node-a', '10.77.1.99'));
    await waitFor(() => logger.entries.some((e) => e.msg === 'xDS generation failed; the proxy keeps its previous config'), { what: 'failure logged' });
    expect(client.current(TYPE_URL.CLUSTER)!.version).toBe(before.version);
    expect(istiod.ads.syncz()[0]!.types['CDS']!.generationError?.message).toBe('generator bug: explode');

    // Sentinel: once explode is gone, the next generation works and is pushed; it is the first
    // update since the failure, so nothing of the failed generation reached the proxy.
    await rm(path.join(env!.configDir, 'explode.yaml'));
    await writeManifest('after.yaml', podYaml('after', 'node-a', '10.77.1.98'));
    expect((await next).changed).toEqual(['pod_after']);
  });
});

describe('per-proxy cache', () => {
  it('is pruned once a proxy has been gone for the idle TTL, and reused by one that comes back sooner', async () => {
    const { istiod, plaintextClient } = await start(undefined, { idleTtlMs: 300 });
    const clients = ['node-a', 'node-b'].flatMap((n, i) => [
      plaintextClient(n, { protocol: 'delta', node: { ...proxyNode(n), id: `ztunnel~10.77.0.${50 + i}~z-${n}~istio-system.svc.cluster.local` } }),
      plaintextClient(n, { protocol: 'sotw', node: { ...proxyNode(n), id: `waypoint~10.77.0.${60 + i}~w-${n}~default.svc.cluster.local` } }),
    ]);
    const synced = clients.map((c) => nextUpdate(c, TYPE_URL.LISTENER));
    for (const c of clients) c.start();
    await Promise.all(synced);
    expect(istiod.ads.stats()).toEqual({ connections: 4, proxies: 4, scopes: 2 });
    for (const c of clients) c.close();
    await waitFor(() => istiod.ads.stats().connections === 0, { what: 'streams closed' });
    expect(istiod.ads.prune()).toEqual({ scopes: 0, proxies: 0 }); // not yet: within the TTL
    expect(istiod.ads.stats()).toEqual({ connections: 0, proxies: 4, scopes: 2 });

    // node-a comes back within the TTL: its scope is reused, not generated again.
    const back = plaintextClient('node-a', { protocol: 'delta' });
    const again = nextUpdate(back, TYPE_URL.LISTENER);
    back.start();
    await again;
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(istiod.ads.prune()).toEqual({ scopes: 1, proxies: 4 });
    expect(istiod.ads.stats()).toEqual({ connections: 1, proxies: 1, scopes: 1 });
  });

  it('does not grow with proxies that come and go', async () => {
    const { istiod, plaintextClient } = await start(undefined, { idleTtlMs: 100 });
    for (let round = 0; round < 3; round++) {
      const batch = Array.from({ length: 5 }, (_, i) =>
        plaintextClient(i % 2 ? 'node-a' : 'node-b', { protocol: i % 2 ? 'delta' : 'sotw', node: { ...proxyNode(i % 2 ? 'node-a' : 'node-b'), id: `waypoint~10.1.${round}.${i}~p${i}~default.svc.cluster.local` } }),
      );
      const synced = batch.map((c) => nextUpdate(c, TYPE_URL.CLUSTER));
      for (const c of batch) c.start();
      await Promise.all(synced);
      for (const c of batch) c.close();
      await waitFor(() => istiod.ads.stats().connections === 0);
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
    istiod.ads.prune();
    expect(istiod.ads.stats()).toEqual({ connections: 0, proxies: 0, scopes: 0 });
  });
});

describe('state of the world beside delta', () => {
  it('honours resource names on a state-of-the-world subscription (Envoy EDS)', async () => {
    const { istiod } = await start();
    const raw = rawAdsStream(istiod.ports.xds!);
    try {
      raw.send({ version_info: '', node, resource_names: ['pod_sleep'], type_url: TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, response_nonce: '' });
      await waitFor(() => raw.responses.length === 1);
      expect(raw.responses[0]!.resources.map((any) => decodeResource(any)['cluster_name'])).toEqual(['pod_sleep']);
      const first = raw.responses[0]!;
      raw.send({ version_info: first.version_info, node, resource_names: ['pod_sleep', 'pod_reviews-v1'], type_url: TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, response_nonce: first.nonce });
      await waitFor(() => raw.responses.length === 2);
      expect(raw.responses[1]!.resources.map((any) => decodeResource(any)['cluster_name']).sort()).toEqual(['pod_reviews-v1', 'pod_sleep']);
    } finally {
      raw.close();
    }
  });
});
