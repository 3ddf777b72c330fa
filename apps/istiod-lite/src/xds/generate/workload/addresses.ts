/**
 * Pods and Services → `istio.workload.Address` resources, as istiod's ambient index builds them
 * (pilot/pkg/serviceregistry/ambient/workloads.go, services.go, waypoints.go):
 *
 * - A Workload per pod that has an IP: uid `Kubernetes//Pod/<ns>/<name>`, its address, node,
 *   service account, `tunnel_protocol: HBONE` when a ztunnel captures it (a waypoint's pod speaks
 *   HBONE itself: HBONE + `native_tunnel`), `services` (every Service that selects it, with the
 *   ports it serves and named target ports resolved; a named port the pod lacks is left out),
 *   `authorization_policies` (the selector policies that select it, then the static STRICT
 *   policy when its effective mTLS mode is STRICT), `status` UNHEALTHY when not ready, the
 *   waypoint it uses (`istio.io/use-waypoint` with `waypoint-for: workload|all`), canonical
 *   name and revision from its labels. A trust domain of `cluster.local` is elided, as istiod does.
 * - A Service per Service: hostname, VIP (`clusterIP`), ports (`target_port` 0 for a named one,
 *   resolved per workload), app protocol, and its waypoint (`istio.io/use-waypoint` on the
 *   Service or its namespace, for a waypoint serving `service` or `all`).
 * - A waypoint is addressed as Istio's Gateway status addresses it: its declared hostname, else
 *   its declared IP, else the hostname of the Service Istio's waypoint deployment creates
 *   (`<gateway>.<ns>.svc.cluster.local`); for that last case the Service is generated here too,
 *   and the waypoint's pods name it in their `services`, so ztunnel finds them as its endpoints.
 *
 * Nothing here depends on which node asks: every ztunnel gets the same resources.
 */
import {
  CLUSTER_DOMAIN,
  LABEL_GATEWAY_NAME,
  WAYPOINT_GATEWAY_CLASS,
  serviceHostname,
  type Gateway,
  patchMap,
  type MeshSnapshot,
  type Pod,
  type Service,
  type ServicePort,
} from '@mesh/mesh-model';
import { HBONE_PORT } from '@mesh/hbone-core/constants';
import { DEFAULT_TRUST_DOMAIN } from '@mesh/pki';
import { ipToBase64 } from '@mesh/workload-api';
import { TYPE_URL, type ResourceJson } from '@mesh/xds';
/** Resources are plain proto3-JSON; @mesh/xds validates them when encoding. */
type JsonObject = Record<string, unknown>;
import { DEFAULT_CLUSTER_ID, podUid, podUidOfKey, serviceResourceName, waypointHostname } from './names.js';
import { peerAuthenticationKeys } from './peer-authentication.js';
import { authorizationScope } from './authorization.js';

/** Istio's canonical-service labels, in precedence order (pkg/kube/labels). */
const CANONICAL_NAME_LABELS = ['service.istio.io/canonical-name', 'app.kubernetes.io/name', 'app'];
const CANONICAL_REVISION_LABELS = ['service.istio.io/canonical-revision', 'app.kubernetes.io/version', 'version'];

function firstLabel(pod: Pod, keys: readonly string[]): string | undefined {
  for (const key of keys) if (pod.labels[key] !== undefined) return pod.labels[key];
  return undefined;
}

/** Kubernetes' AppProtocol / port-name protocol → the workload API's AppProtocol (istiod's ConvertProtocol). */
export function appProtocolOf(port: ServicePort): string | undefined {
  if (port.protocol === 'UDP') return undefined;
  const name = (port.appProtocol ?? port.name ?? '').toLowerCase();
  if (name === 'kubernetes.io/h2c') return 'HTTP2';
  if (name === 'kubernetes.io/ws') return 'HTTP11';
  if (name === 'kubernetes.io/wss') return 'TLS';
  const prefix = name.split('-')[0];
  switch (prefix) {
    case 'http':
      return 'HTTP11';
    case 'http2':
      return 'HTTP2';
    case 'grpc':
      return 'GRPC';
    case 'https':
    case 'tls':
      return 'TLS';
    case 'tcp':
      return 'TCP';
    default:
      return undefined;
  }
}

/** How a waypoint is reached (GatewayAddress), and the Service generated for it, if any. */
export interface WaypointAddressing {
  readonly address: JsonObject;
  /** The address as text: what resources that name this waypoint depend on. */
  readonly key: string;
  /** `<ns>/<gateway>.<ns>.svc.cluster.local` when the waypoint is addressed by that generated Service. */
  readonly serviceName?: string;
  readonly service?: ResourceJson;
  readonly hbonePort: number;
}

function waypointAddressing(gateway: Gateway): WaypointAddressing {
  const hostname = gateway.addresses.find((a) => a.type === 'Hostname')?.value;
  const ip = gateway.addresses.find((a) => a.type === 'IPAddress')?.value;
  const hbonePort = gateway.listeners.find((l) => l.protocol === 'HBONE')?.port ?? HBONE_PORT;
  if (hostname) return { address: { hostname: { namespace: gateway.namespace, hostname }, hbone_mtls_port: HBONE_PORT }, key: `${gateway.namespace}/${hostname}`, hbonePort };
  if (ip) return { address: { address: { address: ipToBase64(ip) }, hbone_mtls_port: HBONE_PORT }, key: `/${ip}`, hbonePort };
  const host = waypointHostname(gateway.name, gateway.namespace, CLUSTER_DOMAIN);
  const serviceName = `${gateway.namespace}/${host}`;
  return {
    address: { hostname: { namespace: gateway.namespace, hostname: host }, hbone_mtls_port: hbonePort },
    key: `${serviceName}:${hbonePort}`,
    serviceName,
    service: {
      '@type': TYPE_URL.ADDRESS,
      service: { name: gateway.name, namespace: gateway.namespace, hostname: host, ports: [{ service_port: hbonePort, target_port: hbonePort }] },
    },
    hbonePort,
  };
}

const ADDRESSING = new WeakMap<Gateway, WaypointAddressing>();

/** Per snapshot: the addressing of every waypoint Gateway, by `namespace/name` (the same object while the Gateway is). */
function waypointsOf(snapshot: MeshSnapshot): Map<string, WaypointAddressing> {
  const out = new Map<string, WaypointAddressing>();
  for (const [key, gateway] of snapshot.gateways) {
    if (gateway.gatewayClassName !== WAYPOINT_GATEWAY_CLASS) continue;
    let addressing = ADDRESSING.get(gateway);
    if (!addressing) ADDRESSING.set(gateway, (addressing = waypointAddressing(gateway)));
    out.set(key, addressing);
  }
  return out;
}

/**
 * A resource is rebuilt only when what it is made of changed: the inputs are compared element by
 * element (`===`) with the ones it was last built from. Resources in the mesh model keep their
 * identity across snapshots while their manifest file is unchanged, so after an edit only the
 * resources it touched are new objects, and the ADS server can tell unchanged ones by identity.
 */
interface Built {
  readonly inputs: readonly unknown[];
  readonly resource: ResourceJson;
}

function reuse<K extends object>(cache: WeakMap<K, Built>, key: K, inputs: readonly unknown[], build: () => ResourceJson): ResourceJson {
  const last = cache.get(key);
  if (last && last.inputs.length === inputs.length && last.inputs.every((v, i) => v === inputs[i])) return last.resource;
  const resource = build();
  cache.set(key, { inputs, resource });
  return resource;
}

const SERVICES = new WeakMap<Service, Built>();
const WORKLOADS = new WeakMap<Pod, Built>();

function serviceResource(service: Service, waypoint: WaypointAddressing | undefined): ResourceJson {
  const body: JsonObject = { name: service.name, namespace: service.namespace, hostname: serviceHostname(service) };
  if (service.clusterIP && service.clusterIP !== 'None') body['addresses'] = [{ address: ipToBase64(service.clusterIP) }];
  const ports = [...service.ports]
    .sort((a, b) => a.port - b.port)
    .map((p) => {
      const port: JsonObject = { service_port: p.port };
      if (typeof p.targetPort === 'number') port['target_port'] = p.targetPort;
      const app = appProtocolOf(p);
      if (app) port['app_protocol'] = app;
      return port;
    });
  if (ports.length > 0) body['ports'] = ports;
  if (waypoint) body['waypoint'] = waypoint.address;
  body['canonical'] = true;
  return { '@type': TYPE_URL.ADDRESS, service: body };
}

/** The ports a pod serves for a Service: named target ports resolved, ones it lacks left out. */
function podPorts(pod: Pod, service: Service): JsonObject[] {
  const out: JsonObject[] = [];
  for (const p of [...service.ports].sort((a, b) => a.port - b.port)) {
    const target = typeof p.targetPort === 'number' ? p.targetPort : namedPort(pod, p);
    if (target !== undefined) out.push({ service_port: p.port, target_port: target });
  }
  return out;
}

/** A named target port, as Kubernetes resolves it: a container port of that name and protocol. */
function namedPort(pod: Pod, port: ServicePort): number | undefined {
  for (const c of pod.containers) for (const p of c.ports) if (p.name === port.targetPort && p.protocol === port.protocol) return p.containerPort;
  return undefined;
}

interface WorkloadInputs {
  readonly pod: Pod;
  readonly hbone: boolean;
  readonly native: boolean;
  readonly trustDomain: string;
  /** `namespace/name` of the policies it lists, comma-joined. */
  readonly policies: string;
  readonly waypoint: WaypointAddressing | undefined;
  readonly ownGateway: WaypointAddressing | undefined;
  /** Sorted by resource name. */
  readonly services: readonly { readonly name: string; readonly service: Service }[];
}

function workloadResource(w: WorkloadInputs): ResourceJson {
  const { pod } = w;
  const services: Record<string, JsonObject> = {};
  for (const { name, service } of w.services) {
    const ports = podPorts(pod, service);
    services[name] = ports.length > 0 ? { ports } : {};
  }
  // The waypoint's own pods back the Service generated for their Gateway.
  if (w.ownGateway?.serviceName) services[w.ownGateway.serviceName] = { ports: [{ service_port: w.ownGateway.hbonePort, target_port: w.ownGateway.hbonePort }] };
  const body: JsonObject = { uid: podUid(pod), name: pod.name, namespace: pod.namespace, addresses: [ipToBase64(pod.podIP as string)] };
  if (w.hbone) body['tunnel_protocol'] = 'HBONE';
  if (w.trustDomain !== DEFAULT_TRUST_DOMAIN) body['trust_domain'] = w.trustDomain;
  body['service_account'] = pod.serviceAccountName;
  if (w.waypoint) body['waypoint'] = w.waypoint.address;
  body['node'] = pod.nodeName;
  body['canonical_name'] = firstLabel(pod, CANONICAL_NAME_LABELS) ?? pod.name;
  body['canonical_revision'] = firstLabel(pod, CANONICAL_REVISION_LABELS) ?? 'latest';
  body['workload_type'] = 'POD';
  body['workload_name'] = pod.name;
  if (w.native) body['native_tunnel'] = true;
  if (w.policies !== '') body['authorization_policies'] = w.policies.split(',');
  if (!pod.ready) body['status'] = 'UNHEALTHY';
  body['cluster_id'] = DEFAULT_CLUSTER_ID;
  if (pod.hostNetwork) body['network_mode'] = 'HOST_NETWORK';
  if (Object.keys(services).length > 0) body['services'] = services;
  return { '@type': TYPE_URL.ADDRESS, workload: body };
}

/** What a pod's Workload is made of, read off the snapshot. */
function workloadInputs(snapshot: MeshSnapshot, pod: Pod, waypoints: ReadonlyMap<string, WaypointAddressing>, names: Map<Service, string>): WorkloadInputs {
  const gatewayName = pod.labels[LABEL_GATEWAY_NAME];
  const native = gatewayName !== undefined;
  const services = snapshot.servicesOf(pod).map((service) => {
    let name = names.get(service);
    if (name === undefined) names.set(service, (name = serviceResourceName(service)));
    return { name, service };
  });
  if (services.length > 1) services.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const { authorizationPolicies, peerAuthentications } = snapshot.policiesFor(pod);
  const listed = authorizationPolicies.filter((p) => authorizationScope(p, snapshot.rootNamespace) === 'WORKLOAD_SELECTOR').map((p) => `${p.namespace}/${p.name}`);
  listed.sort();
  listed.push(...peerAuthenticationKeys(peerAuthentications, snapshot.rootNamespace));
  const waypointGateway = snapshot.waypointFor(pod);
  return {
    pod,
    hbone: snapshot.isCaptured(pod) || native,
    native,
    trustDomain: snapshot.trustDomain,
    policies: listed.join(','),
    waypoint: waypointGateway ? waypoints.get(`${waypointGateway.namespace}/${waypointGateway.name}`) : undefined,
    ownGateway: native ? waypoints.get(`${pod.namespace}/${gatewayName}`) : undefined,
    services,
  };
}

/**
 * Every Address of a snapshot, by resource name, sorted. A resource whose inputs did not change
 * since the last snapshot is the same object as before (see `reuse`).
 *
 * With `previous` (the Addresses of the snapshot `snapshot` was built from, when only the pods in
 * `changedPods` changed since): those pods' Workloads are made again and every other resource is
 * taken from `previous` (a Workload depends on its own pod, Services and policies, and a Service
 * or waypoint on no pod), so a one-pod edit does not walk the mesh: `previous` is patched, not
 * copied (mesh-model `patchMap`), and still iterates sorted. The result is the same.
 */
export function addressResources(
  snapshot: MeshSnapshot,
  previous?: { readonly addresses: ReadonlyMap<string, ResourceJson>; readonly changedPods: ReadonlySet<string> },
): ReadonlyMap<string, ResourceJson> {
  const waypoints = waypointsOf(snapshot);
  const names = new Map<Service, string>();
  if (previous) {
    const changes = new Map<string, ResourceJson | undefined>();
    for (const key of previous.changedPods) {
      const pod = snapshot.pods.get(key);
      changes.set(podUidOfKey(key), pod?.podIP ? workloadAddress(snapshot, pod, waypoints, names) : undefined);
    }
    return patchMap(previous.addresses, changes, compareNames);
  }
  const out: [string, ResourceJson][] = [];
  const seen = new Set<string>();
  for (const service of snapshot.services.values()) {
    const gateway = snapshot.waypointFor(service);
    const waypoint = gateway ? waypoints.get(`${gateway.namespace}/${gateway.name}`) : undefined;
    const name = serviceResourceName(service);
    names.set(service, name);
    seen.add(name);
    out.push([name, reuse(SERVICES, service, [waypoint?.key], () => serviceResource(service, waypoint))]);
  }
  for (const waypoint of waypoints.values()) {
    if (waypoint.serviceName && waypoint.service && !seen.has(waypoint.serviceName)) out.push([waypoint.serviceName, waypoint.service]);
  }
  for (const pod of snapshot.pods.values()) {
    if (pod.podIP) out.push([podUid(pod), workloadAddress(snapshot, pod, waypoints, names)]);
  }
  out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return new Map(out);
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function workloadAddress(snapshot: MeshSnapshot, pod: Pod, waypoints: ReadonlyMap<string, WaypointAddressing>, names: Map<Service, string>): ResourceJson {
  const w = workloadInputs(snapshot, pod, waypoints, names);
  const inputs = [pod, w.hbone, w.trustDomain, w.policies, w.waypoint?.key, w.ownGateway?.key, ...w.services.flatMap((s) => [s.name, s.service])];
  return reuse(WORKLOADS, pod, inputs, () => workloadResource(w));
}
