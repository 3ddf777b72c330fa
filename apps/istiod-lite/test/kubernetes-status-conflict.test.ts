/**
 * The status writer's `409 Conflict` path (src/config-source/kubernetes-config-source.ts
 * `#writeStatus`) against a real kube-apiserver (kube-cluster.ts), made on demand: the
 * `beforeStatusPatch` hook runs between computing an HTTPRoute's status and sending it, and there
 * another controller writes its own parent entry. istiod-lite's merge patch carries the
 * resourceVersion it computed from, now stale, so the API server answers 409; it must read the
 * route again, compute again (keeping the other controller's entry: a merge patch replaces the
 * whole `parents` list, so a blind retry would drop it) and land exactly one write.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryLogger, KubernetesConfigSource } from '../src/index.js';
import { kubeToolsMissing, startKubeCluster, type ApiObject, type KubeCluster } from './kube-cluster.js';
import { TRUST_DOMAIN, waitFor } from './helpers.js';

const missing = kubeToolsMissing();

const NAMESPACE = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'race' } };
const SERVICE = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'echo', namespace: 'race' },
  spec: { clusterIP: '10.77.100.40', selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
};
const ROUTE = {
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name: 'echo', namespace: 'race' },
  spec: { parentRefs: [{ group: '', kind: 'Service', name: 'echo', port: 80 }], rules: [{ backendRefs: [{ name: 'echo', port: 80 }] }] },
};
/** The other writer's parent entry. */
const THEIRS = {
  parentRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'edge' },
  controllerName: 'example.com/edge-controller',
  conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'theirs', observedGeneration: 1, lastTransitionTime: '2026-12-06T00:00:00Z' }],
};

type Parent = { controllerName: string; parentRef: Record<string, unknown>; conditions: Array<{ type: string; observedGeneration?: number }> };
const parentsOf = (o: ApiObject) => (o['status'] as { parents?: Parent[] } | undefined)?.parents ?? [];
const versionOf = (o: KubernetesObject) => o.metadata?.resourceVersion;

describe.skipIf(missing)(`istiod-lite's status write meets 409 Conflict on a real kube-apiserver${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let cluster: KubeCluster;
  let source: KubernetesConfigSource | undefined;
  const logger = createMemoryLogger();
  /** What each patch of the route was computed from: its attempt and resourceVersion. */
  const patches: Array<{ attempt: number; resourceVersion: string | undefined }> = [];
  /** The route as the other writer left it. */
  let theirWrite: ApiObject | undefined;

  beforeAll(async () => {
    cluster = await startKubeCluster();
    await cluster.apply(NAMESPACE);
    await cluster.apply(SERVICE);
  }, 120_000);

  afterAll(async () => {
    source?.close();
    await cluster?.close();
  }, 60_000);

  it('rereads the route, computes again and lands one write that keeps the other writer\'s parent entry', async () => {
    source = await KubernetesConfigSource.open(cluster.admin, {
      trustDomain: TRUST_DOMAIN,
      logger,
      debounceMs: 50,
      async beforeStatusPatch(object, attempt) {
        if (object.metadata?.namespace !== 'race' || object.metadata.name !== 'echo') return;
        patches.push({ attempt, resourceVersion: versionOf(object) });
        if (theirWrite) return;
        // The race: another controller writes the route's status after istiod-lite read it.
        const current = await cluster.read(ROUTE);
        theirWrite = await cluster.replaceStatus('httproutes', { ...current, status: { parents: [...parentsOf(current), THEIRS] } });
      },
    });
    await cluster.apply(ROUTE);
    const wroteStatus = () => logger.entries.filter((e) => e.msg === 'wrote status' && e['object'] === 'HTTPRoute race/echo');
    await waitFor(() => wroteStatus().length > 0, { what: 'istiod-lite wrote the route\'s status', lastSeen: () => ({ patches, log: logger.entries.slice(-10) }) });

    // The first patch, computed before the other write, was refused; the second was computed from
    // the route as the other writer left it.
    expect(theirWrite).toBeDefined();
    expect(patches.slice(0, 2)).toEqual([
      { attempt: 1, resourceVersion: expect.any(String) },
      { attempt: 2, resourceVersion: versionOf(theirWrite!) },
    ]);
    expect(patches[0]!.resourceVersion).not.toBe(versionOf(theirWrite!));

    const route = await cluster.read(ROUTE);
    const parents = parentsOf(route);
    expect(parents).toHaveLength(2);
    expect(parents[0]).toEqual(THEIRS);
    expect(parents[1]).toMatchObject({ controllerName: 'istio.io/gateway-controller', parentRef: { group: '', kind: 'Service', name: 'echo', port: 80 } });
    expect(parents[1]!.conditions.map((c) => c.type)).toEqual(['Accepted', 'ResolvedRefs']);

    // One write: both writes coming back through the watch make istiod-lite check the route again
    // (another patch computed only if something differs). A sentinel route's status, written
    // after them, shows those checks are done; the race route was not written again.
    const sentinel = { ...ROUTE, metadata: { name: 'sentinel', namespace: 'race' } };
    await cluster.apply(sentinel);
    await waitFor(() => logger.entries.some((e) => e.msg === 'wrote status' && e['object'] === 'HTTPRoute race/sentinel'), { what: 'the sentinel route\'s status written' });
    expect(wroteStatus()).toHaveLength(1);
    expect(patches).toHaveLength(2);
    expect(versionOf(await cluster.read(ROUTE))).toBe(versionOf(route));
  }, 60_000);
});
