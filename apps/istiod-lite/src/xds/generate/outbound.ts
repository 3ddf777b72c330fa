/**
 * Outbound: the `ztunnel_outbound` listener (15001) with its filter_chain_matcher, the
 * per-identity `_outbound_internal` EDS clusters and endpoints, and the HBONE tunnel listener
 * and cluster per identity (docs/model.md, "ztunnel's configuration").
 *
 * Path of a connection from local pod P (identity S) to service VIP:port:
 *   matcher: source P → destination VIP → port → chain `S_to_<proto>_<fqdn>_outbound_internal`
 *   → tcp_proxy → EDS cluster of the same name → an endpoint `envoy_internal_address`
 *   {server_listener_name: outbound_tunnel_lis_S, endpoint_id: pod:targetPort} with `tunnel`
 *   metadata {address: pod:15008, destination: pod:targetPort}
 *   → internal listener `outbound_tunnel_lis_S` → tcp_proxy with tunneling_config (CONNECT to
 *   the tunnel destination) → cluster `outbound_tunnel_clus_S` (ORIGINAL_DST, port 15008,
 *   mTLS with S's certificate).
 * Destination pod not captured: the endpoint is its plain socket address (no tunnel).
 * Service with a waypoint: the endpoints are the waypoint's addresses, tunnel destination VIP:port.
 * Destination is a captured pod's IP: chain `S_to_pod_outbound_direct` tunnels to the original
 * destination's IP on 15008 (see names.ts); pod CIDRs are matched as string prefixes of the
 * destination IP, so the tree grows with nodes, not pods.
 * Destination is the IP of a captured pod enrolled in a waypoint that takes workload traffic
 * (`istio.io/use-waypoint` on the pod or its namespace, `istio.io/waypoint-for: workload|all`):
 *   exact entry → chain `S_to_waypoint_<waypoint>_outbound_pod` → tcp_proxy with tunneling_config
 *   (CONNECT `:authority` = the original destination) → EDS cluster of the same name with S's
 *   HBONE TLS → the waypoint's addresses on 15008 (Istio: "requests directly to a Pod IP … if the
 *   Pod has a waypoint, the request will be sent to its waypoint", docs/model.md).
 * Anything else: PassthroughFilterChain. Destination port 15001: BlackHoleCluster (a loop).
 */
import { HBONE_PORT } from '@mesh/hbone-core/constants';
import { serviceHostname, spiffeUri, type Gateway, type MeshSnapshot, type Pod, type Service, type ServicePort } from '@mesh/mesh-model';
import { deepFreeze } from './freeze.js';
import {
  TUNNELLED_EDS_CLUSTER_FIELDS,
  TYPE,
  any,
  byName,
  extension,
  hboneTlsContext,
  clusterResource,
  hboneOriginateCluster,
  hboneOriginateListener,
  socketAddress,
  tcpProxy,
  transparentListener,
  tunnellingTcpProxy,
  typeUrl,
  type EnvoyResource,
  type JsonObject,
} from './envoy.js';
import { INPUT, exactMatcher, exactOrFallback, ipv4CidrToPrefixes, nested, prefixMatcher, selectChain, type OnMatch } from './matcher.js';
import { BLACKHOLE_CLUSTER, BLACKHOLE_FILTER_CHAIN, chainServiceMetadata, OUTBOUND_LISTENER, PASSTHROUGH_CLUSTER, PASSTHROUGH_FILTER_CHAIN, ZTUNNEL_OUTBOUND_PORT, tunnelClusterName, tunnelListenerName } from '@mesh/envoy-config';
import {
  address,
  outboundDirectName,
  destinationLabel,
  outboundInternalNameFor,
  outboundWaypointName,
  waypointLabel,
} from './names.js';

export interface XdsResources {
  listeners: EnvoyResource[];
  clusters: EnvoyResource[];
  endpoints: EnvoyResource[];
}

/**
 * A service port reachable at a VIP, with everything about it that does not depend on the
 * source identity: its name label and its endpoints' shared parts.
 */
export interface Destination {
  readonly service: Service;
  readonly vip: string;
  readonly port: ServicePort;
  /** `http_reviews.default.svc.cluster.local` (names.ts destinationLabel). */
  readonly label: string;
  /** Sorted by address. */
  readonly endpoints: readonly EndpointTemplate[];
  /**
   * Everything the destination's resources are made of, as text: equal fingerprints mean equal
   * resources, so a later snapshot reuses this object (and the generator knows it is unchanged).
   */
  readonly fingerprint: string;
}

/**
 * One endpoint of a destination. A tunnelled endpoint differs between identities only in its
 * internal listener's name, so its metadata is built once and shared (frozen); a plain endpoint
 * is the same JSON for every identity.
 */
type EndpointTemplate = { readonly endpointId: string; readonly metadata: JsonObject } | { readonly plain: JsonObject };

/** What every node's generation shares for one snapshot. */
export interface MeshPlan {
  readonly destinations: readonly Destination[];
  /** By label; undefined when two destinations share a label (then nothing is diffed by label). */
  readonly byLabel: ReadonlyMap<string, Destination> | undefined;
  readonly pods: PodAddressing;
  /** Changes exactly when a destination's VIP, port or label set changes (the matcher's VIP levels). */
  readonly destinationSetKey: string;
  /** Changes exactly when `pods` does. */
  readonly podAddressingKey: string;
  /** Waypoints that take pod-addressed traffic, with their enrolled pods, sorted by label. */
  readonly workloadWaypoints: readonly WorkloadWaypoint[];
  /** Changes exactly when `workloadWaypoints` does. */
  readonly workloadWaypointsKey: string;
}

/**
 * A waypoint that takes traffic addressed to workloads (`istio.io/waypoint-for: workload|all`)
 * and the captured pods that use it: connections to their IPs go to the waypoint.
 */
export interface WorkloadWaypoint {
  /** How resource names name it (names.ts waypointLabel). */
  readonly label: string;
  /** IPs of the captured pods enrolled in it, sorted. */
  readonly podIps: readonly string[];
  /** Where it accepts HBONE (its declared IPs, else its ready pods). */
  readonly addresses: readonly string[];
  /** `istio` endpoint metadata: the waypoint and the identity it must present. */
  readonly istio: JsonObject;
}

// Memoised per snapshot (snapshots are immutable, so this cannot go stale): generating all
// nodes of a mesh computes the mesh-wide part once. The plan last built lends its unchanged
// destinations to the next one, so an edit rebuilds only the destinations it touched.
const PLANS = new WeakMap<MeshSnapshot, MeshPlan>();
let lastPlan: MeshPlan | undefined;

export function meshPlan(snapshot: MeshSnapshot): MeshPlan {
  let plan = PLANS.get(snapshot);
  if (!plan) {
    const destinations = destinationsOf(snapshot, lastPlan?.byLabel);
    const byLabel = new Map(destinations.map((d) => [d.label, d] as const));
    const pods = podAddressing(snapshot);
    const workloadWaypoints = workloadWaypointsOf(snapshot);
    plan = {
      destinations,
      byLabel: byLabel.size === destinations.length ? byLabel : undefined,
      pods,
      destinationSetKey: destinations.map((d) => `${d.label}@${d.vip}:${d.port.port}`).join(','),
      podAddressingKey: `${pods.prefixes.join(',')}|${pods.capturedExact.join(',')}|${pods.uncaptured.join(',')}`,
      workloadWaypoints,
      workloadWaypointsKey: JSON.stringify(workloadWaypoints),
    };
    PLANS.set(snapshot, plan);
    lastPlan = plan;
  }
  return plan;
}

const ORIGINAL_DST_CONNECT_TIMEOUT = '10s';

/** Envoy substitution for the connection's original destination (TPROXY keeps it as the local address). */
const ORIGINAL_DESTINATION = '%DOWNSTREAM_LOCAL_ADDRESS%';

const PASSTHROUGH = selectChain(PASSTHROUGH_FILTER_CHAIN);

function destinationsOf(snapshot: MeshSnapshot, earlier: ReadonlyMap<string, Destination> | undefined): Destination[] {
  const out: Destination[] = [];
  for (const service of snapshot.services.values()) {
    if (!service.clusterIP) continue;
    const ports = [...service.ports].sort((a, b) => a.port - b.port);
    for (const port of ports) {
      const label = destinationLabel(service, port);
      const inputs = endpointInputs(snapshot, service, service.clusterIP, port);
      const fingerprint = `${service.clusterIP}:${port.port}|${inputs.key}`;
      const reused = earlier?.get(label);
      if (reused && reused.fingerprint === fingerprint) out.push(reused);
      else out.push({ service, vip: service.clusterIP, port, label, endpoints: endpointTemplates(inputs), fingerprint });
    }
  }
  return out;
}

/** How destination pod IPs are recognised in the matcher (see matcher.ts prefixMatcher). */
interface PodAddressing {
  /** Octet-aligned prefixes of node pod CIDRs: "any pod IP here" goes direct. */
  readonly prefixes: readonly string[];
  /** Captured pods not covered by a prefix (no or long pod CIDR, IPv6): listed exactly. */
  readonly capturedExact: readonly string[];
  /** Pods outside the mesh: plain TCP, listed exactly so they win over the prefixes. */
  readonly uncaptured: readonly string[];
}

function podAddressing(snapshot: MeshSnapshot): PodAddressing {
  const prefixes = new Set<string>();
  const coveredNodes = new Set<string>();
  for (const node of snapshot.nodes.values()) {
    const nodePrefixes = node.podCidr ? ipv4CidrToPrefixes(node.podCidr) : undefined;
    if (!nodePrefixes) continue;
    coveredNodes.add(node.name);
    for (const p of nodePrefixes) prefixes.add(p);
  }
  const capturedExact: string[] = [];
  const uncaptured: string[] = [];
  for (const pod of snapshot.pods.values()) {
    if (!pod.podIP) continue;
    if (!snapshot.isCaptured(pod)) uncaptured.push(pod.podIP);
    else if (!coveredNodes.has(pod.nodeName) || pod.podIP.includes(':')) capturedExact.push(pod.podIP);
  }
  return { prefixes: [...prefixes].sort(), capturedExact, uncaptured };
}

function workloadWaypointsOf(snapshot: MeshSnapshot): WorkloadWaypoint[] {
  const byGateway = new Map<string, { gateway: Gateway; podIps: string[] }>();
  for (const pod of snapshot.pods.values()) {
    if (!pod.podIP || !snapshot.isCaptured(pod)) continue;
    const gateway = snapshot.waypointFor(pod);
    if (!gateway) continue;
    const key = `${gateway.namespace}/${gateway.name}`;
    const entry = byGateway.get(key) ?? { gateway, podIps: [] };
    entry.podIps.push(pod.podIP);
    byGateway.set(key, entry);
  }
  const out: WorkloadWaypoint[] = [];
  for (const { gateway, podIps } of byGateway.values()) {
    // Istio runs a waypoint under the service account named after its Gateway.
    const identity = spiffeUri({ trustDomain: snapshot.trustDomain, namespace: gateway.namespace, serviceAccount: gateway.name });
    out.push(
      deepFreeze({
        label: waypointLabel(gateway),
        podIps: podIps.sort(),
        addresses: [...snapshot.waypointAddressesOf(gateway)].sort(),
        istio: { waypoint: gateway.name, namespace: gateway.namespace, identity },
      }),
    );
  }
  return out.sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
}

const TUNNEL_H2 = Object.freeze({ tunnel: 'h2' });

function tunnelTemplate(endpointId: string, tunnelAddress: string, destination: string, istio: JsonObject): EndpointTemplate {
  const metadata = { filter_metadata: { 'envoy.transport_socket_match': TUNNEL_H2, tunnel: { address: tunnelAddress, destination }, istio } };
  return { endpointId, metadata: deepFreeze(metadata) };
}

/** The LbEndpoint JSON of a template for one source identity. */
function lbEndpoint(template: EndpointTemplate, sourceSpiffe: string): JsonObject {
  if ('plain' in template) return template.plain;
  return {
    endpoint: { address: { envoy_internal_address: { server_listener_name: tunnelListenerName(sourceSpiffe), endpoint_id: template.endpointId } } },
    health_status: 'HEALTHY',
    metadata: template.metadata,
    load_balancing_weight: 1,
  };
}

/**
 * The `istio` metadata passed through to the tunnel listener: who the destination is, so the
 * tunnel can check the server certificate's identity and access logs can name the workload.
 */
function workloadMetadata(snapshot: MeshSnapshot, pod: Pod): JsonObject {
  return { workload: pod.name, namespace: pod.namespace, identity: snapshot.spiffeOf(pod) };
}

/** What a destination's endpoints are made of: a waypoint, or the service's pods. */
type EndpointInputs =
  | { readonly key: string; readonly waypoint: { readonly vipPort: string; readonly istio: JsonObject; readonly addresses: readonly string[] } }
  | { readonly key: string; readonly pods: ReadonlyArray<{ readonly target: string; readonly tunnel: string | undefined; readonly istio: JsonObject; readonly ip: string; readonly port: number }> };

function endpointInputs(snapshot: MeshSnapshot, service: Service, vip: string, port: ServicePort): EndpointInputs {
  const waypoint = snapshot.waypointFor(service);
  if (waypoint) {
    const vipPort = address(vip, port.port);
    // Istio runs a waypoint under the service account named after its Gateway.
    const identity = spiffeUri({ trustDomain: snapshot.trustDomain, namespace: waypoint.namespace, serviceAccount: waypoint.name });
    const addresses = snapshot.waypointAddressesOf(waypoint);
    return {
      key: `waypoint ${waypoint.namespace}/${waypoint.name} ${identity} ${vipPort} ${addresses.join(',')}`,
      waypoint: { vipPort, istio: { waypoint: waypoint.name, namespace: waypoint.namespace, identity }, addresses },
    };
  }
  const pods = [];
  const keys = [];
  for (const e of snapshot.endpointsOf(service)) {
    if (e.servicePort.port !== port.port) continue;
    const target = address(e.address, e.targetPort);
    const istio = workloadMetadata(snapshot, e.pod);
    const tunnel = snapshot.isCaptured(e.pod) ? address(e.address, HBONE_PORT) : undefined;
    pods.push({ target, tunnel, istio, ip: e.address, port: e.targetPort });
    keys.push(`${target} ${tunnel ?? '-'} ${String(istio['namespace'])}/${String(istio['workload'])} ${String(istio['identity'])}`);
  }
  return { key: keys.join(','), pods };
}

/** The endpoints of one service port, sorted by address. */
function endpointTemplates(inputs: EndpointInputs): EndpointTemplate[] {
  const keyed: { key: string; template: EndpointTemplate }[] = [];
  if ('waypoint' in inputs) {
    const { vipPort, istio, addresses } = inputs.waypoint;
    for (const ip of addresses) {
      const hbone = address(ip, HBONE_PORT);
      keyed.push({ key: hbone, template: tunnelTemplate(hbone, hbone, vipPort, istio) });
    }
  } else {
    for (const { target, tunnel, istio, ip, port } of inputs.pods) {
      const template: EndpointTemplate = tunnel
        ? tunnelTemplate(target, tunnel, target, istio)
        : {
            plain: deepFreeze({
              endpoint: { address: socketAddress(ip, port) },
              health_status: 'HEALTHY',
              metadata: { filter_metadata: { istio } },
              load_balancing_weight: 1,
            }),
          };
      keyed.push({ key: target, template });
    }
  }
  return keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((k) => k.template);
}

function outboundInternalCluster(name: string): EnvoyResource {
  return clusterResource(name, TUNNELLED_EDS_CLUSTER_FIELDS);
}

function loadAssignment(clusterName: string, lbEndpoints: readonly JsonObject[]): EnvoyResource {
  return {
    '@type': typeUrl(TYPE.clusterLoadAssignment),
    cluster_name: clusterName,
    endpoints: lbEndpoints.length > 0 ? [{ lb_endpoints: lbEndpoints }] : [],
  };
}

/** tcp_proxy that opens an HBONE tunnel to `hostname` on the tunnel cluster of `sourceSpiffe`. */
function tunnellingProxy(statPrefix: string, sourceSpiffe: string, hostname: string, originalDestination: string): JsonObject {
  return tunnellingTcpProxy(statPrefix, tunnelClusterName(sourceSpiffe), hostname, originalDestination);
}

function chain(name: string, filter: JsonObject, service?: string): JsonObject {
  return service === undefined ? { filters: [filter], name } : { filters: [filter], metadata: chainServiceMetadata(service), name };
}

export const PASSTHROUGH_CLUSTER_RESOURCE: EnvoyResource = clusterResource(PASSTHROUGH_CLUSTER, {
  type: 'ORIGINAL_DST',
  connect_timeout: ORIGINAL_DST_CONNECT_TIMEOUT,
  lb_policy: 'CLUSTER_PROVIDED',
});

/** No endpoints: connections to it are closed. */
export const BLACKHOLE_CLUSTER_RESOURCE: EnvoyResource = clusterResource(BLACKHOLE_CLUSTER, {
  type: 'STATIC',
  connect_timeout: ORIGINAL_DST_CONNECT_TIMEOUT,
});

/** The EDS cluster `<spiffe>_to_<label>_outbound_internal` and its ClusterLoadAssignment. */
export function outboundInternalResources(spiffe: string, dest: Destination): { cluster: EnvoyResource; endpoints: EnvoyResource } {
  const name = outboundInternalNameFor(spiffe, dest.label);
  return { cluster: outboundInternalCluster(name), endpoints: loadAssignment(name, dest.endpoints.map((t) => lbEndpoint(t, spiffe))) };
}

/**
 * The EDS cluster `<spiffe>_to_waypoint_<label>_outbound_pod` and its ClusterLoadAssignment: the
 * cluster speaks HBONE itself (TLS with the source identity's certificate, HTTP/2 CONNECT) to the
 * waypoint's addresses on 15008, each expected to present the waypoint's identity.
 */
export function outboundWaypointResources(spiffe: string, waypoint: WorkloadWaypoint): { cluster: EnvoyResource; endpoints: EnvoyResource } {
  const name = outboundWaypointName(spiffe, waypoint.label);
  const cluster = clusterResource(name, {
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
    connect_timeout: ORIGINAL_DST_CONNECT_TIMEOUT,
    transport_socket: extension('envoy.transport_sockets.tls', TYPE.upstreamTls, { common_tls_context: hboneTlsContext(spiffe) }),
    typed_extension_protocol_options: {
      [TYPE.httpProtocolOptions]: any(TYPE.httpProtocolOptions, { explicit_http_config: { http2_protocol_options: { allow_connect: true } } }),
    },
  });
  const lb = waypoint.addresses.map((ip) => ({
    endpoint: { address: socketAddress(ip, HBONE_PORT) },
    health_status: 'HEALTHY',
    metadata: { filter_metadata: { istio: waypoint.istio } },
    load_balancing_weight: 1,
  }));
  return { cluster, endpoints: loadAssignment(name, lb) };
}

/** The HBONE tunnel listener and cluster of one source identity. */
export function tunnelResources(spiffe: string): { listener: EnvoyResource; cluster: EnvoyResource } {
  return { listener: hboneOriginateListener(tunnelListenerName(spiffe), tunnelClusterName(spiffe)), cluster: hboneOriginateCluster(tunnelClusterName(spiffe), spiffe) };
}

/** The distinct identities of `localPods`, sorted. */
export function identitiesOf(snapshot: MeshSnapshot, localPods: readonly Pod[]): string[] {
  return [...new Set(localPods.map((p) => snapshot.spiffeOf(p)))].sort();
}

/**
 * `ztunnel_outbound` for the captured pods in `localPods` (which must have IPs): its filter
 * chains (per identity and destination, direct, passthrough, blackhole) and its matcher.
 */
export function outboundListener(snapshot: MeshSnapshot, localPods: readonly Pod[]): EnvoyResource {
  const { destinations, pods, workloadWaypoints } = meshPlan(snapshot);
  const chains: JsonObject[] = [
    chain(BLACKHOLE_FILTER_CHAIN, tcpProxy(BLACKHOLE_CLUSTER, BLACKHOLE_CLUSTER)),
    chain(PASSTHROUGH_FILTER_CHAIN, tcpProxy(PASSTHROUGH_CLUSTER, PASSTHROUGH_CLUSTER)),
  ];
  const destinationMatcherByIdentity = new Map<string, OnMatch>();

  for (const spiffe of identitiesOf(snapshot, localPods)) {
    // Destination IP → port → chain, for this identity.
    const byVip = new Map<string, Map<string, OnMatch>>();
    for (const dest of destinations) {
      const name = outboundInternalNameFor(spiffe, dest.label);
      chains.push(chain(name, tcpProxy(name, name), serviceHostname(dest.service)));
      const ports = byVip.get(dest.vip) ?? new Map<string, OnMatch>();
      ports.set(String(dest.port.port), selectChain(name));
      byVip.set(dest.vip, ports);
    }
    const byIp = new Map<string, OnMatch>();
    // No on_no_match below the destination IP: an unknown port falls back to the nearest
    // enclosing on_no_match (Envoy's "most specific on_no_match"), which ends at passthrough.
    for (const [vip, ports] of byVip) byIp.set(vip, nested(exactMatcher(INPUT.destinationPort, ports)));
    // Direct to a pod IP: exact entries first (they also let uncaptured pods inside a pod CIDR
    // win over the CIDR's prefix), then the pod CIDR prefixes.
    // Pods enrolled in a waypoint for workload traffic: to the waypoint, :authority = pod:port.
    for (const waypoint of workloadWaypoints) {
      const name = outboundWaypointName(spiffe, waypoint.label);
      chains.push(chain(name, tunnellingTcpProxy(name, name, ORIGINAL_DESTINATION, ORIGINAL_DESTINATION)));
      for (const ip of waypoint.podIps) if (!byIp.has(ip)) byIp.set(ip, selectChain(name));
    }
    const direct = outboundDirectName(spiffe);
    const toPod = selectChain(direct);
    for (const ip of pods.uncaptured) if (!byIp.has(ip)) byIp.set(ip, PASSTHROUGH);
    for (const ip of pods.capturedExact) if (!byIp.has(ip)) byIp.set(ip, toPod);
    const prefixes = new Map(pods.prefixes.map((p) => [p, toPod] as const));
    const podFallback = prefixes.size > 0 ? nested(prefixMatcher(INPUT.destinationIp, prefixes, PASSTHROUGH)) : PASSTHROUGH;
    if (prefixes.size > 0 || pods.capturedExact.length > 0) {
      chains.push(chain(direct, tunnellingProxy(direct, spiffe, ORIGINAL_DESTINATION, ORIGINAL_DESTINATION)));
    }
    destinationMatcherByIdentity.set(spiffe, exactOrFallback(INPUT.destinationIp, byIp, podFallback));
  }

  // Every pod of an identity shares that identity's matcher object (the encoder writes it once).
  const bySource = new Map<string, OnMatch>();
  for (const pod of localPods) bySource.set(pod.podIP as string, destinationMatcherByIdentity.get(snapshot.spiffeOf(pod)) as OnMatch);

  const loopPort = new Map([[String(ZTUNNEL_OUTBOUND_PORT), selectChain(BLACKHOLE_FILTER_CHAIN)]]);
  return transparentListener(OUTBOUND_LISTENER, ZTUNNEL_OUTBOUND_PORT, {
    filter_chains: chains.sort(byName),
    filter_chain_matcher: exactMatcher(INPUT.destinationPort, loopPort, exactOrFallback(INPUT.sourceIp, bySource, PASSTHROUGH)),
  });
}

/**
 * Everything outbound for the captured pods in `localPods` (which must have IPs). Resources for
 * one identity are generated once however many local pods share it.
 */
export function outboundResources(snapshot: MeshSnapshot, localPods: readonly Pod[]): XdsResources {
  const { destinations, workloadWaypoints } = meshPlan(snapshot);
  const listeners: EnvoyResource[] = [];
  const clusters: EnvoyResource[] = [];
  const endpoints: EnvoyResource[] = [];
  for (const spiffe of identitiesOf(snapshot, localPods)) {
    for (const dest of destinations) {
      const internal = outboundInternalResources(spiffe, dest);
      clusters.push(internal.cluster);
      endpoints.push(internal.endpoints);
    }
    for (const waypoint of workloadWaypoints) {
      const resources = outboundWaypointResources(spiffe, waypoint);
      clusters.push(resources.cluster);
      endpoints.push(resources.endpoints);
    }
    const tunnel = tunnelResources(spiffe);
    listeners.push(tunnel.listener);
    clusters.push(tunnel.cluster);
  }
  listeners.push(outboundListener(snapshot, localPods));
  return { listeners, clusters, endpoints };
}
