/**
 * The workload dialect: Istio's `istio.workload.Address` and `istio.security.Authorization`
 * resources → the one runtime model the proxy interprets (model.ts), so a connection is planned
 * by the same code whichever dialect configured the node.
 *
 * The model is the compiled form of the Envoy-dialect subset; this compiler produces the
 * equivalent of what the Envoy dialect would send this node, named the same way (chains,
 * clusters, tunnel listeners per local identity), so access logs, metrics and `x explain` read
 * alike in both dialects:
 *
 *   outbound   source = a local captured workload (HBONE, not a native-tunnel waypoint) →
 *              destination port 15001 → BlackHoleCluster; a Service VIP and one of its ports →
 *              `<src spiffe>_to_<http|tcp>_<host>[:port]_outbound_internal` (EDS cluster whose
 *              endpoints are the service's workloads, or its waypoint's, tunnelled through
 *              `outbound_tunnel_lis_<src spiffe>`); the IP of a captured workload whose
 *              `waypoint` is set (istiod sends it for `istio.io/waypoint-for: workload|all`) →
 *              `<src spiffe>_to_waypoint_<waypoint host or ip>_outbound_pod` (EDS cluster with
 *              HBONE TLS to the waypoint's workloads on their HBONE port, `:authority` = the
 *              original destination); another captured workload's IP →
 *              `<src spiffe>_to_pod_outbound_direct`; anything else → PassthroughFilterChain.
 *   inbound    a chain per local captured workload (HBONE and plaintext), its identity, and the
 *              RBAC filters of the Authorizations that apply to it (@mesh/workload-api rbac).
 *
 * Endpoint lists are built once per service port and shared by every local identity (the EDS
 * cluster names the tunnel listener), so the model grows with local identities × service ports
 * for its small chain and cluster entries only, and with the mesh for everything else.
 *
 * Pure: records in, model parts out. What a resource cannot express is refused earlier, while
 * converting it (@mesh/workload-api from-xds), with the resource and field named.
 */
import {
  BLACKHOLE_FILTER_CHAIN,
  INBOUND_LISTENER,
  INBOUND_PLAINTEXT_LISTENER,
  ORIGINAL_DST_HEADER,
  OUTBOUND_LISTENER,
  PASSTHROUGH_FILTER_CHAIN,
  VIRTUAL_INBOUND_CLUSTER,
  ZTUNNEL_INBOUND_PLAINTEXT_PORT,
  ZTUNNEL_OUTBOUND_PORT,
  parseCidr,
  tunnelClusterName,
  tunnelListenerName,
} from '@mesh/envoy-config';
import { HBONE_PORT } from '@mesh/hbone-core';
import {
  endpointTargetPort,
  joinEndpoints,
  policiesFor,
  policyKey,
  serviceKey,
  splitNetworkAddress,
  workloadIdentity,
  workloadRbacFilters,
  type ZtunnelGatewayAddress,
  type ZtunnelPolicy,
  type ZtunnelService,
  type ZtunnelWorkload,
} from '@mesh/workload-api';
import { formatAddress } from '@mesh/envoy-config';
import type { RbacPolicy } from '@mesh/envoy-config';
import type { ChainLookup } from './matcher.js';
import {
  WELL_KNOWN_CHAINS,
  WELL_KNOWN_CLUSTERS,
  type ClusterModel,
  type Endpoint,
  type EndpointModel,
  type InboundChain,
  type InternalListener,
  type ListenerModel,
  type TcpProxyRoute,
} from './model.js';


/** What a workload-dialect ztunnel holds: every resource it was sent, converted (by xDS name). */
export interface WorkloadState {
  readonly workloads: ReadonlyMap<string, ZtunnelWorkload>;
  readonly services: ReadonlyMap<string, ZtunnelService>;
  readonly policies: ReadonlyMap<string, ZtunnelPolicy>;
}

export const EMPTY_WORKLOAD_STATE: WorkloadState = { workloads: new Map(), services: new Map(), policies: new Map() };

export interface CompiledWorkloadModel {
  readonly listeners: ListenerModel;
  readonly clusters: ReadonlyMap<string, ClusterModel>;
  readonly endpoints: EndpointModel;
  /** Services with their endpoints joined, for config_dump and explanations. */
  readonly services: readonly ZtunnelService[];
}

/** Is this workload served by a ztunnel (captured), rather than plain TCP or a native HBONE speaker? */
export function isCapturedWorkload(w: ZtunnelWorkload): boolean {
  return w.protocol === 'HBONE' && w.nativeTunnel !== true;
}

const spiffeOf = (w: ZtunnelWorkload) => workloadIdentity(w);
const directChainName = (spiffe: string) => `${spiffe}_to_pod_outbound_direct`;
const internalName = (spiffe: string, label: string) => `${spiffe}_to_${label}_outbound_internal`;
/** The Envoy dialect's `<src spiffe>_to_waypoint_<label>_outbound_pod` (istiod-lite generate/names.ts). */
const waypointChainName = (spiffe: string, label: string) => `${spiffe}_to_waypoint_${label}_outbound_pod`;
/** `namespace/hostname` or `network/ip` → the hostname or IP, as the Envoy dialect names the waypoint. */
const waypointLabelOf = (waypoint: ZtunnelGatewayAddress) => waypoint.destination.slice(waypoint.destination.indexOf('/') + 1);
/** Key of the shared endpoint list of a waypoint taking pod-addressed traffic. */
const waypointEndpointsKey = (label: string) => `waypoint|${label}`;

/** `http_reviews.default.svc.cluster.local` (`:<port>` after the host when the service has several ports). */
function destinationLabel(service: ZtunnelService, port: string): string {
  const host = Object.keys(service.ports).length > 1 ? `${service.hostname}:${port}` : service.hostname;
  return `${service.appProtocols?.[port] ?? 'tcp'}_${host}`;
}

const byText = <T>(key: (t: T) => string) => (a: T, b: T) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);

/** The workloads (or the bare IP) where a waypoint accepts HBONE: its generated Service's endpoints, or its address. */
function waypointTargets(
  waypoint: ZtunnelGatewayAddress,
  services: ReadonlyMap<string, ZtunnelService>,
  workloads: ReadonlyMap<string, ZtunnelWorkload>,
  workloadByIp: ReadonlyMap<string, ZtunnelWorkload>,
): { w: ZtunnelWorkload | undefined; ip: string }[] {
  const out: { w: ZtunnelWorkload | undefined; ip: string }[] = [];
  const gateway = services.get(waypoint.destination);
  if (gateway) {
    for (const e of Object.values(gateway.endpoints)) {
      const w = workloads.get(e.workloadUid);
      if (w?.workloadIps[0]) out.push({ w, ip: w.workloadIps[0] });
    }
  } else if (!waypoint.destination.includes('.')) {
    // network/ip: the waypoint by address.
    const { ip } = splitNetworkAddress(waypoint.destination);
    out.push({ w: workloadByIp.get(ip), ip });
  }
  return out;
}

/**
 * Endpoints of a waypoint taking pod-addressed traffic: plain `ip:<hbone port>` addresses the
 * EDS-with-TLS cluster opens HBONE to, each expected to present its workload's identity.
 */
function waypointPodEndpoints(waypoint: ZtunnelGatewayAddress, targets: readonly { w: ZtunnelWorkload | undefined; ip: string }[]): Endpoint[] {
  return targets
    .map(({ w, ip }) => {
      const address = formatAddress(ip, waypoint.hboneMtlsPort);
      return { key: address, endpoint: { kind: 'socket', healthy: w ? w.status === 'Healthy' : true, address, ...(w ? { identity: spiffeOf(w) } : {}) } satisfies Endpoint };
    })
    .sort(byText((e) => e.key))
    .map((e) => e.endpoint);
}

/** The endpoints of one service port: its workloads (or its waypoint's), sorted by address. */
function serviceEndpoints(
  service: ZtunnelService,
  servicePort: number,
  vip: string,
  services: ReadonlyMap<string, ZtunnelService>,
  workloads: ReadonlyMap<string, ZtunnelWorkload>,
  workloadByIp: ReadonlyMap<string, ZtunnelWorkload>,
): Endpoint[] {
  const out: { key: string; endpoint: Endpoint }[] = [];
  const waypoint = service.waypoint;
  if (waypoint) {
    const destination = formatAddress(vip, servicePort);
    const tunnelTo = (w: ZtunnelWorkload | undefined, ip: string) => {
      const address = formatAddress(ip, waypoint.hboneMtlsPort);
      out.push({
        key: address,
        endpoint: {
          kind: 'tunnel',
          healthy: w ? w.status === 'Healthy' : true,
          // The cluster names the tunnel listener of its local identity (the list is shared).
          internalListener: undefined,
          endpointId: address,
          tunnel: { address, destination },
          // The destination is the service (through its waypoint), not the waypoint's workload.
          ...(w ? { identity: spiffeOf(w) } : {}),
        },
      });
    };
    for (const { w, ip } of waypointTargets(waypoint, services, workloads, workloadByIp)) tunnelTo(w, ip);
  } else {
    for (const e of Object.values(service.endpoints)) {
      const w = workloads.get(e.workloadUid);
      const ip = w?.workloadIps[0];
      const target = w ? endpointTargetPort(service, e, servicePort) : undefined;
      if (!w || !ip || target === undefined) continue;
      const address = formatAddress(ip, target);
      const common = { healthy: w.status === 'Healthy', identity: spiffeOf(w), workload: w.name };
      out.push({
        key: address,
        endpoint: isCapturedWorkload(w)
          ? { kind: 'tunnel', ...common, internalListener: undefined, endpointId: address, tunnel: { address: formatAddress(ip, HBONE_PORT), destination: address } }
          : { kind: 'socket', ...common, address },
      });
    }
  }
  return out.sort(byText((e) => e.key)).map((e) => e.endpoint);
}

function tunnelRoute(spiffe: string, statPrefix: string, hostname: string): TcpProxyRoute {
  return { statPrefix, cluster: tunnelClusterName(spiffe), tunneling: { hostname, headers: [{ key: ORIGINAL_DST_HEADER, value: hostname }] } };
}

/** Compiles the whole workload state for the ztunnel of `nodeName`. */
export function compileWorkloadModel(state: WorkloadState, nodeName: string): CompiledWorkloadModel {
  const workloads = new Map([...state.workloads].sort(byText(([uid]) => uid)));
  const services = new Map(joinEndpoints(state.services.values(), workloads.values()).map((s) => [serviceKey(s), s]));

  const workloadByIp = new Map<string, ZtunnelWorkload>();
  for (const w of workloads.values()) for (const ip of w.workloadIps) if (!workloadByIp.has(ip)) workloadByIp.set(ip, w);
  const local = [...workloads.values()].filter((w) => w.node === nodeName && isCapturedWorkload(w) && w.workloadIps.length > 0);
  const localByIp = new Map<string, ZtunnelWorkload>();
  for (const w of local) for (const ip of w.workloadIps) localByIp.set(ip, w);
  const identities = [...new Set(local.map(spiffeOf))].sort();

  // Service ports reachable at a VIP: the endpoints are shared by every local identity.
  const clusters = new Map<string, ClusterModel>(WELL_KNOWN_CLUSTERS);
  const chains = new Map<string, TcpProxyRoute>(Object.entries(WELL_KNOWN_CHAINS));
  const byCluster = new Map<string, Endpoint[]>();
  const labelByVipPort = new Map<string, string>();
  const hostByLabel = new Map<string, string>();
  const serviceVips = new Map<string, string>();
  for (const service of [...services.values()].sort(byText(serviceKey))) {
    for (const vipText of service.vips) {
      const { ip: vip } = splitNetworkAddress(vipText);
      if (!serviceVips.has(service.hostname)) serviceVips.set(service.hostname, vip);
      for (const port of Object.keys(service.ports)) {
        const label = destinationLabel(service, port);
        labelByVipPort.set(`${vip}|${port}`, label);
        hostByLabel.set(label, service.hostname);
        if (!byCluster.has(label)) byCluster.set(label, serviceEndpoints(service, Number(port), vip, services, workloads, workloadByIp));
      }
    }
  }
  // Waypoints taking pod-addressed traffic: one endpoint list each, shared by every local identity.
  const waypointLabels = new Set<string>();
  for (const w of workloads.values()) {
    if (!w.waypoint || !isCapturedWorkload(w)) continue;
    const label = waypointLabelOf(w.waypoint);
    if (waypointLabels.has(label)) continue;
    waypointLabels.add(label);
    byCluster.set(waypointEndpointsKey(label), waypointPodEndpoints(w.waypoint, waypointTargets(w.waypoint, services, workloads, workloadByIp)));
  }
  const internal = new Map<string, InternalListener>();
  /** Chain → the Service it is for, as the Envoy dialect's chain metadata says it. */
  const chainServices = new Map<string, string>();
  for (const spiffe of identities) {
    const listener = tunnelListenerName(spiffe);
    internal.set(listener, { name: listener, route: tunnelRoute(spiffe, listener, '%DYNAMIC_METADATA(tunnel:destination)%') });
    clusters.set(tunnelClusterName(spiffe), { kind: 'original_dst', name: tunnelClusterName(spiffe), upstreamPortOverride: HBONE_PORT, useHttpHeader: false, tlsIdentity: spiffe });
    chains.set(directChainName(spiffe), tunnelRoute(spiffe, directChainName(spiffe), '%DOWNSTREAM_LOCAL_ADDRESS%'));
    for (const label of new Set(labelByVipPort.values())) {
      const name = internalName(spiffe, label);
      chains.set(name, { statPrefix: name, cluster: name });
      const host = hostByLabel.get(label);
      if (host !== undefined) chainServices.set(name, host);
      clusters.set(name, { kind: 'eds', name, serviceName: label, tunnelListener: listener });
    }
    for (const label of waypointLabels) {
      const name = waypointChainName(spiffe, label);
      chains.set(name, { ...tunnelRoute(spiffe, name, '%DOWNSTREAM_LOCAL_ADDRESS%'), cluster: name });
      clusters.set(name, { kind: 'eds', name, serviceName: waypointEndpointsKey(label), tlsIdentity: spiffe });
    }
  }
  clusters.set(VIRTUAL_INBOUND_CLUSTER, { kind: 'original_dst', name: VIRTUAL_INBOUND_CLUSTER, upstreamPortOverride: undefined, useHttpHeader: true, tlsIdentity: undefined });

  const lookup: ChainLookup = ({ sourceIp, destinationIp, destinationPort }) => {
    if (destinationPort === ZTUNNEL_OUTBOUND_PORT) return BLACKHOLE_FILTER_CHAIN;
    const source = localByIp.get(sourceIp);
    if (!source) return PASSTHROUGH_FILTER_CHAIN;
    const label = labelByVipPort.get(`${destinationIp}|${destinationPort}`);
    if (label) return internalName(spiffeOf(source), label);
    const destination = workloadByIp.get(destinationIp);
    if (!destination || !isCapturedWorkload(destination)) return PASSTHROUGH_FILTER_CHAIN;
    // A workload enrolled in a waypoint for workload traffic: through the waypoint.
    if (destination.waypoint) return waypointChainName(spiffeOf(source), waypointLabelOf(destination.waypoint));
    return directChainName(spiffeOf(source));
  };

  // Inbound: one chain per local workload address, with its policies.
  const policies = new Map([...state.policies].sort(byText(([key]) => key)).map(([, p]) => [policyKey(p), p]));
  const compiledPolicies = new Map<ZtunnelPolicy, RbacPolicy[]>();
  const hbone: InboundChain[] = [];
  const plaintext: InboundChain[] = [];
  for (const w of local) {
    const rbac = workloadRbacFilters(policiesFor(w, policies), compiledPolicies);
    for (const ip of w.workloadIps) {
      const prefixes = [parseCidr(ip, undefined, `workload ${w.uid}.addresses`)];
      hbone.push({ name: `inbound_${ip}`, prefixes, identity: spiffeOf(w), rbac, cluster: VIRTUAL_INBOUND_CLUSTER });
      plaintext.push({ name: `inbound_plaintext_${ip}`, prefixes, identity: undefined, rbac, cluster: VIRTUAL_INBOUND_CLUSTER });
    }
  }
  const listeners: ListenerModel = {
    outbound: { name: OUTBOUND_LISTENER, port: ZTUNNEL_OUTBOUND_PORT, lookup, chains, services: chainServices, serviceVips },
    inbound: hbone.length > 0 ? { name: INBOUND_LISTENER, port: HBONE_PORT, chains: hbone.sort(byText((c) => c.name)) } : undefined,
    inboundPlaintext: plaintext.length > 0 ? { name: INBOUND_PLAINTEXT_LISTENER, port: ZTUNNEL_INBOUND_PLAINTEXT_PORT, chains: plaintext.sort(byText((c) => c.name)) } : undefined,
    internal,
  };
  return { listeners, clusters, endpoints: { byCluster }, services: [...services.values()] };
}
