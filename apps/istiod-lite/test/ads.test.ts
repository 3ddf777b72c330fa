import { afterEach, describe, expect, it } from 'vitest';
import { TYPE_URL } from '@mesh/xds';
import type { XdsNack } from '@mesh/xds';
import { nextEvent } from '@mesh/testing';
import type { XdsClient } from '@mesh/xds';
import { MESH_YAML, filterChainNames, nextUpdate, podYaml, proxyNode, rawAdsStream, startTestIstiod, waitFor } from './helpers.js';
import type { TestIstiod } from './helpers.js';

let env: TestIstiod | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

async function start() {
  env = await startTestIstiod({
    'mesh.yaml': MESH_YAML,
    'sleep.yaml': podYaml('sleep', 'node-a', '10.77.1.10'),
    'reviews.yaml': podYaml('reviews-v1', 'node-b', '10.77.2.10', 'reviews'),
  });
  return env;
}

/**
 * Resolves once everything istiod pushed before it has reached the client: an unrelated edit (a
 * new pod on node-b changes node-a's CDS, not its LDS) is pushed after it on the same, ordered
 * stream. Instead of sleeping and hoping before asserting that something was *not* pushed.
 */
let barriers = 0;
async function pushBarrier(client: XdsClient): Promise<void> {
  const name = `barrier-${++barriers}`;
  const arrived = nextUpdate(client, TYPE_URL.CLUSTER, (u) => u.resources.some((r) => r['name'] === `pod_${name}`));
  await env!.writeManifest(`${name}.yaml`, podYaml(name, 'node-b', `10.77.2.${200 + barriers}`));
  await arrived;
}

async function getJson(port: number, pathname: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`http://127.0.0.1:${port}${pathname}`);
  return { status: response.status, body: await response.json() };
}

describe('ADS server', () => {
  it('serves CDS, EDS and LDS for the proxy node and records the ACKs in syncz', async () => {
    const { istiod, plaintextClient } = await start();
    const metadata = { NODE_NAME: 'node-a', ADMIN_ADDRESS: '10.77.0.11:15000' };
    const client = plaintextClient('node-a', { node: { ...proxyNode('node-a'), metadata } });
    const listeners = nextUpdate(client, TYPE_URL.LISTENER);
    client.start();
    expect(filterChainNames(await listeners)).toEqual(['inbound_10.77.1.10']); // only node-a's pod
    await waitFor(() => client.current(TYPE_URL.CLUSTER) !== undefined && client.current(TYPE_URL.CLUSTER_LOAD_ASSIGNMENT) !== undefined);
    expect(client.current(TYPE_URL.CLUSTER)!.resources.map((c) => c['name'])).toEqual(['pod_reviews-v1', 'pod_sleep']);

    await waitFor(async () => {
      const { body } = await getJson(istiod.ports.debug, '/debug/syncz');
      return body.length === 1 && Object.values(body[0].types).every((t: any) => t.ackedVersion && t.ackedVersion === t.sentVersion);
    }, 5_000, 'all three types ACKed in syncz');
    const { body: syncz } = await getJson(istiod.ports.debug, '/debug/syncz');
    expect(syncz[0]).toMatchObject({ proxyId: proxyNode('node-a').id, nodeName: 'node-a', verified: false, secure: false, metadata, adminAddress: '10.77.0.11:15000' });
    expect(Object.keys(syncz[0].types)).toEqual(['CDS', 'EDS', 'LDS']);
    expect(syncz[0].types.LDS.ackedVersion).toBe(client.current(TYPE_URL.LISTENER)!.version);
    // istioctl proxy-status's CLUSTER and ISTIOD: istiod's default cluster when the proxy names none; no version it did not send.
    expect(syncz[0]).toMatchObject({ clusterId: 'Kubernetes', istiod: 'istiod-lite' });
    expect(syncz[0]).not.toHaveProperty('istioVersion');
  });

  it("shows a proxy's CLUSTER_ID and ISTIO_VERSION metadata in syncz, as istioctl proxy-status reads them", async () => {
    const { istiod, plaintextClient } = await start();
    const client = plaintextClient('node-a', { node: { ...proxyNode('node-a'), metadata: { NODE_NAME: 'node-a', CLUSTER_ID: 'east', ISTIO_VERSION: '1.2.3' } } });
    client.start();
    await waitFor(() => istiod.ads.syncz().length === 1, 5_000, 'the proxy in syncz');
    const { body: syncz } = await getJson(istiod.ports.debug, '/debug/syncz');
    expect(syncz[0]).toMatchObject({ clusterId: 'east', istioVersion: '1.2.3', istiod: 'istiod-lite' });
  });

  it('pushes a manifest edit to a connected client promptly', async () => {
    const { plaintextClient, writeManifest } = await start();
    const client = plaintextClient('node-a');
    const first = nextUpdate(client, TYPE_URL.LISTENER);
    client.start();
    await first;
    const updated = nextUpdate(client, TYPE_URL.LISTENER, (u) => filterChainNames(u).includes('inbound_10.77.1.11'));
    const editedAt = performance.now();
    await writeManifest('productpage.yaml', podYaml('productpage', 'node-a', '10.77.1.11'));
    await updated;
    // Debounce (100 ms) plus generation: well under a second on an idle machine, measured by
    // `pnpm bench push`. The bound here tells a push on the edit from none, and stays clear of
    // a busy machine.
    expect(performance.now() - editedAt).toBeLessThan(5_000);
  });

  it('does not push to a proxy whose resources did not change', async () => {
    const { istiod, plaintextClient, writeManifest } = await start();
    const client = plaintextClient('node-a');
    const first = nextUpdate(client, TYPE_URL.LISTENER);
    client.start();
    await first;
    let listenerPushes = 0;
    client.on('resources', (u) => u.typeUrl === TYPE_URL.LISTENER && listenerPushes++);
    const clusters = nextUpdate(client, TYPE_URL.CLUSTER, (u) => u.resources.length === 3);
    await writeManifest('ratings.yaml', podYaml('ratings', 'node-b', '10.77.2.11')); // another node's pod: CDS/EDS change, LDS does not
    await clusters;
    await istiod.source.reload();
    await pushBarrier(client);
    expect(listenerPushes).toBe(0);
  });

  it('records a NACK in syncz, keeps the ACKed version and does not resend the rejected version', async () => {
    const { istiod, plaintextClient, writeManifest, logger } = await start();
    const client = plaintextClient('node-a', {
      validate: (u) => (filterChainNames(u).includes('inbound_10.77.1.66') ? 'filter chain inbound_10.77.1.66: unsupported' : undefined),
    });
    const first = nextUpdate(client, TYPE_URL.LISTENER);
    client.start();
    const accepted = await first;
    await waitFor(() => istiod.ads.syncz()[0]?.types['LDS']?.ackedVersion === accepted.version);
    const nacks: XdsNack[] = [];
    client.on('nack', (nack: XdsNack) => nacks.push(nack));
    const nacked = nextEvent(client, 'nack');
    await writeManifest('bad-pod.yaml', podYaml('bad', 'node-a', '10.77.1.66'));
    await nacked;
    await waitFor(() => istiod.ads.syncz()[0]?.types['LDS']?.lastNack !== undefined, 5_000, 'NACK recorded');
    const lds = istiod.ads.syncz()[0]!.types['LDS']!;
    expect(lds.lastNack!.message).toBe('filter chain inbound_10.77.1.66: unsupported');
    expect(lds.ackedVersion).toBe(accepted.version);
    expect(lds.sentVersion).toBe(lds.lastNack!.version);
    expect(istiod.ads.syncz()[0]!.types['LDS']).toMatchObject({ ackedVersion: accepted.version });

    // Neither a new snapshot with the same content for this proxy nor a reconnect resends it.
    istiod.ads.pushAll();
    await writeManifest('ratings.yaml', podYaml('ratings', 'node-b', '10.77.2.11'));
    await nextUpdate(client, TYPE_URL.CLUSTER, (u) => u.resources.some((r) => r['name'] === 'pod_ratings'));
    await pushBarrier(client);
    expect(nacks).toHaveLength(1);
    expect(client.current(TYPE_URL.LISTENER)!.version).toBe(accepted.version);
    expect(logger.entries.some((e) => e.msg === 'proxy rejected config (NACK)' && (e['error_detail'] as { message: string }).message.includes('unsupported'))).toBe(true);

    // Reconnecting while still running the accepted version: the rejected LDS is not resent.
    const raw = rawAdsStream(istiod.ports.xds!);
    try {
      const node = proxyNode('node-a');
      raw.send({ version_info: client.current(TYPE_URL.CLUSTER)!.version, node, resource_names: [], type_url: TYPE_URL.CLUSTER, response_nonce: '' });
      raw.send({ version_info: accepted.version, node, resource_names: [], type_url: TYPE_URL.LISTENER, response_nonce: '' });
      await waitFor(() => raw.responses.some((r) => r.type_url === TYPE_URL.CLUSTER), { what: 'CDS on the new stream' });
      // The stream answers requests in order: once EDS (asked last) is answered, a resent LDS would have come.
      raw.send({ version_info: '', node, resource_names: [], type_url: TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, response_nonce: '' });
      await waitFor(() => raw.responses.some((r) => r.type_url === TYPE_URL.CLUSTER_LOAD_ASSIGNMENT), { what: 'EDS on the new stream' });
      expect(raw.responses.filter((r) => r.type_url === TYPE_URL.LISTENER)).toEqual([]);
    } finally {
      raw.close();
    }

    // A restarted proxy that runs nothing gets the current state (once per stream, not a loop).
    const restarted = rawAdsStream(istiod.ports.xds!);
    try {
      restarted.send({ version_info: '', node: proxyNode('node-a'), resource_names: [], type_url: TYPE_URL.LISTENER, response_nonce: '' });
      await waitFor(() => restarted.responses.some((r) => r.type_url === TYPE_URL.LISTENER), { what: 'LDS for a proxy running nothing' });
    } finally {
      restarted.close();
    }
  });

  it('serves many proxies at once, each its own node\'s config', async () => {
    const { plaintextClient, writeManifest } = await start();
    const clients = Array.from({ length: 10 }, (_, i) => {
      const nodeName = i % 2 === 0 ? 'node-a' : 'node-b';
      const node = { ...proxyNode(nodeName), id: `ztunnel~10.77.0.${100 + i}~ztunnel-${i}~istio-system.svc.cluster.local` };
      return { nodeName, client: plaintextClient(nodeName, { node }) };
    });
    const initial = clients.map(({ client }) => nextUpdate(client, TYPE_URL.LISTENER));
    for (const { client } of clients) client.start();
    await Promise.all(initial);
    const afterEdit = clients
      .filter(({ nodeName }) => nodeName === 'node-a')
      .map(({ client }) => nextUpdate(client, TYPE_URL.LISTENER, (u) => filterChainNames(u).includes('inbound_10.77.1.11')));
    await writeManifest('productpage.yaml', podYaml('productpage', 'node-a', '10.77.1.11'));
    await Promise.all(afterEdit);
    for (const { client, nodeName } of clients) {
      const chains = filterChainNames({ typeUrl: TYPE_URL.LISTENER, ...client.current(TYPE_URL.LISTENER)! });
      expect(chains).toEqual(nodeName === 'node-a' ? ['inbound_10.77.1.10', 'inbound_10.77.1.11'] : ['inbound_10.77.2.10']);
    }
  });

  it('gives a reconnecting proxy the current state', async () => {
    const { istiod, plaintextClient, writeManifest } = await start();
    const first = plaintextClient('node-a');
    const initial = nextUpdate(first, TYPE_URL.LISTENER);
    first.start();
    await initial;
    first.close();
    await writeManifest('productpage.yaml', podYaml('productpage', 'node-a', '10.77.1.11'));
    await waitFor(() => istiod.source.current().podByIp('10.77.1.11'), { what: 'istiod-lite read the edit' });
    const second = plaintextClient('node-a');
    const current = nextUpdate(second, TYPE_URL.LISTENER);
    second.start();
    expect(filterChainNames(await current)).toEqual(['inbound_10.77.1.10', 'inbound_10.77.1.11']);
  });

  it('keeps serving the previous config when a manifest is malformed, and reports file:line', async () => {
    const { istiod, plaintextClient, writeManifest, logger, configDir } = await start();
    const client = plaintextClient('node-a');
    const first = nextUpdate(client, TYPE_URL.LISTENER);
    client.start();
    const before = await first;
    let listenerPushes = 0;
    client.on('resources', (u) => u.typeUrl === TYPE_URL.LISTENER && listenerPushes++);
    // sleep.yaml keeps its last good content; a valid edit elsewhere still applies.
    await writeManifest('sleep.yaml', podYaml('sleep', 'node-a', '10.77.1.10').replace('nodeName: node-a', 'nodeName: [node-a'));
    await waitFor(() => logger.entries.some((e) => e.level === 'warn' && String(e.msg).includes('sleep.yaml:')), { what: 'error logged' });
    const problem = logger.entries.find((e) => e.level === 'warn' && String(e.msg).includes('sleep.yaml:'))!;
    expect(problem['file']).toBe(`${configDir}/sleep.yaml`);
    expect(problem['line']).toBeGreaterThan(1);
    expect(String(problem.msg)).toMatch(/sleep\.yaml:\d+:\d+/);
    await pushBarrier(client);
    expect(listenerPushes).toBe(0);
    expect(client.current(TYPE_URL.LISTENER)!.version).toBe(before.version);
    const { body: problems } = await getJson(istiod.ports.debug, '/debug/config_problems');
    expect(problems[0].text).toMatch(/sleep\.yaml:\d+:\d+/);

    const withProductpage = nextUpdate(client, TYPE_URL.LISTENER, (u) => filterChainNames(u).includes('inbound_10.77.1.11'));
    await writeManifest('productpage.yaml', podYaml('productpage', 'node-a', '10.77.1.11'));
    expect(filterChainNames(await withProductpage)).toEqual(['inbound_10.77.1.10', 'inbound_10.77.1.11']);
  });

  it('serves /debug/config_dump for a connected proxy and /ready', async () => {
    const { istiod, plaintextClient } = await start();
    const client = plaintextClient('node-a');
    const first = nextUpdate(client, TYPE_URL.LISTENER);
    client.start();
    await first;
    const { status, body } = await getJson(istiod.ports.debug, `/debug/config_dump?proxyID=${encodeURIComponent(proxyNode('node-a').id)}`);
    expect(status).toBe(200);
    expect(body.configs.map((c: { '@type': string }) => c['@type'].split('.').pop())).toEqual([
      'ClustersConfigDump',
      'ListenersConfigDump',
      'EndpointsConfigDump',
      'SecretsConfigDump',
    ]);
    expect(body.configs[1].dynamic_listeners[0].active_state.listener.name).toBe('ztunnel_inbound');
    expect((await getJson(istiod.ports.debug, '/debug/config_dump?proxyID=nobody')).status).toBe(404);
    expect((await getJson(istiod.ports.debug, '/ready')).status).toBe(200);
  });
});

describe('ADS over mTLS (15012)', () => {
  it('identifies the node from the bootstrap certificate', async () => {
    const { istiod, secureCredentials } = await start();
    const { XdsClient } = await import('@mesh/xds');
    const client = new XdsClient({ target: `127.0.0.1:${istiod.ports.xdsTls}`, node: proxyNode('node-b'), credentials: await secureCredentials('node-b') });
    const listeners = nextUpdate(client, TYPE_URL.LISTENER);
    client.start();
    try {
      expect(filterChainNames(await listeners)).toEqual(['inbound_10.77.2.10']);
      expect(istiod.ads.syncz()[0]).toMatchObject({ nodeName: 'node-b', verified: true, secure: true });
    } finally {
      client.close();
    }
  });

  it('refuses a proxy that claims another node than its certificate names', async () => {
    const { istiod, secureCredentials } = await start();
    const { XdsClient } = await import('@mesh/xds');
    const client = new XdsClient({
      target: `127.0.0.1:${istiod.ports.xdsTls}`,
      node: proxyNode('node-b', 'node-a'),
      credentials: await secureCredentials('node-b'),
      initialBackoffMs: 5_000,
    });
    const [error] = (await (async () => {
      const disconnected = nextEvent(client, 'disconnected');
      client.start();
      return disconnected;
    })()) as [Error & { code?: number; details?: string }];
    client.close();
    expect(error.code).toBe(7); // PERMISSION_DENIED
    expect(error.details).toMatch(/claims NODE_NAME node-a but its certificate is for node node-b/);
    expect(client.current(TYPE_URL.LISTENER)).toBeUndefined();
  });
});
