/**
 * MeshSnapshot: an immutable view of the mesh with the indexes proxies' configuration is derived
 * from (service → endpoints, pod → identity, node → pods, destination → waypoint, pod →
 * policies). Every index is built once by `buildSnapshot`; the query methods only look up.
 *
 * Invariants: resources are deep-frozen; maps iterate in key order, and lists are sorted by
 * key, so anything generated from a snapshot is deterministic whatever the manifest order.
 */
import { deepFreeze } from './freeze.js';
import type {
  AuthorizationPolicy,
  Gateway,
  HttpRoute,
  Labels,
  MeshResource,
  Namespace,
  Node,
  PeerAuthentication,
  Pod,
  Service,
  ServiceAccount,
  ServicePort,
} from './types.js';

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
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
  /** Workload PeerAuthentication, else namespace, else mesh; PERMISSIVE when none says otherwise. */
  readonly mtlsMode: EffectiveMtlsMode;
}

export interface SnapshotOptions {
  readonly trustDomain?: string;
  readonly rootNamespace?: string;
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

/**
 * Builds the snapshot. Later duplicates of a key replace earlier ones (the parser already
 * reports duplicates as errors). The given resources are frozen.
 */
export function buildSnapshot(resources: readonly MeshResource[], opts: SnapshotOptions = {}): MeshSnapshot {
  const trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  const rootNamespace = opts.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
  for (const r of resources) deepFreeze(r);

  const namespaces = collect(resources, 'Namespace');
  const nodes = collect(resources, 'Node');
  const pods = collect(resources, 'Pod');
  const services = collect(resources, 'Service');
  const serviceAccounts = collect(resources, 'ServiceAccount');
  const authorizationPolicies = collect(resources, 'AuthorizationPolicy');
  const peerAuthentications = collect(resources, 'PeerAuthentication');
  const gateways = collect(resources, 'Gateway');
  const httpRoutes = collect(resources, 'HTTPRoute');

  const podsByNode = groupBy(pods.values(), (p) => p.nodeName);
  const podByIp = new Map<string, Pod>();
  // Host-network pods share their node's IP; an IP names a pod only when the pod owns it.
  for (const pod of pods.values()) if (pod.podIP && !pod.hostNetwork && !podByIp.has(pod.podIP)) podByIp.set(pod.podIP, pod);
  const serviceByVip = new Map<string, Service>();
  for (const svc of services.values()) if (svc.clusterIP && !serviceByVip.has(svc.clusterIP)) serviceByVip.set(svc.clusterIP, svc);

  // Selector matching through a label index: each selector only scans the pods carrying its
  // rarest label pair, so 1,000 services over 10,000 pods stay linear-ish.
  const podsByLabel = new Map<string, Pod[]>();
  for (const pod of pods.values()) {
    for (const [k, v] of Object.entries(pod.labels)) {
      const key = `${pod.namespace}\0${k}\0${v}`;
      const list = podsByLabel.get(key);
      if (list) list.push(pod);
      else podsByLabel.set(key, [pod]);
    }
  }
  const selectPods = (namespace: string, selector: Labels): Pod[] => {
    let best: Pod[] | undefined;
    for (const [k, v] of Object.entries(selector)) {
      const candidates = podsByLabel.get(`${namespace}\0${k}\0${v}`) ?? [];
      if (!best || candidates.length < best.length) best = candidates;
    }
    return (best ?? []).filter((p) => matchesSelector(selector, p.labels));
  };

  const endpointsByService = new Map<string, readonly ServiceEndpoint[]>();
  const servicesByPod = new Map<string, Service[]>();
  for (const [key, svc] of services) {
    const selected = svc.selector ? selectPods(svc.namespace, svc.selector) : [];
    const endpoints: ServiceEndpoint[] = [];
    for (const pod of selected) {
      const podKey = objectKey(pod);
      const list = servicesByPod.get(podKey);
      if (list) list.push(svc);
      else servicesByPod.set(podKey, [svc]);
      if (!pod.ready || !pod.podIP) continue;
      for (const servicePort of svc.ports) {
        const targetPort = resolveTargetPort(pod, servicePort);
        // Kubernetes leaves a pod out of a port's endpoints when it has no container port of that name.
        if (targetPort !== undefined) endpoints.push({ pod, address: pod.podIP, servicePort, targetPort });
      }
    }
    endpointsByService.set(key, Object.freeze(endpoints));
  }

  const policiesByNamespace = groupBy(authorizationPolicies.values(), (p) => p.namespace);
  const peerAuthByNamespace = groupBy(peerAuthentications.values(), (p) => p.namespace);

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
    return selectPods(gw.namespace, { [LABEL_GATEWAY_NAME]: gw.name })
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
    return { authorizationPolicies: authz, mtlsMode: effectiveMtls(pod) };
  };

  const effectiveMtls = (pod: Pod): EffectiveMtlsMode => {
    const inNs = peerAuthByNamespace.get(pod.namespace) ?? [];
    const workload = inNs.filter((p) => p.selector && Object.keys(p.selector.matchLabels).length > 0 && matchesSelector(p.selector.matchLabels, pod.labels));
    const namespaceWide = inNs.filter((p) => !p.selector || Object.keys(p.selector.matchLabels).length === 0);
    const meshWide = (peerAuthByNamespace.get(rootNamespace) ?? []).filter((p) => !p.selector || Object.keys(p.selector.matchLabels).length === 0);
    // Most specific level that sets a mode wins; within a level the first by name (Istio: oldest).
    for (const level of [workload, namespaceWide, meshWide]) {
      const mode = level.find((p) => p.mtlsMode !== 'UNSET')?.mtlsMode;
      if (mode && mode !== 'UNSET') return mode;
    }
    return 'PERMISSIVE';
  };

  const snapshot: MeshSnapshot = {
    trustDomain,
    rootNamespace,
    namespaces,
    nodes,
    pods,
    services,
    serviceAccounts,
    authorizationPolicies,
    peerAuthentications,
    gateways,
    httpRoutes,
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
  return Object.freeze(snapshot);
}

function resolveTargetPort(pod: Pod, servicePort: ServicePort): number | undefined {
  if (typeof servicePort.targetPort === 'number') return servicePort.targetPort;
  for (const container of pod.containers) {
    for (const p of container.ports) if (p.name === servicePort.targetPort && p.protocol === servicePort.protocol) return p.containerPort;
  }
  return undefined;
}
