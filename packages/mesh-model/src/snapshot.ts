/**
 * MeshSnapshot: an immutable view of the mesh with the indexes proxies' configuration is derived
 * from (service → endpoints, pod → identity, node → pods, destination → waypoint, pod →
 * policies). Every index is built once by `buildSnapshot`; the query methods only look up.
 *
 * Invariants: resources are deep-frozen; maps iterate in key order, and lists are sorted by
 * key, so anything generated from a snapshot is deterministic whatever the manifest order.
 */
import { DEFAULT_TRUST_DOMAIN } from '@mesh/pki/spiffe';
import { deepFreeze } from './freeze.js';
import { patchMap } from './patched-map.js';
import type {
  AuthorizationPolicy,
  Gateway,
  HttpRoute,
  LabelSelector,
  Labels,
  MeshResource,
  Namespace,
  Node,
  PeerAuthentication,
  Pod,
  ReferenceGrant,
  Service,
  ServiceAccount,
  ServicePort,
} from './types.js';

/** Istio's root namespace: selector-less policies here apply to the whole mesh. */
export const DEFAULT_ROOT_NAMESPACE = 'istio-system';
/** DNS suffix of service hostnames (`reviews.default.svc.cluster.local`). */
export const CLUSTER_DOMAIN = 'cluster.local';

export const LABEL_DATAPLANE_MODE = 'istio.io/dataplane-mode';
export const DATAPLANE_MODE_AMBIENT = 'ambient';
export const DATAPLANE_MODE_NONE = 'none';
export const LABEL_USE_WAYPOINT = 'istio.io/use-waypoint';
export const LABEL_USE_WAYPOINT_NAMESPACE = 'istio.io/use-waypoint-namespace';
export const LABEL_WAYPOINT_FOR = 'istio.io/waypoint-for';
/**
 * The traffic types a waypoint takes (`istio.io/waypoint-for`, istioctl's `--for`): `service`
 * (the default) addressed to a Service VIP, `workload` addressed to a pod IP, `all` both, `none`
 * neither. Istio: https://istio.io/latest/docs/ambient/usage/waypoint/ ("Waypoint traffic types").
 */
export const WAYPOINT_FOR_VALUES = ['service', 'workload', 'all', 'none'] as const;
export type WaypointFor = (typeof WAYPOINT_FOR_VALUES)[number];
/** Set on a waypoint's own pods; they run their own HBONE and are never captured. */
export const LABEL_GATEWAY_NAME = 'gateway.networking.k8s.io/gateway-name';
export const WAYPOINT_GATEWAY_CLASS = 'istio-waypoint';

export interface Identity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** One pod behind one service port, with the port the pod actually listens on. */
export interface ServiceEndpoint {
  readonly pod: Pod;
  readonly address: string;
  readonly servicePort: ServicePort;
  readonly targetPort: number;
}

export type EffectiveMtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export interface PodPolicies {
  /** Policies ztunnel enforces for this pod (selector or namespace/mesh-wide), sorted by namespace/name. */
  readonly authorizationPolicies: readonly AuthorizationPolicy[];
  /**
   * Workload PeerAuthentication, else namespace, else mesh; PERMISSIVE when none says otherwise.
   * At each level the oldest policy is chosen first, and an UNSET one inherits (Istio).
   */
  readonly mtlsMode: EffectiveMtlsMode;
  /**
   * The chosen workload PeerAuthentication's `portLevelMtls` (UNSET ports left out): the mode on
   * those pod ports, overriding `mtlsMode`.
   */
  readonly portMtls: Readonly<Record<number, EffectiveMtlsMode>>;
  /** The PeerAuthentication chosen at each level (the oldest there), whether or not its mode is set. */
  readonly peerAuthentications: { readonly mesh?: PeerAuthentication; readonly namespace?: PeerAuthentication; readonly workload?: PeerAuthentication };
}

export interface SnapshotOptions {
  readonly trustDomain?: string;
  readonly rootNamespace?: string;
  /**
   * Endpoints from Kubernetes EndpointSlices, by Service key (`namespace/name`). A Service with an
   * entry here takes its endpoints from it instead of its selector (so a Service without a
   * selector has endpoints too); the others select pods as before.
   */
  readonly endpointSlices?: ReadonlyMap<string, readonly SliceEndpoint[]>;
}

/** One ready address of an EndpointSlice on one port, pointing at a Pod (`targetRef`). */
export interface SliceEndpoint {
  /** The Pod's key, `namespace/name`. */
  readonly pod: string;
  readonly address: string;
  /** The slice port's name: the Service port of that name (`''` for a single unnamed port). */
  readonly portName: string;
  readonly port: number;
}

export interface MeshSnapshot {
  readonly trustDomain: string;
  readonly rootNamespace: string;
  /** Keys: `name` for cluster-scoped kinds (Namespace, Node), `namespace/name` otherwise. */
  readonly namespaces: ReadonlyMap<string, Namespace>;
  readonly nodes: ReadonlyMap<string, Node>;
  readonly pods: ReadonlyMap<string, Pod>;
  readonly services: ReadonlyMap<string, Service>;
  readonly serviceAccounts: ReadonlyMap<string, ServiceAccount>;
  readonly authorizationPolicies: ReadonlyMap<string, AuthorizationPolicy>;
  readonly peerAuthentications: ReadonlyMap<string, PeerAuthentication>;
  readonly gateways: ReadonlyMap<string, Gateway>;
  readonly httpRoutes: ReadonlyMap<string, HttpRoute>;
  readonly referenceGrants: ReadonlyMap<string, ReferenceGrant>;

  identityOf(pod: Pod): Identity;
  /** `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`. */
  spiffeOf(pod: Pod): string;
  /**
   * The pod's namespace is labelled `istio.io/dataplane-mode: ambient` and the pod does not opt
   * out; waypoint pods and host-network pods are never captured.
   */
  isCaptured(pod: Pod): boolean;
  nodeOf(name: string): Node | undefined;
  /** Pods scheduled on the node, sorted by namespace/name. */
  podsOnNode(nodeName: string): readonly Pod[];
  /** Ready pods with an IP that the service selects, for each port; named target ports resolved. */
  endpointsOf(service: Service): readonly ServiceEndpoint[];
  /** Services whose selector matches the pod. */
  servicesOf(pod: Pod): readonly Service[];
  podByIp(ip: string): Pod | undefined;
  serviceByVip(ip: string): Service | undefined;
  /** The waypoint named by `istio.io/use-waypoint` on the target, else on its namespace. */
  waypointFor(target: Pod | Service): Gateway | undefined;
  /** Where a waypoint accepts HBONE: its declared IP addresses, else its pods' IPs. */
  waypointAddressesOf(gateway: Gateway): readonly string[];
  policiesFor(pod: Pod): PodPolicies;
  /** HTTPRoutes with a parentRef naming this Service or Gateway. */
  routesFor(parent: Service | Gateway): readonly HttpRoute[];
  /**
   * Whether a ReferenceGrant in the target's namespace lets objects of `from` (group, kind,
   * namespace) refer to the target. Same-namespace references need no grant and are not asked.
   */
  referenceGranted(from: GrantSubject, to: GrantTarget): boolean;
}

/** Who refers: `{group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace}`. */
export interface GrantSubject {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
}

/** What is referred to: `{group: '', kind: 'Service', namespace, name}`. */
export interface GrantTarget {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

/** `namespace/name` for namespaced resources, `name` otherwise: the keys of the snapshot's maps. */
export function objectKey(resource: { readonly name: string; readonly namespace?: string }): string {
  return resource.namespace === undefined ? resource.name : `${resource.namespace}/${resource.name}`;
}

export function spiffeUri(identity: Identity): string {
  return `spiffe://${identity.trustDomain}/ns/${identity.namespace}/sa/${identity.serviceAccount}`;
}

/** `reviews.default.svc.cluster.local`. */
export function serviceHostname(service: Service): string {
  return `${service.name}.${service.namespace}.svc.${CLUSTER_DOMAIN}`;
}

/** Kubernetes equality-based selection; an empty selector selects nothing here (as for Services). */
export function matchesSelector(selector: Labels, labels: Labels): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

type ByKind<K extends MeshResource['kind']> = Extract<MeshResource, { kind: K }>;

function collect<K extends MeshResource['kind']>(resources: readonly MeshResource[], kind: K): Map<string, ByKind<K>> {
  const found = resources.filter((r): r is ByKind<K> => r.kind === kind);
  const keyed = found.map((r) => [objectKey(r as { name: string; namespace?: string }), r] as const);
  keyed.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return new Map(keyed);
}

function groupBy<T>(items: Iterable<T>, keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

const NONE: readonly never[] = Object.freeze([]);

/** Everything a snapshot answers from; the pod-derived part is rebuilt for pod changes alone. */
/** The snapshot's map of each kind, by the name it has on the snapshot. */
const KIND_MAPS = {
  Namespace: 'namespaces',
  Node: 'nodes',
  Pod: 'pods',
  Service: 'services',
  ServiceAccount: 'serviceAccounts',
  AuthorizationPolicy: 'authorizationPolicies',
  PeerAuthentication: 'peerAuthentications',
  Gateway: 'gateways',
  HTTPRoute: 'httpRoutes',
  ReferenceGrant: 'referenceGrants',
} as const satisfies Record<MeshResource['kind'], keyof MeshSnapshot>;

type KindMaps = { readonly [K in MeshResource['kind'] as (typeof KIND_MAPS)[K]]: ReadonlyMap<string, ByKind<K>> };

interface Indexes {
  readonly trustDomain: string;
  readonly rootNamespace: string;
  readonly kinds: KindMaps;
  readonly grantsByNamespace: Map<string, ReferenceGrant[]>;
  readonly policiesByNamespace: Map<string, AuthorizationPolicy[]>;
  readonly peerAuthByNamespace: Map<string, PeerAuthentication[]>;
  readonly routesByParent: Map<string, HttpRoute[]>;
  /** How many resources other than pods the snapshot was built from. */
  readonly otherResources: number;
  /** Whether two pods in the resources had the same key (a later one hides an earlier one). */
  readonly duplicatePods: boolean;
  /**
   * `namespace\0label\0value` of one pair of each Service's selector → those Services, in key
   * order: a pod can be selected only by the Services listed under one of its own labels.
   */
  readonly servicesBySelectorLabel: ReadonlyMap<string, readonly Service[]>;
  // Derived from pods (patched, not copied, when a few pods change: patched-map.ts):
  readonly podsByNode: ReadonlyMap<string, readonly Pod[]>;
  readonly podByIp: ReadonlyMap<string, Pod>;
  /** IPs more than one pod owns or owned since the last full build (a superset: see patchPodByIp). */
  readonly sharedIps: ReadonlySet<string>;
  /** `namespace\0label\0value` → the pods carrying it, in key order. */
  readonly podsByLabel: ReadonlyMap<string, readonly Pod[]>;
  readonly endpointsByService: ReadonlyMap<string, readonly ServiceEndpoint[]>;
  readonly servicesByPod: ReadonlyMap<string, readonly Service[]>;
}

const INDEXES = new WeakMap<MeshSnapshot, Indexes>();

/** A snapshot built from an earlier one where only pods changed: the earlier one (weakly held) and the keys of the pods that changed. */
export interface PodChanges {
  readonly previous: MeshSnapshot;
  /** `namespace/name` of every pod added, removed or changed. */
  readonly pods: ReadonlySet<string>;
}

const POD_CHANGES = new WeakMap<MeshSnapshot, { readonly previous: WeakRef<MeshSnapshot>; readonly pods: ReadonlySet<string> }>();

/**
 * When `snapshot` was built from `previous` (`buildSnapshot(…, …, previous)`) and only pods
 * changed: which ones. Undefined otherwise (anything else changed, it was built from scratch, or
 * the earlier snapshot is gone): then everything may have changed.
 */
export function podChangesOf(snapshot: MeshSnapshot): PodChanges | undefined {
  const changes = POD_CHANGES.get(snapshot);
  const previous = changes?.previous.deref();
  return changes && previous ? { previous, pods: changes.pods } : undefined;
}

/** Above this share of pods changed, rebuilding the pod indexes from scratch is cheaper than patching them. */
const INCREMENTAL_POD_SHARE = 0.1;

/**
 * What changed in the resource list since the snapshot it is built from, as the caller knows it
 * (a config source knows which files or objects an edit touched): the objects that left the list
 * and the ones that entered it, by identity. An object replaced by an edited version is in both.
 */
export interface ResourceChanges {
  readonly removed: readonly MeshResource[];
  readonly added: readonly MeshResource[];
}

/**
 * Builds the snapshot. Later duplicates of a key replace earlier ones (the parser already
 * reports duplicates as errors). The given resources are frozen.
 *
 * With `previous`, when every resource but the pods is the same object as in `previous`, only
 * the pod indexes are patched for the pods that changed; the result is the same as a build from
 * scratch. With `changes` too (they must describe how `resources` differs from the list `previous`
 * was built from), a pod-only change is found from them alone, so a one-pod edit costs that pod
 * and the indexes it is in, not a walk over every resource; changes that name anything but pods,
 * or that the previous snapshot does not bear out (a duplicate key, an object it does not hold),
 * fall back to the walk.
 */
export function buildSnapshot(resources: readonly MeshResource[], opts: SnapshotOptions = {}, previous?: MeshSnapshot, changes?: ResourceChanges): MeshSnapshot {
  const trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  const rootNamespace = opts.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
  const before = previous ? INDEXES.get(previous) : undefined;
  // Slice endpoints are not patched pod by pod: with them, every snapshot is built whole.
  if (before && before.trustDomain === trustDomain && before.rootNamespace === rootNamespace && !opts.endpointSlices) {
    const podChanges = (changes && podChangesFrom(before, changes)) ?? podChangesByWalk(before, resources);
    const patched = podChanges && patchPods(before, podChanges.pods, podChanges.duplicatePods);
    if (patched) {
      const snapshot = assemble(patched);
      POD_CHANGES.set(snapshot, { previous: new WeakRef(previous as MeshSnapshot), pods: new Set(podChanges.pods.keys()) });
      return snapshot;
    }
  }
  for (const r of resources) deepFreeze(r);
  return assemble(indexesFrom(resources, trustDomain, rootNamespace, opts.endpointSlices));
}

function indexesFrom(resources: readonly MeshResource[], trustDomain: string, rootNamespace: string, endpointSlices?: ReadonlyMap<string, readonly SliceEndpoint[]>): Indexes {
  const kinds = Object.fromEntries(Object.entries(KIND_MAPS).map(([kind, field]) => [field, collect(resources, kind as MeshResource['kind'])])) as unknown as KindMaps;
  const { pods, services, authorizationPolicies, peerAuthentications, httpRoutes, referenceGrants } = kinds;

  const routesByParent = new Map<string, HttpRoute[]>();
  for (const route of httpRoutes.values()) {
    for (const ref of route.parentRefs) {
      const key = `${ref.kind}/${ref.namespace ?? route.namespace}/${ref.name}`;
      const list = routesByParent.get(key);
      if (list) {
        if (!list.includes(route)) list.push(route);
      } else routesByParent.set(key, [route]);
    }
  }

  const podsByLabel = new Map<string, Pod[]>();
  for (const pod of pods.values()) {
    for (const key of labelKeys(pod)) {
      const list = podsByLabel.get(key);
      if (list) list.push(pod);
      else podsByLabel.set(key, [pod]);
    }
  }
  const endpointsByService = new Map<string, readonly ServiceEndpoint[]>();
  const servicesByPod = new Map<string, Service[]>();
  for (const [key, svc] of services) {
    const slices = endpointSlices?.get(key);
    const sliced = slices && sliceEndpointsOf(svc, slices, pods);
    const selected = sliced ? [...new Set(sliced.map((e) => e.pod))] : svc.selector ? selectPods(podsByLabel, svc.namespace, svc.selector) : [];
    for (const pod of selected) {
      const podKey = objectKey(pod);
      const list = servicesByPod.get(podKey);
      if (list) list.push(svc);
      else servicesByPod.set(podKey, [svc]);
    }
    endpointsByService.set(key, sliced ?? endpointsOf(svc, selected));
  }

  return {
    trustDomain,
    rootNamespace,
    kinds,
    grantsByNamespace: groupBy(referenceGrants.values(), (g) => g.namespace),
    policiesByNamespace: groupBy(authorizationPolicies.values(), (p) => p.namespace),
    peerAuthByNamespace: groupBy(peerAuthentications.values(), (p) => p.namespace),
    routesByParent,
    otherResources: resources.reduce((n, r) => (r.kind === 'Pod' ? n : n + 1), 0),
    duplicatePods: resources.reduce((n, r) => (r.kind === 'Pod' ? n + 1 : n), 0) !== pods.size,
    servicesBySelectorLabel: groupBy(
      [...services.values()].filter((svc) => svc.selector && Object.keys(svc.selector).length > 0),
      (svc) => selectorLabelKey(svc),
    ),
    ...podLookups(pods),
    podsByLabel,
    endpointsByService,
    servicesByPod,
  };
}

/** The key `servicesBySelectorLabel` files a Service with a selector under: its selector's first pair. */
function selectorLabelKey(svc: Service): string {
  const [k, v] = Object.entries(svc.selector ?? {})[0] ?? ['', ''];
  return `${svc.namespace}\0${k}\0${v}`;
}

/** The pod indexes rebuilt whole (a pass over the pods, no selector matching). */
function podLookups(pods: ReadonlyMap<string, Pod>): Pick<Indexes, 'podsByNode' | 'podByIp' | 'sharedIps'> {
  const podByIp = new Map<string, Pod>();
  const sharedIps = new Set<string>();
  // Host-network pods share their node's IP; an IP names a pod only when the pod owns it.
  for (const pod of pods.values()) {
    if (!pod.podIP || pod.hostNetwork) continue;
    if (podByIp.has(pod.podIP)) sharedIps.add(pod.podIP);
    else podByIp.set(pod.podIP, pod);
  }
  return { podsByNode: groupBy(pods.values(), (p) => p.nodeName), podByIp, sharedIps };
}

/** Pod key → the pod after the change, or undefined when it went: every pod added, removed or replaced. */
type PodChangeMap = Map<string, Pod | undefined>;

/**
 * The pod changes `changes` declares, checked against `before`: undefined when they name anything
 * but pods, or do not match what `before` holds (a removed pod it does not have under that key, an
 * added pod whose key it holds under an object not removed), or when `before` was built with
 * duplicate pod keys: which of two pods of one key is in force depends on the list's order, which
 * only the walk sees.
 */
function podChangesFrom(before: Indexes, changes: ResourceChanges): { pods: PodChangeMap; duplicatePods: false } | undefined {
  if (before.duplicatePods) return undefined;
  const out: PodChangeMap = new Map();
  for (const r of changes.removed) {
    if (r.kind !== 'Pod') return undefined;
    const key = objectKey(r);
    if (before.kinds.pods.get(key) !== r || out.has(key)) return undefined;
    out.set(key, undefined);
  }
  for (const r of changes.added) {
    if (r.kind !== 'Pod') return undefined;
    const key = objectKey(r);
    if (out.get(key) !== undefined || (!out.has(key) && before.kinds.pods.has(key))) return undefined;
    out.set(key, r);
  }
  for (const [key, pod] of out) if (pod === before.kinds.pods.get(key)) out.delete(key);
  return { pods: out, duplicatePods: false };
}

/**
 * The pod changes found by walking `resources`: undefined when anything but pods differs (every
 * other resource must be the same object under the same key, and as many).
 */
function podChangesByWalk(before: Indexes, resources: readonly MeshResource[]): { pods: PodChangeMap; duplicatePods: boolean } | undefined {
  const podsByKey = new Map<string, Pod>();
  let others = 0;
  let podCount = 0;
  for (const r of resources) {
    if (r.kind === 'Pod') {
      podCount++;
      podsByKey.set(objectKey(r), r);
      continue;
    }
    others++;
    if ((before.kinds[KIND_MAPS[r.kind]] as ReadonlyMap<string, MeshResource>).get(objectKey(r as { name: string; namespace?: string })) !== r) return undefined;
  }
  if (others !== before.otherResources) return undefined;
  const out: PodChangeMap = new Map();
  for (const [key, pod] of podsByKey) if (before.kinds.pods.get(key) !== pod) out.set(key, pod);
  for (const key of before.kinds.pods.keys()) if (!podsByKey.has(key)) out.set(key, undefined);
  return { pods: out, duplicatePods: podCount !== podsByKey.size };
}

/**
 * `before`'s indexes with the pods of `podChanges` changed, costing those pods and the index
 * entries they are in (the maps are patched, not copied: patched-map.ts); undefined when so many
 * pods changed that a full build is cheaper.
 */
function patchPods(before: Indexes, podChanges: PodChangeMap, duplicatePods: boolean): Indexes | undefined {
  if (podChanges.size > Math.max(1, before.kinds.pods.size * INCREMENTAL_POD_SHARE)) return undefined;
  for (const pod of podChanges.values()) if (pod) deepFreeze(pod);
  const changed: ReadonlySet<string> = new Set(podChanges.keys());
  const pods = patchMap(before.kinds.pods, podChanges, compareKeys);
  const old = (key: string) => before.kinds.pods.get(key);

  // Pods by node: the lists of the nodes a changed pod was or is on, rebuilt in key order.
  const nodeChanges = new Map<string, readonly Pod[] | undefined>();
  const touchedNodes = new Set<string>();
  for (const [key, pod] of podChanges) for (const p of [old(key), pod]) if (p) touchedNodes.add(p.nodeName);
  for (const node of touchedNodes) {
    const list = rebuiltInKeyOrder(before.podsByNode.get(node), podChanges, (pod) => pod.nodeName === node);
    nodeChanges.set(node, list.length > 0 ? list : undefined);
  }
  const podsByNode = patchMap(before.podsByNode, nodeChanges);
  const { podByIp, sharedIps } = patchPodByIp(before, pods, podChanges);

  // Label lists that hold a changed pod (before or after) are rebuilt in key order.
  const touchedLabels = new Set<string>();
  for (const [key, pod] of podChanges) for (const p of [old(key), pod]) if (p) for (const label of labelKeys(p)) touchedLabels.add(label);
  const labelChanges = new Map<string, readonly Pod[] | undefined>();
  for (const label of touchedLabels) {
    const list = rebuiltInKeyOrder(before.podsByLabel.get(label), podChanges, (pod) => labelKeys(pod).includes(label));
    labelChanges.set(label, list.length > 0 ? list : undefined);
  }
  const podsByLabel = patchMap(before.podsByLabel, labelChanges);

  // Services that select a changed pod (before or after) get their endpoints again; changed pods
  // their services. Only Services filed under one of a changed pod's labels can select it.
  const candidates = new Set<Service>();
  for (const label of touchedLabels) for (const svc of before.servicesBySelectorLabel.get(label) ?? NONE) candidates.add(svc);
  const endpointChanges = new Map<string, readonly ServiceEndpoint[]>();
  const servicesChanges = new Map<string, Service[] | undefined>();
  for (const key of changed) servicesChanges.set(key, undefined);
  for (const svc of [...candidates].sort((a, b) => compareKeys(objectKey(a), objectKey(b)))) {
    const selector = svc.selector as Labels;
    let selectsChanged = false;
    for (const [key, pod] of podChanges) {
      const was = old(key);
      const selectsOld = was !== undefined && was.namespace === svc.namespace && matchesSelector(selector, was.labels);
      const selectsNew = pod !== undefined && pod.namespace === svc.namespace && matchesSelector(selector, pod.labels);
      if (selectsNew) {
        const list = servicesChanges.get(key);
        if (list) list.push(svc);
        else servicesChanges.set(key, [svc]);
      }
      selectsChanged ||= selectsOld || selectsNew;
    }
    if (selectsChanged) endpointChanges.set(objectKey(svc), endpointsOf(svc, selectPods(podsByLabel, svc.namespace, selector)));
  }
  return {
    ...before,
    kinds: { ...before.kinds, pods },
    duplicatePods,
    podsByNode,
    podByIp,
    sharedIps,
    podsByLabel,
    endpointsByService: patchMap(before.endpointsByService, endpointChanges),
    servicesByPod: patchMap(before.servicesByPod, servicesChanges),
  };
}

/** A key-ordered pod list with the changed pods taken out, then those of them that `belongs` now put back in order. */
function rebuiltInKeyOrder(list: readonly Pod[] | undefined, podChanges: PodChangeMap, belongs: (pod: Pod) => boolean): Pod[] {
  const out = (list ?? []).filter((p) => !podChanges.has(objectKey(p)));
  for (const pod of podChanges.values()) if (pod && belongs(pod)) out.push(pod);
  return out.sort((a, b) => compareKeys(objectKey(a), objectKey(b)));
}

/**
 * Pod by IP after a few pods changed: an IP's owner is its first pod in key order, so only the
 * IPs of changed pods are looked at again. When a changed pod owned an IP that no other pod
 * holds (not in `sharedIps`), its new owner can only be a changed pod; when another pod may hold
 * it, the index is rebuilt. `sharedIps` stays a superset: an IP a changed pod takes while another
 * pod owns it is added (a full build makes it exact again).
 */
function patchPodByIp(before: Indexes, pods: ReadonlyMap<string, Pod>, podChanges: PodChangeMap): Pick<Indexes, 'podByIp' | 'sharedIps'> {
  const ownsIp = (pod: Pod | undefined): pod is Pod & { podIP: string } => pod !== undefined && !!pod.podIP && !pod.hostNetwork;
  const ipChanges = new Map<string, Pod | undefined>();
  for (const key of podChanges.keys()) {
    const old = before.kinds.pods.get(key);
    if (!ownsIp(old) || before.podByIp.get(old.podIP) !== old) continue;
    if (before.sharedIps.has(old.podIP)) return podLookups(pods);
    ipChanges.set(old.podIP, undefined);
  }
  let sharedIps = before.sharedIps;
  for (const [key, pod] of podChanges) {
    if (!ownsIp(pod)) continue;
    const owner = ipChanges.has(pod.podIP) ? ipChanges.get(pod.podIP) : before.podByIp.get(pod.podIP);
    if (owner && objectKey(owner) !== key) {
      if (!sharedIps.has(pod.podIP)) sharedIps = new Set(sharedIps).add(pod.podIP);
    }
    if (!owner || compareKeys(key, objectKey(owner)) < 0) ipChanges.set(pod.podIP, pod);
  }
  return { podByIp: patchMap(before.podByIp, ipChanges), sharedIps };
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function labelKeys(pod: Pod): string[] {
  return Object.entries(pod.labels).map(([k, v]) => `${pod.namespace}\0${k}\0${v}`);
}

/**
 * Selector matching through the label index: each selector only scans the pods carrying its
 * rarest label pair, so 1,000 services over 10,000 pods stay linear-ish.
 */
function selectPods(podsByLabel: ReadonlyMap<string, readonly Pod[]>, namespace: string, selector: Labels): Pod[] {
  let best: readonly Pod[] | undefined;
  for (const [k, v] of Object.entries(selector)) {
    const candidates = podsByLabel.get(`${namespace}\0${k}\0${v}`) ?? [];
    if (!best || candidates.length < best.length) best = candidates;
  }
  return (best ?? []).filter((p) => matchesSelector(selector, p.labels));
}

function endpointsOf(svc: Service, selected: readonly Pod[]): readonly ServiceEndpoint[] {
  const endpoints: ServiceEndpoint[] = [];
  for (const pod of selected) {
    if (!pod.ready || !pod.podIP) continue;
    for (const servicePort of svc.ports) {
      const targetPort = resolveTargetPort(pod, servicePort);
      // Kubernetes leaves a pod out of a port's endpoints when it has no container port of that name.
      if (targetPort !== undefined) endpoints.push({ pod, address: pod.podIP, servicePort, targetPort });
    }
  }
  return Object.freeze(endpoints);
}

/** A Service's endpoints as its EndpointSlices say: each address on the Service port its slice port names, of a Pod the mesh knows. */
function sliceEndpointsOf(svc: Service, slices: readonly SliceEndpoint[], pods: ReadonlyMap<string, Pod>): readonly ServiceEndpoint[] {
  const endpoints: ServiceEndpoint[] = [];
  const seen = new Set<string>();
  for (const slice of slices) {
    const pod = pods.get(slice.pod);
    const servicePort = svc.ports.find((p) => (p.name ?? '') === slice.portName);
    const key = `${slice.address}:${slice.port}:${slice.portName}`;
    if (!pod || !servicePort || seen.has(key)) continue;
    seen.add(key);
    endpoints.push({ pod, address: slice.address, servicePort, targetPort: slice.port });
  }
  return Object.freeze(endpoints);
}

function assemble(indexes: Indexes): MeshSnapshot {
  const { trustDomain, rootNamespace, kinds, grantsByNamespace, policiesByNamespace, peerAuthByNamespace, routesByParent, podsByNode, podByIp, podsByLabel, endpointsByService, servicesByPod } = indexes;
  const { namespaces, nodes, services, gateways } = kinds;
  // The core API group is written "" or "core".
  const sameGroup = (a: string, b: string) => a === b || (a === '' && b === 'core') || (a === 'core' && b === '');
  const referenceGranted = (from: GrantSubject, to: GrantTarget): boolean =>
    (grantsByNamespace.get(to.namespace) ?? []).some(
      (grant) =>
        grant.from.some((f) => sameGroup(f.group, from.group) && f.kind === from.kind && f.namespace === from.namespace) &&
        grant.to.some((t) => sameGroup(t.group, to.group) && t.kind === to.kind && (t.name === undefined || t.name === to.name)),
    );
  const serviceByVip = new Map<string, Service>();
  for (const svc of services.values()) if (svc.clusterIP && !serviceByVip.has(svc.clusterIP)) serviceByVip.set(svc.clusterIP, svc);

  const identityOf = (pod: Pod): Identity => ({ trustDomain, namespace: pod.namespace, serviceAccount: pod.serviceAccountName });

  const isWaypointGateway = (gw: Gateway | undefined): gw is Gateway => gw?.gatewayClassName === WAYPOINT_GATEWAY_CLASS;

  const waypointFor = (target: Pod | Service): Gateway | undefined => {
    const ns = namespaces.get(target.namespace);
    const source = target.labels[LABEL_USE_WAYPOINT] !== undefined ? target.labels : ns?.labels;
    const name = source?.[LABEL_USE_WAYPOINT];
    if (!name || name === 'none') return undefined;
    const gwNamespace = source[LABEL_USE_WAYPOINT_NAMESPACE] ?? target.namespace;
    const gw = gateways.get(`${gwNamespace}/${name}`);
    if (!isWaypointGateway(gw)) return undefined;
    // istio.io/waypoint-for: which traffic the waypoint handles; Istio's default is service.
    const waypointFor = gw.labels[LABEL_WAYPOINT_FOR] ?? 'service';
    const wanted = target.kind === 'Service' ? 'service' : 'workload';
    return waypointFor === wanted || waypointFor === 'all' ? gw : undefined;
  };

  const waypointAddressesOf = (gw: Gateway): readonly string[] => {
    const declared = gw.addresses.filter((a) => a.type === 'IPAddress').map((a) => a.value);
    if (declared.length > 0) return declared;
    return selectPods(podsByLabel, gw.namespace, { [LABEL_GATEWAY_NAME]: gw.name })
      .filter((p) => p.ready && p.podIP)
      .map((p) => p.podIP as string);
  };

  const selects = (selector: { matchLabels: Labels } | undefined, pod: Pod): boolean =>
    !selector || Object.keys(selector.matchLabels).length === 0 || matchesSelector(selector.matchLabels, pod.labels);

  const policiesFor = (pod: Pod): PodPolicies => {
    // Policies with targetRefs bind to a Service or Gateway and are enforced by waypoints, not here.
    const applies = (p: AuthorizationPolicy) => p.targetRefs.length === 0 && selects(p.selector, pod);
    const fromRoot = pod.namespace === rootNamespace ? [] : (policiesByNamespace.get(rootNamespace) ?? []);
    const authz = [...fromRoot, ...(policiesByNamespace.get(pod.namespace) ?? [])].filter(applies);
    return { authorizationPolicies: authz, ...effectiveMtls(pod) };
  };

  /**
   * Istio's choice (pilot/pkg/serviceregistry/ambient convertedSelectorPeerAuthentications):
   * per level the oldest policy (creationTimestamp, then name); workload-level policies with a
   * selector in the root namespace are ignored; an UNSET mode inherits from the level above.
   */
  const oldest = (candidates: readonly PeerAuthentication[]): PeerAuthentication | undefined =>
    [...candidates].sort((a, b) => {
      const ta = a.creationTimestamp ?? '';
      const tb = b.creationTimestamp ?? '';
      if (ta !== tb) return ta === '' ? 1 : tb === '' ? -1 : ta < tb ? -1 : 1;
      return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
    })[0];
  const hasSelector = (p: PeerAuthentication) => p.selector !== undefined && Object.keys(p.selector.matchLabels).length > 0;
  const effectiveMtls = (pod: Pod): Pick<PodPolicies, 'mtlsMode' | 'portMtls' | 'peerAuthentications'> => {
    const inNs = peerAuthByNamespace.get(pod.namespace) ?? [];
    const mesh = oldest((peerAuthByNamespace.get(rootNamespace) ?? []).filter((p) => !hasSelector(p)));
    const namespaceWide = pod.namespace === rootNamespace ? undefined : oldest(inNs.filter((p) => !hasSelector(p)));
    const workload =
      pod.namespace === rootNamespace ? undefined : oldest(inNs.filter((p) => hasSelector(p) && matchesSelector((p.selector as LabelSelector).matchLabels, pod.labels)));
    let mode: EffectiveMtlsMode = 'PERMISSIVE';
    for (const level of [mesh, namespaceWide, workload]) if (level && level.mtlsMode !== 'UNSET') mode = level.mtlsMode;
    const portMtls: Record<number, EffectiveMtlsMode> = {};
    for (const [port, portMode] of Object.entries(workload?.portLevelMtls ?? {})) if (portMode !== 'UNSET') portMtls[Number(port)] = portMode;
    const peerAuthentications = { ...(mesh ? { mesh } : {}), ...(namespaceWide ? { namespace: namespaceWide } : {}), ...(workload ? { workload } : {}) };
    return { mtlsMode: mode, portMtls, peerAuthentications };
  };

  const snapshot: MeshSnapshot = {
    trustDomain,
    rootNamespace,
    ...kinds,
    referenceGranted,
    identityOf,
    spiffeOf: (pod) => spiffeUri(identityOf(pod)),
    isCaptured: (pod) =>
      namespaces.get(pod.namespace)?.labels[LABEL_DATAPLANE_MODE] === DATAPLANE_MODE_AMBIENT &&
      pod.labels[LABEL_DATAPLANE_MODE] !== DATAPLANE_MODE_NONE &&
      pod.labels[LABEL_GATEWAY_NAME] === undefined &&
      !pod.hostNetwork,
    nodeOf: (name) => nodes.get(name),
    podsOnNode: (nodeName) => podsByNode.get(nodeName) ?? NONE,
    endpointsOf: (service) => endpointsByService.get(objectKey(service)) ?? NONE,
    servicesOf: (pod) => servicesByPod.get(objectKey(pod)) ?? NONE,
    podByIp: (ip) => podByIp.get(ip),
    serviceByVip: (ip) => serviceByVip.get(ip),
    waypointFor,
    waypointAddressesOf,
    policiesFor,
    routesFor: (parent) => routesByParent.get(`${parent.kind}/${parent.namespace}/${parent.name}`) ?? NONE,
  };
  Object.freeze(snapshot);
  INDEXES.set(snapshot, indexes);
  return snapshot;
}

function resolveTargetPort(pod: Pod, servicePort: ServicePort): number | undefined {
  if (typeof servicePort.targetPort === 'number') return servicePort.targetPort;
  for (const container of pod.containers) {
    for (const p of container.ports) if (p.name === servicePort.targetPort && p.protocol === servicePort.protocol) return p.containerPort;
  }
  return undefined;
}
