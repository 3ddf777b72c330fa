/**
 * The pure half of the Kubernetes config source: which API resources it watches, and the objects
 * the API server sent turned into mesh-model resources by the same parser and validation the
 * directory source uses (the object is handed to `parseManifests` as JSON, which is YAML).
 *
 * Invariants (the same as the directory source's, per object instead of per document):
 * - An object the API server accepted but the mesh cannot use is a problem naming
 *   kind/namespace/name and the field; the last good version of that object stays in force and
 *   every other object is unaffected. An object that never parsed contributes nothing.
 * - Deleting an object removes it and its problems.
 * - `apply` says whether what is in force changed, so status-only churn (a Pod's probe times, a
 *   Node's heartbeats) makes no new snapshot.
 */
import { keepLastGood, parseManifests } from '@mesh/mesh-model';
import type { ManifestError, MeshResource, MeshResourceKind, SliceEndpoint } from '@mesh/mesh-model';

/** One API resource the source lists and watches. */
export interface WatchedResource {
  /** A mesh-model kind, or EndpointSlice (read by EndpointSliceStore, not parsed as a manifest). */
  readonly kind: MeshResourceKind | 'EndpointSlice';
  /** `v1`, or `group/version`. */
  readonly apiVersion: string;
  /** The plural resource name in the API path. */
  readonly plural: string;
}

/**
 * What istiod-lite reads from the API server: Istio's own types at `security.istio.io/v1`, Gateway
 * API's at `gateway.networking.k8s.io/v1` (its standard channel), and `discovery.k8s.io/v1`
 * EndpointSlices: a Service with slices takes its endpoints from them, the others from their
 * selector over Ready pods with an IP (docs/kubernetes.md).
 */
export const WATCHED_RESOURCES: readonly WatchedResource[] = [
  { kind: 'Namespace', apiVersion: 'v1', plural: 'namespaces' },
  { kind: 'ServiceAccount', apiVersion: 'v1', plural: 'serviceaccounts' },
  { kind: 'Node', apiVersion: 'v1', plural: 'nodes' },
  { kind: 'Pod', apiVersion: 'v1', plural: 'pods' },
  { kind: 'Service', apiVersion: 'v1', plural: 'services' },
  { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', plural: 'endpointslices' },
  { kind: 'AuthorizationPolicy', apiVersion: 'security.istio.io/v1', plural: 'authorizationpolicies' },
  { kind: 'PeerAuthentication', apiVersion: 'security.istio.io/v1', plural: 'peerauthentications' },
  { kind: 'Gateway', apiVersion: 'gateway.networking.k8s.io/v1', plural: 'gateways' },
  { kind: 'HTTPRoute', apiVersion: 'gateway.networking.k8s.io/v1', plural: 'httproutes' },
  { kind: 'ReferenceGrant', apiVersion: 'gateway.networking.k8s.io/v1', plural: 'referencegrants' },
];

/** The cluster-wide list/watch path of a resource: `/api/v1/pods`, `/apis/<group>/<version>/<plural>`. */
export function resourcePath(resource: WatchedResource): string {
  return resource.apiVersion.includes('/') ? `/apis/${resource.apiVersion}/${resource.plural}` : `/api/${resource.apiVersion}/${resource.plural}`;
}

/** An object as the API server sends it (only what the source reads is typed). */
export interface KubernetesObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [field: string]: unknown };
  spec?: unknown;
  status?: unknown;
  [field: string]: unknown;
}

/** `Kind namespace/name` (or `Kind name` for cluster-scoped kinds): how problems and logs name an object. */
export function objectName(kind: string, object: KubernetesObject): string {
  const { name = '?', namespace } = object.metadata ?? {};
  return namespace ? `${kind} ${namespace}/${name}` : `${kind} ${name}`;
}

/**
 * The object as a manifest: what a user wrote (apiVersion, kind, name, namespace, labels,
 * annotations, spec) and the status the mesh reads (a Pod's IP and readiness, a Node's address,
 * a Gateway's addresses). Server-set metadata other than creationTimestamp (uid, resourceVersion,
 * managedFields) is dropped.
 */
export function manifestOf(resource: WatchedResource, object: KubernetesObject): Record<string, unknown> {
  const { name, namespace, labels, annotations, creationTimestamp } = object.metadata ?? {};
  const manifest: Record<string, unknown> = {
    apiVersion: resource.apiVersion,
    kind: resource.kind,
    // creationTimestamp: the oldest of two conflicting policies wins, as in Istio.
    metadata: { name, ...(namespace ? { namespace } : {}), ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}), ...(creationTimestamp ? { creationTimestamp } : {}) },
  };
  if (object.spec !== undefined) manifest.spec = object.spec;
  if (object.status !== undefined && STATUS_READ.has(resource.kind)) manifest.status = object.status;
  return manifest;
}

/** Kinds whose status the mesh reads (the others' status is what controllers wrote about them). */
const STATUS_READ = new Set<WatchedResource['kind']>(['Node', 'Pod', 'Gateway']);

interface ObjectState {
  inForce: readonly MeshResource[];
  /** JSON of `inForce`, to tell whether an update changed what the mesh uses. */
  digest: string;
  errors: readonly ManifestError[];
}

/** The objects last seen per resource, as mesh-model resources in force and their problems. */
export class KubernetesObjectStore {
  readonly #objects = new Map<string, ObjectState>();

  /**
   * Takes an added or updated object. Returns whether what is in force changed, and the
   * problems of this object (empty when it parsed).
   */
  apply(resource: WatchedResource, object: KubernetesObject): { changed: boolean; errors: readonly ManifestError[]; keptLastGood: boolean } {
    const key = objectKey(resource, object);
    const previous = this.#objects.get(key);
    const result = parseManifests(JSON.stringify(manifestOf(resource, object)), objectName(resource.kind, object));
    // No line and column: they would point into JSON nobody wrote (formatManifestError names the object instead).
    const errors = result.errors.map((error) => ({ ...error, line: 0, column: 0, kind: resource.kind, name: object.metadata?.name ?? error.name, ...(object.metadata?.namespace ? { namespace: object.metadata.namespace } : {}) }));
    const inForce = keepLastGood(previous?.inForce, { resources: result.resources, errors });
    const digest = JSON.stringify(inForce);
    this.#objects.set(key, { inForce, digest, errors });
    return { changed: digest !== (previous?.digest ?? '[]'), errors, keptLastGood: errors.length > 0 && inForce.length > 0 };
  }

  /** Forgets a deleted object. Returns whether what is in force changed. */
  remove(resource: WatchedResource, object: KubernetesObject): boolean {
    const key = objectKey(resource, object);
    const previous = this.#objects.get(key);
    this.#objects.delete(key);
    return (previous?.inForce.length ?? 0) > 0;
  }

  resources(): MeshResource[] {
    return [...this.#objects.values()].flatMap((state) => state.inForce);
  }

  problems(): ManifestError[] {
    return [...this.#objects.values()].flatMap((state) => state.errors);
  }
}

/** `Kind/namespace/name`: one object among all the watched ones. */
export function objectKey(resource: WatchedResource, object: KubernetesObject): string {
  return `${resource.kind}/${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}

/** The label naming the Service an EndpointSlice belongs to (discovery.k8s.io/v1). */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

interface ApiEndpointSlice {
  addressType?: string;
  ports?: Array<{ name?: string; port?: number; protocol?: string }> | null;
  endpoints?: Array<{ addresses?: string[]; conditions?: { ready?: boolean | null }; targetRef?: { kind?: string; name?: string; namespace?: string } }> | null;
}

/**
 * What one EndpointSlice contributes: its Service's key and its endpoints, as the EndpointSlice
 * API defines them: only IPv4/IPv6 slices, TCP ports; an endpoint counts when `conditions.ready`
 * is not false ("nil should be interpreted as ready") and its `targetRef` is a Pod; its first
 * address is used (consumers take the first, the API says). A slice without the service-name
 * label belongs to no Service and contributes nothing.
 */
export function sliceEndpoints(object: KubernetesObject): { service: string; endpoints: SliceEndpoint[] } | undefined {
  const namespace = object.metadata?.namespace;
  const serviceName = object.metadata?.labels?.[SERVICE_NAME_LABEL];
  if (!namespace || !serviceName) return undefined;
  const slice = object as KubernetesObject & ApiEndpointSlice;
  const endpoints: SliceEndpoint[] = [];
  if (slice.addressType === 'IPv4' || slice.addressType === 'IPv6') {
    const ports = (slice.ports ?? []).filter((p) => p.port !== undefined && (p.protocol ?? 'TCP') === 'TCP');
    for (const endpoint of slice.endpoints ?? []) {
      const address = endpoint.addresses?.[0];
      const ref = endpoint.targetRef;
      if (!address || endpoint.conditions?.ready === false || ref?.kind !== 'Pod' || !ref.name) continue;
      for (const port of ports) endpoints.push({ pod: `${ref.namespace ?? namespace}/${ref.name}`, address, portName: port.name ?? '', port: port.port as number });
    }
  }
  return { service: `${namespace}/${serviceName}`, endpoints };
}

/** The EndpointSlices last seen, by slice; per Service, the union of its slices' endpoints. */
export class EndpointSliceStore {
  readonly #slices = new Map<string, { service: string; endpoints: SliceEndpoint[]; digest: string }>();

  /** Takes an added or updated slice. Returns whether a Service's endpoints changed. */
  apply(object: KubernetesObject): boolean {
    const key = `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
    const previous = this.#slices.get(key);
    const next = sliceEndpoints(object);
    if (!next) {
      this.#slices.delete(key);
      return previous !== undefined;
    }
    const digest = JSON.stringify(next);
    this.#slices.set(key, { ...next, digest });
    return digest !== previous?.digest;
  }

  /** Forgets a deleted slice. Returns whether a Service's endpoints changed. */
  remove(object: KubernetesObject): boolean {
    return this.#slices.delete(`${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`);
  }

  /** Service key → the endpoints of all its slices (a Service with an empty slice has none). */
  byService(): Map<string, SliceEndpoint[]> {
    const out = new Map<string, SliceEndpoint[]>();
    for (const { service, endpoints } of this.#slices.values()) out.set(service, [...(out.get(service) ?? []), ...endpoints]);
    return out;
  }
}
