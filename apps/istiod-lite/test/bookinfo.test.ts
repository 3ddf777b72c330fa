import { afterEach, describe, expect, it } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { TYPE_URL } from '@mesh/xds';
import { meshGenerators } from '../src/xds/proxy-resources.js';
import { nextUpdate, startTestIstiod, waitFor } from './helpers.js';
import type { TestIstiod } from './helpers.js';

const BOOKINFO_DIR = fileURLToPath(new URL('../../../examples/bookinfo', import.meta.url));

let env: TestIstiod | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

describe('istiod-lite with the real generator on examples/bookinfo', () => {
  it('serves node-a the Envoy-shaped ztunnel config over ADS, and the proxy ACKs it', async () => {
    const files: Record<string, string> = {};
    for (const name of await readdir(BOOKINFO_DIR)) {
      if (name.endsWith('.yaml')) files[name] = await readFile(path.join(BOOKINFO_DIR, name), 'utf8');
    }
    env = await startTestIstiod(files, meshGenerators);
    const client = env.plaintextClient('node-a');
    const listeners = nextUpdate(client, TYPE_URL.LISTENER);
    client.start();
    const names = (await listeners).resources.map((r) => r['name'] as string);
    expect(names).toEqual(expect.arrayContaining(['ztunnel_outbound', 'ztunnel_inbound', 'ztunnel_inbound_plaintext']));
    expect(names.some((n) => n.startsWith('outbound_tunnel_lis_spiffe://cluster.local/ns/default/sa/'))).toBe(true);
    await waitFor(() => client.current(TYPE_URL.CLUSTER) !== undefined && client.current(TYPE_URL.CLUSTER_LOAD_ASSIGNMENT) !== undefined);
    const clusters = client.current(TYPE_URL.CLUSTER)!.resources.map((r) => r['name'] as string);
    expect(clusters).toEqual(expect.arrayContaining(['virtual_inbound', 'BlackHoleCluster', 'PassthroughCluster']));
    expect(clusters.some((n) => n.endsWith('_outbound_internal'))).toBe(true);
    await waitFor(() => Object.values(env!.istiod.ads.syncz()[0]?.types ?? {}).every((t) => t.ackedVersion === t.sentVersion && t.ackedVersion));
  });
});
