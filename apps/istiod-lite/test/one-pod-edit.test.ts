/**
 * What a ztunnel sees of an edit in the workload dialect, over a live server and a watched
 * config directory (the path the scale bench measures): adding one pod sends a delta client that
 * pod's Address and nothing else, removing it sends exactly that removal, and an edit to a
 * Service still reaches every resource it affects (the Service and the Workloads it selects).
 * A state-of-the-world client of the same types gets the full set each time, the same set the
 * delta client has built up.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TYPE_URL, type XdsClient, type XdsResourcesUpdate } from '@mesh/xds';
import { meshGenerators } from '../src/xds/proxy-resources.js';
import { startTestIstiod, waitFor, type TestIstiod } from './helpers.js';

const BOOKINFO = join(import.meta.dirname, '../../../examples/bookinfo');
const bookinfo = Object.fromEntries(readdirSync(BOOKINFO).filter((f) => f.endsWith('.yaml')).map((f) => [f, readFileSync(join(BOOKINFO, f), 'utf8')]));
const WORKLOAD_TYPES = [TYPE_URL.ADDRESS, TYPE_URL.AUTHORIZATION];
const RATINGS_V2 = 'Kubernetes//Pod/default/ratings-v2';
const RATINGS_V1 = 'Kubernetes//Pod/default/ratings-v1';
const RATINGS_SERVICE = 'default/ratings.default.svc.cluster.local';
const POD = `apiVersion: v1
kind: Pod
metadata:
  name: ratings-v2
  namespace: default
  labels: {app: ratings, version: v2}
spec:
  serviceAccountName: bookinfo-ratings
  nodeName: node-a
  containers: [{name: ratings, ports: [{name: http, containerPort: 9080}]}]
status:
  phase: Running
  podIP: 10.77.1.99
`;

let env: TestIstiod | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

/** The resources' names, as the client holds them. */
const names = (client: XdsClient, typeUrl: string) =>
  (client.current(typeUrl)?.resources ?? []).map((r) => {
    const body = (r['workload'] ?? r['service']) as { uid?: string; namespace?: string; hostname?: string } | undefined;
    return body ? (body.uid ?? `${body.namespace}/${body.hostname}`) : `${String(r['namespace'])}/${String(r['name'])}`;
  });

describe('a one-pod edit in the workload dialect', () => {
  it('sends a delta client exactly that pod, then exactly its removal, and a Service edit still reaches what it affects', async () => {
    env = await startTestIstiod(bookinfo, meshGenerators);
    const delta = env.plaintextClient('node-a', { protocol: 'delta', typeUrls: WORKLOAD_TYPES });
    const sotw = env.plaintextClient('node-b', { protocol: 'sotw', typeUrls: WORKLOAD_TYPES });
    const updates: XdsResourcesUpdate[] = [];
    delta.on('resources', (u: XdsResourcesUpdate) => updates.push(u));
    delta.start();
    sotw.start();
    await waitFor(() => [delta, sotw].every((c) => WORKLOAD_TYPES.every((t) => c.current(t) !== undefined)), { what: 'both clients have both types' });
    const initial = names(delta, TYPE_URL.ADDRESS);
    expect(names(sotw, TYPE_URL.ADDRESS).sort()).toEqual([...initial].sort());
    const edits = () => ({
      changed: updates.flatMap((u) => (u.changed ?? []).map((n) => `${u.typeUrl === TYPE_URL.ADDRESS ? '' : 'authz:'}${n}`)).sort(),
      removed: updates.flatMap((u) => u.removed ?? []).sort(),
    });
    // The state-of-the-world client has the full set, and it is what the delta client built up.
    const sameFullSet = () => names(sotw, TYPE_URL.ADDRESS).sort().join() === names(delta, TYPE_URL.ADDRESS).sort().join();

    updates.length = 0;
    await env.writeManifest('ratings-v2.yaml', POD);
    await waitFor(() => names(delta, TYPE_URL.ADDRESS).includes(RATINGS_V2) && names(sotw, TYPE_URL.ADDRESS).includes(RATINGS_V2), { what: 'the added pod at both clients' });
    await waitFor(sameFullSet, { what: 'the same full set' });
    expect(edits()).toEqual({ changed: [RATINGS_V2], removed: [] });
    expect(names(sotw, TYPE_URL.ADDRESS).length).toBe(initial.length + 1);

    updates.length = 0;
    await rm(join(env.configDir, 'ratings-v2.yaml'));
    await waitFor(() => !names(delta, TYPE_URL.ADDRESS).includes(RATINGS_V2) && !names(sotw, TYPE_URL.ADDRESS).includes(RATINGS_V2), { what: 'the removal at both clients' });
    await waitFor(sameFullSet, { what: 'the same full set' });
    expect(edits()).toEqual({ changed: [], removed: [RATINGS_V2] });
    expect(names(sotw, TYPE_URL.ADDRESS).sort()).toEqual([...initial].sort());

    // A Service edit: its Address and the Workload of every pod it selects (their service ports).
    updates.length = 0;
    const ratings = await env.readManifest('ratings.yaml');
    await env.writeManifest('ratings.yaml', ratings.replace('port: 9080', 'port: 9081'));
    await waitFor(() => edits().changed.length >= 2, { what: 'the Service edit at the delta client' });
    expect(edits()).toEqual({ changed: [RATINGS_V1, RATINGS_SERVICE].sort(), removed: [] });
    const service = delta.current(TYPE_URL.ADDRESS)!.resources.find((r) => (r['service'] as { hostname?: string } | undefined)?.hostname === 'ratings.default.svc.cluster.local');
    expect(service?.['service']).toMatchObject({ ports: [{ service_port: 9081, target_port: 9080 }] });
    const pod = delta.current(TYPE_URL.ADDRESS)!.resources.find((r) => (r['workload'] as { uid?: string } | undefined)?.uid === RATINGS_V1);
    expect(pod?.['workload']).toMatchObject({ services: { [RATINGS_SERVICE]: { ports: [{ service_port: 9081, target_port: 9080 }] } } });
    await waitFor(() => {
      const s = sotw.current(TYPE_URL.ADDRESS)!.resources.find((r) => (r['service'] as { hostname?: string } | undefined)?.hostname === 'ratings.default.svc.cluster.local');
      return (s?.['service'] as { ports?: { service_port: number }[] } | undefined)?.ports?.[0]?.service_port === 9081;
    }, { what: 'the Service edit at the state-of-the-world client' });
  });
});
