/**
 * The names and ports of the Envoy resources istiod-lite generates, which ztunnel, the waypoint
 * and meshctl look up by name: one home, so the generator and its readers cannot drift apart.
 * They are Istio's own (ztunnel's Envoy-shaped configuration as `docs/walkthrough.md` shows it
 * from a running mesh, and Istio's waypoint listener chain).
 */

/** ztunnel's capture ports: outbound (TPROXY'd from the pods) and plaintext inbound. */
export const ZTUNNEL_OUTBOUND_PORT = 15001;
export const ZTUNNEL_INBOUND_PLAINTEXT_PORT = 15006;

export const OUTBOUND_LISTENER = 'ztunnel_outbound';
export const INBOUND_LISTENER = 'ztunnel_inbound';
export const INBOUND_PLAINTEXT_LISTENER = 'ztunnel_inbound_plaintext';
/** ORIGINAL_DST cluster the HBONE inbound hands each tunnel's bytes to. */
export const VIRTUAL_INBOUND_CLUSTER = 'virtual_inbound';
export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';
export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
export const PASSTHROUGH_FILTER_CHAIN = 'PassthroughFilterChain';
/** The filter chain the outbound matcher picks for traffic aimed at 15001 itself (a loop). */
export const BLACKHOLE_FILTER_CHAIN = 'BlackHoleCluster';
/** `outbound_tunnel_lis_<source spiffe>`: the internal listener that opens a source identity's HBONE tunnels. */
export const TUNNEL_LISTENER_PREFIX = 'outbound_tunnel_lis_';
/** `outbound_tunnel_clus_<source spiffe>`: the mTLS cluster those tunnels run on. */
export const TUNNEL_CLUSTER_PREFIX = 'outbound_tunnel_clus_';
/** The CONNECT request header that names the tunnel's destination (`pod ip:port`). */
export const ORIGINAL_DST_HEADER = 'x-envoy-original-dst-host';

/** The waypoint: HBONE in (`connect_terminate`) → per-service chains (`main_internal`) → HBONE out (`connect_originate`). */
export const CONNECT_TERMINATE = 'connect_terminate';
export const MAIN_INTERNAL = 'main_internal';
export const CONNECT_ORIGINATE = 'connect_originate';
/**
 * A service chain of `ztunnel_outbound` says which Service it is for in its metadata,
 * `filter_metadata.istio.service` (the host, `reviews.default.svc.cluster.local`), so a proxy
 * need not read it out of the chain's name.
 */
export const ISTIO_METADATA_NAMESPACE = 'istio';
export const CHAIN_SERVICE_METADATA_KEY = 'service';

/** `metadata` for a filter chain that serves `host`. */
export function chainServiceMetadata(host: string): { filter_metadata: Record<string, Record<string, string>> } {
  return { filter_metadata: { [ISTIO_METADATA_NAMESPACE]: { [CHAIN_SERVICE_METADATA_KEY]: host } } };
}

/** The SDS secret of the mesh root that peers are validated against (`validation_context_sds_secret_config`), Istio's name. */
export const ROOT_CA_SECRET = 'ROOTCA';
/** The HTTP filter that carries per-route CORS policies (`typed_per_filter_config` key). */
export const CORS_FILTER = 'envoy.filters.http.cors';

export function tunnelListenerName(sourceSpiffe: string): string {
  return `${TUNNEL_LISTENER_PREFIX}${sourceSpiffe}`;
}

export function tunnelClusterName(sourceSpiffe: string): string {
  return `${TUNNEL_CLUSTER_PREFIX}${sourceSpiffe}`;
}
