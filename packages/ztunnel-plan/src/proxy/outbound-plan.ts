/**
 * Where an outbound connection goes: a pure walk of the runtime model, the way Envoy would run the
 * config (docs/model.md, `ztunnel_outbound`):
 *
 *   filter_chain_matcher(src, dst) → chain → tcp_proxy cluster
 *     EDS → round-robin over routable endpoints → internal listener named by the endpoint →
 *       its tcp_proxy's tunneling_config (hostname = :authority, headers_to_add) → ORIGINAL_DST
 *       tunnel cluster: HBONE to the endpoint's tunnel address, port overridden to 15008, as the
 *       identity of the cluster's SDS certificate
 *     EDS with TLS (a waypoint for pod-addressed traffic) → round robin → HBONE to the endpoint
 *       (`waypoint:15008`), :authority from the chain's tunneling_config (the original destination)
 *     ORIGINAL_DST with TLS (direct to a pod IP) → HBONE to dst ip:15008, :authority = dst
 *     ORIGINAL_DST without TLS (PassthroughCluster) → plain TCP to dst
 *     BlackHoleCluster / STATIC without endpoints → refuse
 *
 * The socket code (outbound.ts, socks5.ts) calls this and only moves bytes. The endpoint choice is
 * an input (`EndpointPicker`), owned by the caller: ztunnel passes its one `RoundRobin`, whose
 * cursors outlive model swaps; meshctl `x explain --endpoint` passes a picker that takes the asked
 * endpoint. The planner itself reads the model and changes nothing.
 */
import { BLACKHOLE_CLUSTER, formatAddress, splitAddress } from '@mesh/envoy-config';
import type { MatchBranch } from '../config/matcher.js';
import { WELL_KNOWN_CLUSTERS, serviceOfChain, substitute, type ClusterModel, type Endpoint, type RuntimeModel, type SocketEndpoint, type TcpProxyRoute, type TunnelEndpoint } from '../config/model.js';

export { serviceOfChain };

export interface ConnectionAddresses {
  readonly src: { readonly ip: string; readonly port: number };
  readonly dst: { readonly ip: string; readonly port: number };
}

/** Envoy response flags used in logs and metrics: UH no healthy upstream, NC no cluster, NR no route. */
export type ResponseFlag = 'UH' | 'NC' | 'NR' | 'BH';

export type OutboundPlan =
  | {
      readonly kind: 'hbone';
      readonly chain: string;
      readonly cluster: string;
      /** HBONE endpoint, `ip:15008`. */
      readonly destination: string;
      /** The CONNECT `:authority`: the tunnel's destination `ip:port`. */
      readonly authority: string;
      readonly sourceIdentity: string;
      /** Identities the server may present; undefined = any identity of the trust domain (no SAN check in the config). */
      readonly expectedIdentities: readonly string[] | undefined;
      /** Extra CONNECT headers from tunneling_config (e.g. x-envoy-original-dst-host). */
      readonly headers: Readonly<Record<string, string>>;
      /** The service host the chain is for (`reviews.default.svc.cluster.local`), when known. */
      readonly service: string | undefined;
      /** The destination workload's name, when the endpoint metadata says. */
      readonly workload?: string;
    }
  | { readonly kind: 'passthrough'; readonly chain: string; readonly destination: string; readonly service: string | undefined }
  | { readonly kind: 'blackhole'; readonly chain: string; readonly reason: string }
  | { readonly kind: 'reject'; readonly chain: string | undefined; readonly reason: string; readonly responseFlag: ResponseFlag };

/**
 * One decision of a plan, in the order it is taken, for explanations (meshctl `x explain`). A
 * plan asked without a trace records nothing: every call site is `trace?.(…)`, which does not even
 * build the step.
 */
export type OutboundStep =
  /** The filter_chain_matcher's branches (source IP → destination IP → destination port) and the chain selected. */
  | { readonly kind: 'match'; readonly listener: string; readonly branches: readonly MatchBranch[]; readonly chain: string | undefined }
  /** A tcp_proxy (of the matched chain, or of an internal listener) and its cluster. */
  | { readonly kind: 'route'; readonly chain: string; readonly internalListener: string | undefined; readonly route: TcpProxyRoute; readonly dst: string }
  /** An EDS or STATIC cluster's endpoints (all of them; only the healthy ones are chosen from). */
  | { readonly kind: 'endpoints'; readonly cluster: ClusterModel; readonly endpoints: readonly Endpoint[] }
  /** The endpoint round robin chose. */
  | { readonly kind: 'endpoint'; readonly cluster: string; readonly endpoint: Endpoint }
  /** An ORIGINAL_DST cluster: where the connection goes. */
  | { readonly kind: 'original-dst'; readonly cluster: Extract<ClusterModel, { kind: 'original_dst' }>; readonly destination: string };

export type OutboundTrace = (step: OutboundStep) => void;

/**
 * Chooses one of a cluster's routable (healthy) endpoints, or undefined for none. Any state (a
 * round-robin cursor) belongs to the caller, not to the model: @mesh/proxy-runtime's `RoundRobin`
 * is one, keyed by cluster name.
 */
export interface EndpointPicker {
  pick(cluster: string, endpoints: readonly Endpoint[]): Endpoint | undefined;
}

/** The first routable endpoint: what a fresh round robin picks (a freshly synced ztunnel's first connection). */
export const FIRST_ENDPOINT: EndpointPicker = { pick: (_cluster, endpoints) => endpoints[0] };

/** Internal listener hops a plan may take; guards against a config loop. */
const MAX_HOPS = 4;

export function planOutbound(model: RuntimeModel, conn: ConnectionAddresses, picker: EndpointPicker, trace?: OutboundTrace): OutboundPlan {
  const listener = model.listeners.outbound;
  if (!listener) return { kind: 'reject', chain: undefined, reason: 'no outbound listener configured yet', responseFlag: 'NR' };
  const branches: MatchBranch[] | undefined = trace ? [] : undefined;
  const chainName = listener.lookup({ sourceIp: conn.src.ip, destinationIp: conn.dst.ip, destinationPort: conn.dst.port }, branches);
  if (branches) trace?.({ kind: 'match', listener: listener.name, branches, chain: chainName });
  if (chainName === undefined) return { kind: 'reject', chain: undefined, reason: 'no filter chain matched', responseFlag: 'NR' };
  const route = listener.chains.get(chainName);
  if (!route) return { kind: 'reject', chain: chainName, reason: `filter chain ${chainName} is missing`, responseFlag: 'NR' };
  const dst = formatAddress(conn.dst.ip, conn.dst.port);
  const src = formatAddress(conn.src.ip, conn.src.port);
  return planRoute(model, route, { chain: chainName, service: listener.services.get(chainName), dst, src, tunnel: undefined, hops: 0, trace, picker, internalListener: undefined });
}

interface RouteContext {
  readonly chain: string;
  readonly service: string | undefined;
  /** The downstream's (original) destination at this hop. */
  readonly dst: string;
  readonly src: string;
  readonly tunnel: { address: string; destination: string } | undefined;
  readonly hops: number;
  readonly trace: OutboundTrace | undefined;
  readonly picker: EndpointPicker;
  /** The internal listener this hop runs in; undefined for the outbound listener's chain. */
  readonly internalListener: string | undefined;
}

function planRoute(model: RuntimeModel, route: TcpProxyRoute, ctx: RouteContext): OutboundPlan {
  ctx.trace?.({ kind: 'route', chain: ctx.chain, internalListener: ctx.internalListener, route, dst: ctx.dst });
  if (route.cluster === BLACKHOLE_CLUSTER) return { kind: 'blackhole', chain: ctx.chain, reason: `${ctx.chain} drops this destination` };
  const cluster = model.clusters.get(route.cluster) ?? WELL_KNOWN_CLUSTERS.get(route.cluster);
  if (!cluster) return { kind: 'reject', chain: ctx.chain, reason: `cluster ${route.cluster} is not known (yet)`, responseFlag: 'NC' };
  switch (cluster.kind) {
    case 'static':
      ctx.trace?.({ kind: 'endpoints', cluster, endpoints: cluster.endpoints });
      return cluster.endpoints.length === 0
        ? { kind: 'blackhole', chain: ctx.chain, reason: `${cluster.name} has no endpoints` }
        : planEndpoint(model, cluster, pick(ctx.picker, cluster.name, cluster.endpoints), ctx, route);
    case 'eds': {
      const endpoints = model.endpoints.byCluster.get(cluster.serviceName) ?? [];
      ctx.trace?.({ kind: 'endpoints', cluster, endpoints });
      const endpoint = pick(ctx.picker, cluster.name, endpoints);
      if (!endpoint) return { kind: 'reject', chain: ctx.chain, reason: `no healthy upstream in ${cluster.name}`, responseFlag: 'UH' };
      return planEndpoint(model, cluster, endpoint, ctx, route);
    }
    case 'original_dst':
      return planOriginalDst(cluster, route, ctx);
  }
}

function planEndpoint(model: RuntimeModel, cluster: ClusterModel, endpoint: Endpoint | undefined, ctx: RouteContext, route: TcpProxyRoute): OutboundPlan {
  if (!endpoint) return { kind: 'reject', chain: ctx.chain, reason: `no healthy upstream in ${cluster.name}`, responseFlag: 'UH' };
  ctx.trace?.({ kind: 'endpoint', cluster: cluster.name, endpoint });
  if (endpoint.kind === 'socket') {
    if (cluster.kind === 'eds' && cluster.tlsIdentity) return planHboneEndpoint(cluster.tlsIdentity, cluster.name, endpoint, route, ctx);
    return { kind: 'passthrough', chain: ctx.chain, destination: endpoint.address, service: ctx.service };
  }
  return planTunnelEndpoint(model, cluster, endpoint, ctx);
}

/** A tunnelled endpoint: its internal listener (or the cluster's) runs the tunnel's tcp_proxy, set_dst_address = `tunnel.address`. */
function planTunnelEndpoint(model: RuntimeModel, cluster: ClusterModel, endpoint: TunnelEndpoint, ctx: RouteContext): OutboundPlan {
  const listenerName = endpoint.internalListener ?? (cluster.kind === 'eds' ? cluster.tunnelListener : undefined);
  if (!listenerName) return { kind: 'reject', chain: ctx.chain, reason: `endpoint of ${cluster.name} names no internal listener`, responseFlag: 'NR' };
  const internal = model.listeners.internal.get(listenerName);
  if (!internal) return { kind: 'reject', chain: ctx.chain, reason: `internal listener ${listenerName} is not known (yet)`, responseFlag: 'NR' };
  if (ctx.hops >= MAX_HOPS) return { kind: 'reject', chain: ctx.chain, reason: 'internal listener loop', responseFlag: 'NR' };
  const plan = planRoute(model, internal.route, {
    ...ctx,
    // set_dst_address: the internal listener's downstream destination is the endpoint's tunnel address.
    dst: endpoint.tunnel.address,
    tunnel: endpoint.tunnel,
    hops: ctx.hops + 1,
    internalListener: listenerName,
  });
  if (plan.kind === 'hbone') {
    return {
      ...plan,
      ...(endpoint.identity ? { expectedIdentities: [endpoint.identity] } : {}),
      ...(endpoint.workload ? { workload: endpoint.workload } : {}),
    };
  }
  return plan;
}

/**
 * HBONE straight from an EDS cluster with TLS (a waypoint taking pod-addressed traffic): the
 * endpoint is the HBONE server, the chain's tunneling_config names the CONNECT `:authority`
 * (`%DOWNSTREAM_LOCAL_ADDRESS%`: where the pod was connecting).
 */
function planHboneEndpoint(sourceIdentity: string, clusterName: string, endpoint: SocketEndpoint, route: TcpProxyRoute, ctx: RouteContext): OutboundPlan {
  return {
    ...hbonePlan(sourceIdentity, clusterName, endpoint.address, route, ctx),
    expectedIdentities: endpoint.identity ? [endpoint.identity] : undefined,
    ...(endpoint.workload ? { workload: endpoint.workload } : {}),
  };
}

function planOriginalDst(cluster: Extract<ClusterModel, { kind: 'original_dst' }>, route: TcpProxyRoute, ctx: RouteContext): OutboundPlan {
  const { ip, port } = splitAddress(ctx.dst, 'destination');
  const destination = formatAddress(ip, cluster.upstreamPortOverride ?? port);
  ctx.trace?.({ kind: 'original-dst', cluster, destination });
  if (!cluster.tlsIdentity) {
    if (route.tunneling) return { kind: 'reject', chain: ctx.chain, reason: `${cluster.name}: tunneling needs a TLS (HBONE) cluster`, responseFlag: 'NR' };
    return { kind: 'passthrough', chain: ctx.chain, destination, service: ctx.service };
  }
  return hbonePlan(cluster.tlsIdentity, cluster.name, destination, route, ctx);
}

/** An HBONE plan to `destination`: `:authority` and headers from the route's tunneling_config (without one, where the connection was going). */
function hbonePlan(sourceIdentity: string, clusterName: string, destination: string, route: TcpProxyRoute, ctx: RouteContext): Extract<OutboundPlan, { kind: 'hbone' }> {
  const values = { tunnel: ctx.tunnel, downstreamLocal: ctx.dst, downstreamRemote: ctx.src };
  const authority = route.tunneling ? substitute(route.tunneling.hostname, values) : ctx.dst;
  const headers: Record<string, string> = {};
  for (const h of route.tunneling?.headers ?? []) headers[h.key] = substitute(h.value, values);
  return { kind: 'hbone', chain: ctx.chain, cluster: clusterName, destination, authority, sourceIdentity, expectedIdentities: undefined, headers, service: ctx.service };
}

/** The caller's choice among the routable endpoints (Envoy routes to HEALTHY and UNKNOWN hosts only). */
function pick(picker: EndpointPicker, cluster: string, endpoints: readonly Endpoint[]): Endpoint | undefined {
  return picker.pick(cluster, endpoints.filter((e) => e.healthy));
}
