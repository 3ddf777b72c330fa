/**
 * Outbound: the `ztunnel_outbound` listener (15001) with its filter_chain_matcher, the
 * per-identity `_outbound_internal` EDS clusters and endpoints, and the HBONE tunnel listener
 * and cluster per identity. Shapes from seed 002 ("Ztunnel A 上的出站流量路由") and seed 004
 * ("Outbound 流量处理").
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
 * Anything else: PassthroughFilterChain. Destination port 15001: BlackHoleCluster (a loop).
 */
import { spiffeUri, type MeshSnapshot, type Pod, type Service, type ServicePort } from '@mesh/mesh-model';
import { deepFreeze } from './freeze.js';
import {
  TUNNELLED_EDS_CLUSTER_FIELDS,
  TYPE,
  any,
  byName,
  clusterResource,
  extension,
  hboneTlsContext,
  socketAddress,
  tcpProxy,
  transparentListener,
  typeUrl,
  type EnvoyResource,
  type JsonObject,
} from './envoy.js';
import { INPUT, exactMatcher, exactOrFallback, ipv4CidrToPrefixes, nested, prefixMatcher, selectChain, type OnMatch } from './matcher.js';
import {
  BLACKHOLE_CLUSTER,
  BLACKHOLE_FILTER_CHAIN,
  HBONE_PORT,
  OUTBOUND_LISTENER,
  PASSTHROUGH_CLUSTER,
  PASSTHROUGH_FILTER_CHAIN,
  ZTUNNEL_OUTBOUND_PORT,
  address,
  outboundDirectName,
  destinationLabel,
  outboundInternalNameFor,
  tunnelClusterName,
  tunnelListenerName,
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
interface Destination {
  readonly service: Service;
  readonly vip: string;
  readonly port: ServicePort;
  /** `http_reviews.default.svc.cluster.local` (names.ts destinationLabel). */
  readonly label: string;
  /** Sorted by address. */
  readonly endpoints: readonly EndpointTemplate[];
}

/**
 * One endpoint of a destination. A tunnelled endpoint differs between identities only in its
 * internal listener's name, so its metadata is built once and shared (frozen); a plain endpoint
 * is the same JSON for every identity.
 */
type EndpointTemplate = { readonly endpointId: string; readonly metadata: JsonObject } | { readonly plain: JsonObject };

/** What every node's generation shares for one snapshot. */
interface MeshPlan {
  readonly destinations: readonly Destination[];
  readonly pods: PodAddressing;
}

// Memoised per snapshot (snapshots are immutable, so this cannot go stale): generating all
// nodes of a mesh computes the mesh-wide part once.
const PLANS = new WeakMap<MeshSnapshot, MeshPlan>();

function meshPlan(snapshot: MeshSnapshot): MeshPlan {
  let plan = PLANS.get(snapshot);
  if (!plan) {
    plan = { destinations: destinationsOf(snapshot), pods: podAddressing(snapshot) };
    PLANS.set(snapshot, plan);
  }
  return plan;
}

/** Connect timeout and idle-host cleanup of the tunnel cluster (seed 002). */
const TUNNEL_CONNECT_TIMEOUT = '2s';
const TUNNEL_CLEANUP_INTERVAL = '60s';
const ORIGINAL_DST_CONNECT_TIMEOUT = '10s';

/** Envoy substitution for the connection's original destination (TPROXY keeps it as the local address). */
const ORIGINAL_DESTINATION = '%DOWNSTREAM_LOCAL_ADDRESS%';

const PASSTHROUGH = selectChain(PASSTHROUGH_FILTER_CHAIN);

function destinationsOf(snapshot: MeshSnapshot): Destination[] {
  const out: Destination[] = [];
  for (const service of snapshot.services.values()) {
    if (!service.clusterIP) continue;
    const ports = [...service.ports].sort((a, b) => a.port - b.port);
    for (const port of ports) {
      const endpoints = endpointTemplates(snapshot, service, service.clusterIP, port);
      out.push({ service, vip: service.clusterIP, port, label: destinationLabel(service, port), endpoints });
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

/** The endpoints of one service port, sorted by address. */
function endpointTemplates(snapshot: MeshSnapshot, service: Service, vip: string, port: ServicePort): EndpointTemplate[] {
  const keyed: { key: string; template: EndpointTemplate }[] = [];
  const waypoint = snapshot.waypointFor(service);
  if (waypoint) {
    const vipPort = address(vip, port.port);
    // Istio runs a waypoint under the service account named after its Gateway.
    const identity = spiffeUri({ trustDomain: snapshot.trustDomain, namespace: waypoint.namespace, serviceAccount: waypoint.name });
    const istio = { waypoint: waypoint.name, namespace: waypoint.namespace, identity };
    for (const ip of snapshot.waypointAddressesOf(waypoint)) {
      const hbone = address(ip, HBONE_PORT);
      keyed.push({ key: hbone, template: tunnelTemplate(hbone, hbone, vipPort, istio) });
    }
  } else {
    for (const e of snapshot.endpointsOf(service)) {
      if (e.servicePort.port !== port.port) continue;
      const target = address(e.address, e.targetPort);
      const istio = workloadMetadata(snapshot, e.pod);
      const template: EndpointTemplate = snapshot.isCaptured(e.pod)
        ? tunnelTemplate(target, address(e.address, HBONE_PORT), target, istio)
        : {
            plain: deepFreeze({
              endpoint: { address: socketAddress(e.address, e.targetPort) },
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

/** tcp_proxy that opens an HTTP/2 CONNECT tunnel to `hostname` (seed 000, seed 002). */
function tunnellingProxy(statPrefix: string, sourceSpiffe: string, hostname: string, originalDestination: string): JsonObject {
  return tcpProxy(statPrefix, tunnelClusterName(sourceSpiffe), {
    tunneling_config: {
      hostname,
      headers_to_add: [{ header: { key: 'x-envoy-original-dst-host', value: originalDestination } }],
    },
  });
}

/** Internal listener `outbound_tunnel_lis_<spiffe>` (seed 002 "通过 Envoy 内部监听器建立 HBONE 隧道"). */
function tunnelListener(sourceSpiffe: string): EnvoyResource {
  const name = tunnelListenerName(sourceSpiffe);
  return {
    '@type': typeUrl(TYPE.listener),
    name,
    filter_chains: [
      {
        filters: [tunnellingProxy(name, sourceSpiffe, '%DYNAMIC_METADATA(tunnel:destination)%', '%DYNAMIC_METADATA(["tunnel", "destination"])%')],
      },
    ],
    use_original_dst: false,
    // Seed 004: copies the endpoint's tunnel.address into the original-destination filter
    // state, so the ORIGINAL_DST cluster below connects to pod:15008.
    listener_filters: [
      {
        name: 'set_dst_address',
        typed_config: any(TYPE.typedStruct, { type_url: 'type.googleapis.com/istio.set_internal_dst_address.v1.Config', value: {} }),
      },
    ],
    internal_listener: {},
  };
}

/** Cluster `outbound_tunnel_clus_<spiffe>`: mTLS (TLS 1.3, h2) to <destination>:15008 with the source's certificate. */
function tunnelCluster(sourceSpiffe: string): EnvoyResource {
  return clusterResource(tunnelClusterName(sourceSpiffe), {
    type: 'ORIGINAL_DST',
    connect_timeout: TUNNEL_CONNECT_TIMEOUT,
    lb_policy: 'CLUSTER_PROVIDED',
    cleanup_interval: TUNNEL_CLEANUP_INTERVAL,
    transport_socket: extension('envoy.transport_sockets.tls', TYPE.upstreamTls, { common_tls_context: hboneTlsContext(sourceSpiffe) }),
    original_dst_lb_config: { upstream_port_override: HBONE_PORT },
    typed_extension_protocol_options: {
      [TYPE.httpProtocolOptions]: any(TYPE.httpProtocolOptions, { explicit_http_config: { http2_protocol_options: { allow_connect: true } } }),
    },
  });
}

function chain(name: string, filter: JsonObject): JsonObject {
  return { filters: [filter], name };
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

/**
 * Everything outbound for the captured pods in `localPods` (which must have IPs). Resources for
 * one identity are generated once however many local pods share it.
 */
export function outboundResources(snapshot: MeshSnapshot, localPods: readonly Pod[]): XdsResources {
  const { destinations, pods } = meshPlan(snapshot);

  const identities = [...new Set(localPods.map((p) => snapshot.spiffeOf(p)))].sort();
  const listeners: EnvoyResource[] = [];
  const clusters: EnvoyResource[] = [];
  const endpoints: EnvoyResource[] = [];
  const chains: JsonObject[] = [
    chain(BLACKHOLE_FILTER_CHAIN, tcpProxy(BLACKHOLE_CLUSTER, BLACKHOLE_CLUSTER)),
    chain(PASSTHROUGH_FILTER_CHAIN, tcpProxy(PASSTHROUGH_CLUSTER, PASSTHROUGH_CLUSTER)),
  ];
  const destinationMatcherByIdentity = new Map<string, OnMatch>();

  for (const spiffe of identities) {
    // Destination IP → port → chain, for this identity.
    const byVip = new Map<string, Map<string, OnMatch>>();
    for (const dest of destinations) {
      const name = outboundInternalNameFor(spiffe, dest.label);
      chains.push(chain(name, tcpProxy(name, name)));
      clusters.push(outboundInternalCluster(name));
      endpoints.push(loadAssignment(name, dest.endpoints.map((t) => lbEndpoint(t, spiffe))));
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

    listeners.push(tunnelListener(spiffe));
    clusters.push(tunnelCluster(spiffe));
  }

  const bySource = new Map<string, OnMatch>();
  for (const pod of localPods) bySource.set(pod.podIP as string, destinationMatcherByIdentity.get(snapshot.spiffeOf(pod)) as OnMatch);

  const loopPort = new Map([[String(ZTUNNEL_OUTBOUND_PORT), selectChain(BLACKHOLE_FILTER_CHAIN)]]);
  listeners.push(
    transparentListener(OUTBOUND_LISTENER, ZTUNNEL_OUTBOUND_PORT, {
      filter_chains: chains.sort(byName),
      filter_chain_matcher: exactMatcher(INPUT.destinationPort, loopPort, exactOrFallback(INPUT.sourceIp, bySource, PASSTHROUGH)),
    }),
  );
  return { listeners, clusters, endpoints };
}
