import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from './commands.js';
import { deletionsFor, DEV_POD_IMAGE, expectedEndpoints, manifestsForApply, ztunnelManifests } from './kubernetes.js';
import { readManifests, snapshotOf } from './manifests.js';
import { planDevMesh } from './plan.js';

describe('meshctl dev --kubernetes: what kubectl is given, what the EndpointSlices should say', () => {
  it('the manifests without status, each Pod container with an image, Namespaces first', async () => {
    const files = await readManifests([join(REPO_ROOT, 'examples/bookinfo'), join(REPO_ROOT, 'examples/waypoint')]);
    const objects = parseAllDocuments(manifestsForApply(files)).map((d) => d.toJS() as { kind: string; status?: unknown; spec?: { containers?: { image?: string }[] } });
    const kinds = objects.map((o) => o.kind);
    expect(kinds.slice(0, 2)).toEqual(['Namespace', 'Namespace']);
    expect(kinds.lastIndexOf('Namespace')).toBe(1);
    expect(objects.filter((o) => o.status !== undefined)).toEqual([]);
    const pods = objects.filter((o) => o.kind === 'Pod');
    expect(pods.length).toBeGreaterThan(5);
    expect(pods.flatMap((p) => p.spec!.containers!.map((c) => c.image))).toEqual(pods.flatMap((p) => p.spec!.containers!.map(() => DEV_POD_IMAGE)));
  });

  it("ztunnel's ServiceAccount and a Pod per node, bound to it, with the token volume istiod-lite trusts (istio-system/ztunnel, audience istio-ca)", () => {
    const objects = parseAllDocuments(ztunnelManifests([{ name: 'node-a' }, { name: 'node-b' }])).map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string }; spec?: Record<string, unknown> });
    expect(objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`)).toEqual([
      'Namespace//istio-system',
      'ServiceAccount/istio-system/ztunnel',
      'Pod/istio-system/ztunnel-node-a',
      'Pod/istio-system/ztunnel-node-b',
    ]);
    expect(objects[3]!.spec).toMatchObject({
      nodeName: 'node-b',
      serviceAccountName: 'ztunnel',
      hostNetwork: true,
      volumes: expect.arrayContaining([{ name: 'istio-token', projected: { sources: [{ serviceAccountToken: expect.objectContaining({ audience: 'istio-ca' }) }] } }]),
    });
  });

  it('a selector Service lists the running pods it selects; a pod that does not run is left out', async () => {
    const snapshot = snapshotOf(await readManifests([join(REPO_ROOT, 'examples/bookinfo')]));
    const pods = planDevMesh(snapshot, 'transparent').pods;
    const expected = expectedEndpoints(snapshot, pods.filter((p) => p.name !== 'reviews-v3'));
    expect(expected.get('default/details')).toEqual(['10.77.2.12']);
    expect(expected.get('default/reviews')).toHaveLength(2);
    expect(expected.has('default/kubernetes')).toBe(false);
  });

  it('an edit deletes what is no longer declared and the removed or changed pods, each once, as kubectl names them', () => {
    const file = (text: string) => ({ mirrorPath: 'a.yaml', sourcePath: '/a.yaml', text });
    const before = [
      file(`apiVersion: v1
kind: Service
metadata: {name: ratings}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny, namespace: echo}
---
apiVersion: v1
kind: Pod
metadata: {name: ratings-v2}
---
apiVersion: v1
kind: Node
metadata: {name: node-c}
`),
    ];
    const after = [file('apiVersion: v1\nkind: Service\nmetadata: {name: ratings}\n')];
    expect(deletionsFor(before, after, [{ name: 'ratings-v2', namespace: 'default' }, { name: 'reviews-v1', namespace: 'default' }])).toEqual([
      ['authorizationpolicy.v1.security.istio.io/deny', '-n', 'echo'],
      ['pod/ratings-v2', '-n', 'default'],
      ['node/node-c'],
      ['pod/reviews-v1', '-n', 'default'],
    ]);
  });
});
