/**
 * istiod-lite serves Istio's workload API over delta ADS from the sample mesh: a ztunnel that
 * subscribes to Address and Authorization gets them (the same for every node, one scope), an
 * Envoy-dialect ztunnel on the same server keeps getting the Envoy shapes, an edit pushes only
 * the resources it touched, and Istio's own Go client (tools/workloadapi-check, go-control-plane's
 * ADS client + Istio's generated types) reads what is served over a live delta stream.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TYPE_URL, type XdsResourcesUpdate } from '@mesh/xds';
import { meshGenerators } from '../src/xds/proxy-resources.js';
import { generateWorkloadResources } from '../src/xds/generate/workload/index.js';
import { snapshotOf } from './golden/golden-files.js';
import { startTestIstiod, waitFor, type TestIstiod } from './helpers.js';
import { NOT_BUILT_REASON, WORKLOADAPI_CHECK_BUILT, istioDeltaSubscribe } from './workloadapi-check.js';

const EXAMPLES = join(import.meta.dirname, '../../../examples');
const bookinfo = Object.fromEntries(readdirSync(join(EXAMPLES, 'bookinfo')).filter((f) => f.endsWith('.yaml')).map((f) => [f, readFileSync(join(EXAMPLES, 'bookinfo', f), 'utf8')]));
const DENY = readFileSync(join(EXAMPLES, 'policies/deny-sleep-to-ratings.yaml'), 'utf8');
const WORKLOAD_TYPES = [TYPE_URL.ADDRESS, TYPE_URL.AUTHORIZATION];

let env: TestIstiod | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

describe('the workload dialect over delta ADS', () => {
  it('serves Address and Authorization to a workload-dialect ztunnel beside an Envoy-dialect one, and pushes only what an edit touched', async () => {
    env = await startTestIstiod(bookinfo, meshGenerators);
    const expected = generateWorkloadResources(snapshotOf('bookinfo'));
    const workload = env.plaintextClient('node-a', { protocol: 'delta', typeUrls: WORKLOAD_TYPES });
    const envoy = env.plaintextClient('node-b', { protocol: 'delta' });
    const updates: XdsResourcesUpdate[] = [];
    workload.on('resources', (u: XdsResourcesUpdate) => updates.push(u));
    workload.start();
    envoy.start();
    await waitFor(() => workload.current(TYPE_URL.ADDRESS) !== undefined && workload.current(TYPE_URL.AUTHORIZATION) !== undefined, { what: 'workload types' });
    expect(workload.current(TYPE_URL.ADDRESS)!.resources).toEqual([...expected.addresses.values()]);
    expect(workload.current(TYPE_URL.AUTHORIZATION)!.resources).toEqual([]);
    expect(workload.current(TYPE_URL.LISTENER)).toBeUndefined();
    await waitFor(() => envoy.current(TYPE_URL.LISTENER) !== undefined, { what: 'envoy types' });
    expect(envoy.current(TYPE_URL.LISTENER)!.resources.map((l) => l['name'])).toContain('ztunnel_outbound');
    await waitFor(() => env!.istiod.ads.syncz().length === 2 && env!.istiod.ads.syncz().every((row) => Object.values(row.types).every((t) => t.status === 'SYNCED')), { what: 'both SYNCED' });
    const rows = env.istiod.ads.syncz();
    expect(rows.find((r) => r.nodeName === 'node-a')!.types['WDS']).toMatchObject({ generator: 'workload' });

    updates.length = 0;
    await env.writeManifest('deny.yaml', DENY);
    await waitFor(() => (workload.current(TYPE_URL.AUTHORIZATION)?.resources.length ?? 0) === 1 && updates.some((u) => u.typeUrl === TYPE_URL.ADDRESS), { what: 'the policy and the workload it selects' });
    const changed = updates.flatMap((u) => u.changed ?? []).sort();
    expect(changed).toEqual(['Kubernetes//Pod/default/ratings-v1', 'default/deny-sleep']);
    const ratings = workload.current(TYPE_URL.ADDRESS)!.resources.find((r) => (r['workload'] as { uid?: string } | undefined)?.uid === 'Kubernetes//Pod/default/ratings-v1')!;
    expect(ratings['workload']).toMatchObject({ authorization_policies: ['default/deny-sleep'] });
  });

  it.skipIf(!WORKLOADAPI_CHECK_BUILT)(`Istio's Go client subscribes over delta and decodes every resource with Istio's types${NOT_BUILT_REASON}`, async () => {
    env = await startTestIstiod({ ...bookinfo, 'deny.yaml': DENY }, meshGenerators);
    const expected = generateWorkloadResources(snapshotOf('bookinfo', 'policies/deny-sleep-to-ratings.yaml'));
    const views = await istioDeltaSubscribe(`127.0.0.1:${env.istiod.ports.xds}`, 'node-a');
    for (const view of views) {
      expect(view.error, view.name).toBeUndefined();
      expect(view.unknown, view.name).toEqual([]);
    }
    const byName = new Map(views.map((v) => [v.name, v]));
    expect([...byName.keys()].sort()).toEqual([...expected.addresses.keys(), ...expected.authorizations.keys()].sort());
    for (const [name, resource] of [...expected.addresses, ...expected.authorizations]) {
      const { '@type': typeUrl, ...json } = resource;
      expect(byName.get(name)).toMatchObject({ type_url: typeUrl, json });
    }
  });
});
