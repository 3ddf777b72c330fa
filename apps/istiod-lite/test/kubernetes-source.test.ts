/**
 * istiod-lite --config-source kubernetes against a real kube-apiserver and etcd on loopback
 * (kube-cluster.ts), with Istio's and Gateway API's real CRDs installed, reading as the
 * `istiod-lite` user with only the ClusterRole below: the sample mesh created through the API
 * gives the snapshot the directory source gives for the same manifests; adds, edits and deletes
 * reach a connected proxy; a Service with EndpointSlices takes its endpoints from them; status
 * (HTTPRoute parents, the waypoint Gateway's conditions) is written back only when it changes; an
 * object the API accepts and the mesh cannot use is reported by name and field and hides nothing
 * else; a watch dropped by an API server restart resumes, and a resourceVersion compacted away
 * (410 Gone) relists.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAllYaml } from '@kubernetes/client-node';
import { buildSnapshot, parseManifestFiles } from '@mesh/mesh-model';
import type { MeshSnapshot } from '@mesh/mesh-model';
import { XdsClient, TYPE_URL } from '@mesh/xds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, startIstiod, createMemoryLogger, KubernetesConfigSource, loadKubeConfig } from '../src/index.js';
import type { Istiod } from '../src/index.js';
import { kubeToolsMissing, startKubeCluster, type ApiObject, type KubeCluster } from './kube-cluster.js';
import { TRUST_DOMAIN, filterChainNames, nextUpdate, proxyNode, testGenerators, waitFor } from './helpers.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));
/** The sample mesh: bookinfo, its STRICT mTLS and an ALLOW policy, and the waypoint example (a Gateway and an HTTPRoute). */
const SAMPLE_FILES = [
  ...readdirSync(path.join(EXAMPLES, 'bookinfo'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => path.join(EXAMPLES, 'bookinfo', f)),
  path.join(EXAMPLES, 'policies', 'strict-mtls.yaml'),
  path.join(EXAMPLES, 'policies', 'allow-productpage-to-reviews.yaml'),
  path.join(EXAMPLES, 'waypoint', 'echo.yaml'),
];

/** What istiod-lite needs and nothing more: read and watch the kinds it turns into the mesh, record Events. */
const ISTIOD_CLUSTER_ROLE = {
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRole',
  metadata: { name: 'istiod-lite' },
  rules: [
    { apiGroups: [''], resources: ['namespaces', 'serviceaccounts', 'nodes', 'pods', 'services'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['security.istio.io'], resources: ['authorizationpolicies', 'peerauthentications'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['gateway.networking.k8s.io'], resources: ['gateways', 'httproutes', 'referencegrants'], verbs: ['get', 'list', 'watch'] },
    // Status written back (Accepted, ResolvedRefs, Programmed) through the status subresource only.
    { apiGroups: ['gateway.networking.k8s.io'], resources: ['gateways/status', 'httproutes/status'], verbs: ['patch'] },
    { apiGroups: ['security.istio.io'], resources: ['authorizationpolicies/status'], verbs: ['patch'] },
    // A Warning Event on each object the mesh cannot use.
    { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] },
  ],
};

const missing = kubeToolsMissing();

type Manifest = ApiObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

function sampleObjects(): Manifest[] {
  return SAMPLE_FILES.flatMap((file) => loadAllYaml(readFileSync(file, 'utf8')) as Manifest[]).filter(Boolean);
}

/** The manifest as a user creates it: no status (the kubelet's), and an image (the API requires one; no container runs here). */
function forCreate(object: Manifest): Manifest {
  const { status: _status, ...rest } = object;
  if (object.kind !== 'Pod') return rest;
  const spec = object.spec as { containers: Array<Record<string, unknown>> };
  return { ...rest, spec: { ...spec, containers: spec.containers.map((c) => ({ image: 'registry.invalid/sample:1', ...c })) } };
}

function pod(name: string, node: string, labels: Record<string, string>, namespace = 'default'): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: { nodeName: node, serviceAccountName: name, containers: [{ name: 'app', image: 'registry.invalid/sample:1', ports: [{ name: 'http', containerPort: 9080 }] }] },
  };
}

/** The API server's own objects, which no manifest declares. */
const isApiServersOwn = (namespace: string, name?: string) => namespace.startsWith('kube-') || (namespace === 'default' && name === 'kubernetes');

/** What the mesh uses of a snapshot, comparable across sources (no source locations, not the API server's own objects). */
function meshView(snapshot: MeshSnapshot) {
  const keys = (map: ReadonlyMap<string, unknown>) => [...map.keys()].sort();
  return {
    namespaces: keys(snapshot.namespaces).filter((name) => !isApiServersOwn(name)),
    nodes: [...snapshot.nodes.values()].map((n) => `${n.name} ${n.address}`).sort(),
    pods: [...snapshot.pods.values()].map((p) => `${p.namespace}/${p.name} ${p.nodeName} ${p.podIP} ${p.serviceAccountName} ready=${p.ready}`).sort(),
    endpoints: [...snapshot.services.values()]
      .filter((s) => !isApiServersOwn(s.namespace, s.name))
      .map((s) => `${s.namespace}/${s.name} ${s.clusterIP}: ${snapshot.endpointsOf(s).map((e) => `${e.address}:${e.targetPort}`).sort().join(',')}`).sort(),
    authorizationPolicies: [...snapshot.authorizationPolicies.values()].map((p) => `${p.namespace}/${p.name} ${p.action} ${JSON.stringify(p.rules)}`).sort(),
    peerAuthentications: [...snapshot.peerAuthentications.values()].map((p) => `${p.namespace}/${p.name} ${p.mtlsMode} ${JSON.stringify(p.portLevelMtls)}`).sort(),
    gateways: keys(snapshot.gateways),
    httpRoutes: [...snapshot.httpRoutes.values()].map((r) => `${r.namespace}/${r.name} ${JSON.stringify(r.rules.map((rule) => rule.backendRefs.map((b) => `${b.name}:${b.port}@${b.weight}`)))}`).sort(),
  };
}

describe.skipIf(missing)(`istiod-lite on a real kube-apiserver${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let cluster: KubeCluster;
  let istiod: Istiod;
  let stateDir: string;
  const logger = createMemoryLogger();
  const clients: XdsClient[] = [];

  beforeAll(async () => {
    cluster = await startKubeCluster();
    await cluster.apply(ISTIOD_CLUSTER_ROLE);
    await cluster.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'istiod-lite' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'istiod-lite' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'istiod-lite' }],
    });
    const objects = sampleObjects();
    // Namespaces first, as `kubectl apply` of a directory would need them.
    for (const object of [...objects.filter((o) => o.kind === 'Namespace'), ...objects.filter((o) => o.kind !== 'Namespace')]) await cluster.apply(forCreate(object));
    // Play kubelet: each Node's address, each Pod Running with its IP and Ready.
    for (const object of objects) {
      const status = object.status as { addresses?: Array<{ type: string; address: string }>; podIP?: string } | undefined;
      if (object.kind === 'Node') await cluster.setNodeStatus(object.metadata!.name!, status!.addresses!.find((a) => a.type === 'InternalIP')!.address);
      if (object.kind === 'Pod' && status?.podIP) await cluster.setPodStatus(object.metadata!.namespace ?? 'default', object.metadata!.name!, { podIP: status.podIP, ready: true });
    }
    stateDir = await mkdtemp(path.join(tmpdir(), 'istiod-kube-state-'));
    const config = parseConfig({
      configSource: 'kubernetes',
      kubeconfig: await cluster.kubeconfigFor('istiod-lite'),
      stateDir,
      xdsPort: 0,
      xdsTlsPort: 0,
      debugPort: 0,
      listenAddress: '127.0.0.1',
      trustDomain: TRUST_DOMAIN,
    });
    istiod = await startIstiod({ config, generators: testGenerators, logger, debounceMs: 50 });
  }, 240_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    await istiod?.close();
    await cluster?.close();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  }, 60_000);

  const snapshot = () => istiod.source.current();
  const plaintextClient = (nodeName: string) => {
    const client = new XdsClient({ target: `127.0.0.1:${istiod.ports.xds}`, node: proxyNode(nodeName), initialBackoffMs: 20 });
    clients.push(client);
    return client;
  };

  it('the first snapshot is the sample mesh, as the directory source reads the same manifests', () => {
    const files = SAMPLE_FILES.map((file) => ({ path: file, text: readFileSync(file, 'utf8') }));
    const parsed = parseManifestFiles(files);
    expect(parsed.errors).toEqual([]);
    expect(meshView(snapshot())).toEqual(meshView(buildSnapshot(parsed.resources, { trustDomain: TRUST_DOMAIN })));
    expect(istiod.source.problems()).toEqual([]);
  });

  it('writes status back as Istio does: the waypoint Gateway Accepted/Programmed, an HTTPRoute ResolvedRefs False for a missing backend, True once it exists; only when it changes', async () => {
    type Conditions = Array<{ type: string; status: string; reason: string; observedGeneration?: number }>;
    const generationOf = (o: ApiObject) => (o.metadata as { generation?: number }).generation;
    const gateway = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'waypoint', namespace: 'echo' } };
    const programmed = await waitFor(
      async () => {
        const o = await cluster.read(gateway);
        const conditions = (o['status'] as { conditions?: Conditions } | undefined)?.conditions ?? [];
        return conditions.some((c) => c.type === 'Programmed' && c.status === 'True') ? { o, conditions } : undefined;
      },
      { what: 'the waypoint Gateway Programmed', lastSeen: () => logger.entries.filter((e) => String(e.msg).includes('status')) },
    );
    expect(programmed.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'Accepted', status: 'True', reason: 'Accepted', observedGeneration: generationOf(programmed.o) }),
        expect.objectContaining({ type: 'Programmed', status: 'True', reason: 'Programmed', observedGeneration: generationOf(programmed.o) }),
      ]),
    );

    const route: Manifest = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'echo-to-v9', namespace: 'echo' },
      spec: { parentRefs: [{ group: '', kind: 'Service', name: 'echo', port: 80 }], rules: [{ backendRefs: [{ name: 'echo-v9', port: 80 }] }] },
    };
    const echoV9: Manifest = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'echo-v9', namespace: 'echo' },
      spec: { clusterIP: '10.77.100.29', selector: { app: 'echo', version: 'v9' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    };
    let sentinels = 0;
    const sentinelStatusWritten = async () => {
      const name = `status-sentinel-${++sentinels}`;
      const sentinel: Manifest = { ...route, metadata: { name, namespace: 'echo' } };
      await cluster.apply(sentinel);
      try {
        await waitFor(async () => ((await cluster.read(sentinel))['status'] as { parents?: unknown[] } | undefined)?.parents?.length, { what: `the status of ${name}` });
      } finally {
        await cluster.remove(sentinel);
      }
    };
    const parentStatus = async (want: string) => {
      const o = await cluster.read(route);
      const parent = (o['status'] as { parents?: Array<{ controllerName: string; parentRef: unknown; conditions: Conditions }> } | undefined)?.parents?.[0];
      return parent?.conditions.find((c) => c.type === 'ResolvedRefs')?.status === want ? { o, parent } : undefined;
    };
    try {
      await cluster.apply(route);
      const missing = await waitFor(() => parentStatus('False'), { what: 'ResolvedRefs False on the route', lastSeen: () => logger.entries.filter((e) => String(e.msg).includes('status')) });
      expect(missing.parent).toMatchObject({ controllerName: 'istio.io/gateway-controller', parentRef: { group: '', kind: 'Service', name: 'echo', port: 80 } });
      expect(missing.parent.conditions).toEqual([
        expect.objectContaining({ type: 'Accepted', status: 'True', reason: 'Accepted', observedGeneration: generationOf(missing.o) }),
        // Gateway API's reason for a backendRef naming a Service that does not exist.
        expect.objectContaining({ type: 'ResolvedRefs', status: 'False', reason: 'BackendNotFound', observedGeneration: generationOf(missing.o) }),
      ]);

      await cluster.apply(echoV9);
      const resolved = await waitFor(() => parentStatus('True'), { what: 'ResolvedRefs True once the Service exists' });
      expect(resolved.parent.conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs' })]));

      // No write loop: our own write, back through the watch, writes nothing more — shown by a
      // sentinel, not a sleep: a route whose status istiod-lite must write. Its write comes from
      // a status pass over every route, after the one our write's watch event started, so a
      // write of echo-to-v9 that either pass wanted would be done by then.
      const version = (resolved.o.metadata as { resourceVersion: string }).resourceVersion;
      await sentinelStatusWritten();
      expect(((await cluster.read(route)).metadata as { resourceVersion: string }).resourceVersion).toBe(version);

      // Another controller's parent entry is kept, and ours, unchanged, is not written again.
      const theirs = { parentRef: { name: 'edge', kind: 'Gateway', group: 'gateway.networking.k8s.io' }, controllerName: 'example.com/edge-controller', conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'theirs', observedGeneration: 1, lastTransitionTime: '2026-12-05T22:00:00Z' }] };
      const current = await cluster.read(route);
      const parents = (current['status'] as { parents: unknown[] }).parents;
      const written = await cluster.replaceStatus('httproutes', { ...current, status: { parents: [...parents, theirs] } });
      await sentinelStatusWritten();
      const after = await cluster.read(route);
      expect((after.metadata as { resourceVersion: string }).resourceVersion).toBe((written.metadata as { resourceVersion: string }).resourceVersion);
      expect((after['status'] as { parents: unknown[] }).parents).toEqual([...parents, theirs]);
    } finally {
      await cluster.remove(route).catch(() => undefined);
      await cluster.remove(echoV9).catch(() => undefined);
    }
  }, 60_000);

  it('a Service with EndpointSlices takes its endpoints from them (ready addresses, ports, the Pod): one without a selector has endpoints', async () => {
    const service: Manifest = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'ratings-external', namespace: 'default' },
      spec: { clusterIP: '10.77.100.30', ports: [{ name: 'http', port: 9080, targetPort: 9080 }] },
    };
    // As something other than the EndpointSlice controller would manage it (no selector to compute it from).
    const slice = (ratingsReady: boolean): Manifest => ({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'ratings-external-abc12', namespace: 'default', labels: { 'kubernetes.io/service-name': 'ratings-external', 'endpointslice.kubernetes.io/managed-by': 'manual.test.example' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 9080, protocol: 'TCP' }],
      endpoints: [
        { addresses: ['10.77.2.13'], conditions: { ready: ratingsReady }, targetRef: { kind: 'Pod', namespace: 'default', name: 'ratings-v1' } },
        { addresses: ['10.77.2.12'], conditions: { ready: false }, targetRef: { kind: 'Pod', namespace: 'default', name: 'details-v1' } },
      ],
    });
    const endpoints = () => {
      const svc = snapshot().services.get('default/ratings-external');
      return svc ? snapshot().endpointsOf(svc).map((e) => `${e.pod.name} ${e.address}:${e.targetPort} ${e.servicePort.name}`) : undefined;
    };
    try {
      await cluster.apply(service);
      await waitFor(() => endpoints()?.length === 0, { what: 'the Service without a selector, no endpoints yet' });
      await cluster.apply(slice(true));
      await waitFor(() => endpoints()?.length === 1, { what: 'the ready address of its EndpointSlice', lastSeen: endpoints });
      expect(endpoints()).toEqual(['ratings-v1 10.77.2.13:9080 http']);
      await cluster.apply(slice(false));
      await waitFor(() => endpoints()?.length === 0, { what: 'no endpoint once the slice says not ready', lastSeen: endpoints });
      await cluster.apply(slice(true));
      await waitFor(() => endpoints()?.length === 1, { what: 'ready again' });
      await cluster.remove(slice(true));
      await waitFor(() => endpoints()?.length === 0, { what: 'no endpoint once the slice is deleted', lastSeen: endpoints });
    } finally {
      await cluster.remove(slice(true)).catch(() => undefined);
      await cluster.remove(service).catch(() => undefined);
    }
  }, 60_000);

  it('follows adds, edits and deletes; a pod counts once it is Ready with an IP', async () => {
    const client = plaintextClient('node-a');
    const first = nextUpdate(client, TYPE_URL.LISTENER);
    client.start();
    expect(filterChainNames(await first)).toContain('inbound_10.77.1.10');
    const ratings = () => [...snapshot().services.values()].find((s) => s.name === 'ratings')!;

    // Added: scheduled but not running yet, it is no endpoint.
    await cluster.apply(pod('ratings-v2', 'node-a', { app: 'ratings', version: 'v2' }));
    await waitFor(() => snapshot().pods.get('default/ratings-v2'), { what: 'the new pod in the snapshot' });
    expect(snapshot().endpointsOf(ratings()).map((e) => e.address)).not.toContain('10.77.1.40');
    // Running with an IP: on its node's proxy; not Ready: still no endpoint.
    const onProxy = nextUpdate(client, TYPE_URL.LISTENER, (u) => filterChainNames(u).includes('inbound_10.77.1.40'));
    await cluster.setPodStatus('default', 'ratings-v2', { podIP: '10.77.1.40', ready: false });
    await onProxy;
    expect(snapshot().pods.get('default/ratings-v2')).toMatchObject({ podIP: '10.77.1.40', ready: false });
    expect(snapshot().endpointsOf(ratings()).map((e) => e.address)).not.toContain('10.77.1.40');
    // Ready: an endpoint of its Service.
    await cluster.setPodStatus('default', 'ratings-v2', { podIP: '10.77.1.40', ready: true });
    await waitFor(() => snapshot().endpointsOf(ratings()).some((e) => e.address === '10.77.1.40'), { what: 'the Ready pod an endpoint of ratings' });

    // Edited: the ALLOW policy now also admits sleep.
    const policy = sampleObjects().find((o) => o.kind === 'AuthorizationPolicy' && o.metadata?.name === 'reviews-from-productpage')!;
    const principals = ['cluster.local/ns/default/sa/bookinfo-productpage', 'cluster.local/ns/default/sa/sleep'];
    await cluster.apply({ ...policy, spec: { ...policy.spec, rules: [{ from: [{ source: { principals } }], to: [{ operation: { ports: ['9080'] } }] }] } });
    await waitFor(() => snapshot().authorizationPolicies.get('default/reviews-from-productpage')?.rules[0]?.from?.[0]?.source.principals?.length === 2, { what: 'the edited policy in force' });

    // Deleted: gone from the snapshot and from its node's proxy.
    const gone = nextUpdate(client, TYPE_URL.LISTENER, (u) => !filterChainNames(u).includes('inbound_10.77.1.40'));
    await cluster.remove(pod('ratings-v2', 'node-a', {}));
    await gone;
    expect(snapshot().pods.has('default/ratings-v2')).toBe(false);
  }, 60_000);

  it('an object the API server accepts but the mesh cannot use is reported by kind/namespace/name and field; its last good version stays, the rest applies', async () => {
    const custom: Manifest = {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'ext-authz', namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'ratings' } }, action: 'CUSTOM', provider: { name: 'ext-authz' }, rules: [{}] },
    };
    await cluster.apply(custom);
    await waitFor(() => istiod.source.problems().find((p) => p.file === 'AuthorizationPolicy default/ext-authz'), { what: 'the CUSTOM policy reported' });
    const problem = istiod.source.problems().find((p) => p.file === 'AuthorizationPolicy default/ext-authz')!;
    expect(problem).toMatchObject({ kind: 'AuthorizationPolicy', namespace: 'default', name: 'ext-authz' });
    expect(problem.path).toMatch(/^spec\./);
    expect(logger.entries.some((e) => e.level === 'warn' && String(e.msg).startsWith('invalid Kubernetes object: AuthorizationPolicy default/ext-authz: spec.'))).toBe(true);
    expect(snapshot().authorizationPolicies.has('default/ext-authz')).toBe(false);
    // And where `kubectl events` shows it, beside the object.
    const event = await waitFor(async () => (await cluster.events('default')).find((e) => (e['regarding'] as { name?: string } | undefined)?.name === 'ext-authz'), { what: 'a Warning Event on the policy', lastSeen: () => logger.entries.filter((e) => String(e.msg).includes('Event')) });
    expect(event).toMatchObject({ type: 'Warning', reason: 'InvalidConfiguration', reportingController: 'istio.io/istiod-lite', regarding: { kind: 'AuthorizationPolicy', namespace: 'default' } });
    expect(String(event['note'])).toContain('spec.action');

    // A good policy edited into one the mesh cannot use keeps its last good version; an edit elsewhere still applies.
    const allow = sampleObjects().find((o) => o.kind === 'AuthorizationPolicy' && o.metadata?.name === 'reviews-from-productpage')!;
    await cluster.apply({ ...allow, spec: { ...allow.spec, action: 'CUSTOM', provider: { name: 'ext-authz' } } });
    await waitFor(() => istiod.source.problems().find((p) => p.file === 'AuthorizationPolicy default/reviews-from-productpage'), { what: 'the broken edit reported' });
    await cluster.apply(pod('details-v2', 'node-b', { app: 'details', version: 'v2' }));
    await waitFor(() => snapshot().pods.has('default/details-v2'), { what: 'another object still applies' });
    expect(snapshot().authorizationPolicies.get('default/reviews-from-productpage')?.action).toBe('ALLOW');

    // Fixed or deleted: the problems go.
    await cluster.apply(allow);
    await cluster.remove(custom);
    await waitFor(() => istiod.source.problems().length === 0, { what: 'no problems left', lastSeen: () => istiod.source.problems() });
  }, 60_000);

  it('a watch dropped by an API server restart resumes; a resourceVersion compacted away (410 Gone) relists, and what was deleted meanwhile goes', async () => {
    const before = istiod.source.generation();
    await cluster.stopApiServer();
    // While istiod-lite cannot reach it, another API server on the same etcd changes the cluster.
    const otherPort = await (async () => {
      const { createServer } = await import('node:net');
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as { port: number }).port;
      await new Promise((resolve) => server.close(resolve));
      return port;
    })();
    await cluster.startApiServer(otherPort);
    await cluster.remove(pod('details-v2', 'node-b', {}));
    await cluster.apply(pod('reviews-v9', 'node-b', { app: 'reviews', version: 'v9' }));
    await cluster.compactEtcd();
    await cluster.stopApiServer();
    await cluster.startApiServer();
    await waitFor(() => !snapshot().pods.has('default/details-v2') && snapshot().pods.has('default/reviews-v9'), {
      what: 'the changes made while the watch was down',
      // The API server's restart plus istiod-lite's retry backoff (at most 30 s).
      timeoutMs: 90_000,
      lastSeen: () => logger.entries.filter((e) => e.level !== 'info').slice(-5),
    });
    expect(istiod.source.generation()).toBeGreaterThan(before);
    expect(logger.entries.some((e) => e.level === 'warn' && e.msg === 'Kubernetes list/watch failed; retrying')).toBe(true);
    // And it keeps watching.
    await cluster.apply(pod('reviews-v10', 'node-b', { app: 'reviews', version: 'v10' }));
    await waitFor(() => snapshot().pods.has('default/reviews-v10'), { what: 'a change after the restart' });
  }, 240_000);

  it('without the permissions of its ClusterRole it waits, naming the resource it may not list', async () => {
    const nobody = createMemoryLogger();
    const stop = new AbortController();
    const opening = KubernetesConfigSource.open(loadKubeConfig({ kubeconfig: await cluster.kubeconfigFor('nobody') }), { trustDomain: TRUST_DOMAIN, logger: nobody, signal: stop.signal, retryMs: { first: 100, max: 500 } });
    opening.catch(() => undefined);
    await waitFor(() => nobody.entries.find((e) => e.level === 'warn' && e['status'] === 403 && e['resource'] === '/api/v1/pods'), { what: 'a 403 for pods logged' });
    stop.abort();
    await expect(opening).rejects.toThrow(/stopped before the Kubernetes API was listed/);
  }, 60_000);
});
