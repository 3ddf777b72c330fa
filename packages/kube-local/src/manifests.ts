/**
 * Manifests written for istiod-lite's directory source, as a person applies them to an API
 * server: without `status` (the kubelet's part, written through the subresource once the pod
 * runs: kubelet.ts), each container with an image, Namespaces first. Pure: what `kubectl` is
 * given and what it deletes. Used by `meshctl dev up --kubernetes` and the e2e suites that run
 * the mesh's configuration on the API server.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';

/** The API requires a container image; no container runs here (the pod is a process in a netns). */
export const PLACEHOLDER_POD_IMAGE = 'registry.invalid/mesh/sample-workload:local';

/** An object of a manifest, its spec and status as written. */
export type ManifestObject = KubernetesObject & { spec?: Record<string, unknown>; status?: unknown };

/** Every object of the manifests' YAML documents, in order, status included. */
export function parseManifests(texts: readonly string[]): ManifestObject[] {
  return texts.flatMap((text) => parseAllDocuments(text).map((d) => d.toJS() as ManifestObject | null)).filter((o): o is ManifestObject => !!o && typeof o === 'object');
}

/** The objects as applied: no `status`, each Pod container an image (`image` unless it has one), Namespaces first, then file order. */
export function objectsForApply(texts: readonly string[], image = PLACEHOLDER_POD_IMAGE): ManifestObject[] {
  const objects = parseManifests(texts).map(({ status: _status, ...rest }): ManifestObject => {
    if (rest.kind === 'Pod' && Array.isArray(rest.spec?.['containers'])) {
      return { ...rest, spec: { ...rest.spec, containers: (rest.spec['containers'] as Record<string, unknown>[]).map((c) => ({ image, ...c })) } };
    }
    return rest;
  });
  return [...objects.filter((o) => o.kind === 'Namespace'), ...objects.filter((o) => o.kind !== 'Namespace')];
}

/** objectsForApply as one YAML stream for `kubectl apply -f -`. */
export function manifestsForApply(texts: readonly string[], image = PLACEHOLDER_POD_IMAGE): string {
  return objectsForApply(texts, image)
    .map((o) => stringify(o))
    .join('---\n');
}

/** How kubectl names an object: `TYPE[.VERSION.GROUP]/NAME`, with `-n` when namespaced. */
export function kubectlTarget(object: KubernetesObject): string[] {
  const [group, version] = object.apiVersion?.includes('/') ? (object.apiVersion.split('/') as [string, string]) : [undefined, object.apiVersion];
  const type = `${object.kind?.toLowerCase()}${group ? `.${version}.${group}` : ''}`;
  // A namespaced kind without a namespace is in `default`, as kubectl applied it; a cluster-scoped one takes none.
  const namespaced = !['Namespace', 'Node', 'ClusterRole', 'ClusterRoleBinding'].includes(object.kind ?? '');
  return [`${type}/${object.metadata?.name}`, ...(namespaced ? ['-n', object.metadata?.namespace ?? 'default'] : [])];
}

/**
 * What a manifest edit deletes: the objects `previous` declared and `next` does not, and the
 * pods in `pods` (removed or changed: the next apply creates a changed one again), each once, as
 * kubectl targets.
 */
export function deletionsFor(previous: readonly string[], next: readonly string[], pods: readonly { name: string; namespace: string }[] = []): string[][] {
  const targets = (texts: readonly string[]) => new Map(objectsForApply(texts).map((o) => [kubectlTarget(o).join(' '), kubectlTarget(o)]));
  const before = targets(previous);
  const after = targets(next);
  const gone = [...before].filter(([key]) => !after.has(key)).map(([, target]) => target);
  const podTargets = pods.map((p) => kubectlTarget({ apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: p.namespace } }));
  const unique = new Map([...gone, ...podTargets].map((t) => [t.join(' '), t]));
  return [...unique.values()];
}

/**
 * A ClusterRole manifest (the first ClusterRole of `roleManifest`, e.g. deploy/kubernetes'
 * istiod-rbac.yaml) and a ClusterRoleBinding of it to token user `user`, for `kubectl apply`;
 * undefined when the manifest has no ClusterRole.
 */
export function clusterRoleForUser(roleManifest: string, user: string, bindingName: string): string | undefined {
  const role = parseManifests([roleManifest]).find((o) => o.kind === 'ClusterRole');
  if (!role) return undefined;
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: bindingName },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata?.name },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
  };
  return `${stringify(role)}---\n${stringify(binding)}`;
}
