/**
 * Small builders for Envoy v3 messages in proto3-JSON form (snake_case field names, `@type` on
 * every Any, enums as names, durations as "2s"), shared by the outbound and inbound generators.
 * Field names are those of the published Envoy protos (@grpc/grpc-js-xds deps/envoy-api).
 */
import { deepFreeze } from './freeze.js';
import { ROOT_CA_SECRET, SDS_CLUSTER } from './names.js';

export type Json = string | number | boolean | null | readonly Json[] | { readonly [key: string]: Json };
export type JsonObject = { readonly [key: string]: Json };
/** A top-level xDS resource: an Any in JSON form. */
export type EnvoyResource = JsonObject & { readonly '@type': string };

const TYPE_PREFIX = 'type.googleapis.com/';

/** Message names used in `@type`, gathered so a typo shows up in one place. */
export const TYPE = {
  listener: 'envoy.config.listener.v3.Listener',
  cluster: 'envoy.config.cluster.v3.Cluster',
  clusterLoadAssignment: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  tcpProxy: 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  hcm: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  networkRbac: 'envoy.extensions.filters.network.rbac.v3.RBAC',
  router: 'envoy.extensions.filters.http.router.v3.Router',
  originalDst: 'envoy.extensions.filters.listener.original_dst.v3.OriginalDst',
  upstreamTls: 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  downstreamTls: 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  internalUpstream: 'envoy.extensions.transport_sockets.internal_upstream.v3.InternalUpstreamTransport',
  rawBuffer: 'envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer',
  httpProtocolOptions: 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  typedStruct: 'xds.type.v3.TypedStruct',
  stringValue: 'google.protobuf.StringValue',
  sourceIpInput: 'envoy.extensions.matching.common_inputs.network.v3.SourceIPInput',
  destinationIpInput: 'envoy.extensions.matching.common_inputs.network.v3.DestinationIPInput',
  destinationPortInput: 'envoy.extensions.matching.common_inputs.network.v3.DestinationPortInput',
} as const;

export function typeUrl(messageName: string): string {
  return TYPE_PREFIX + messageName;
}

/** An Any: `{ "@type": "type.googleapis.com/<message>", ...fields }`. */
export function any(messageName: string, fields: JsonObject = {}): JsonObject {
  return { '@type': typeUrl(messageName), ...fields };
}

/** A TypedExtensionConfig (`name` + `typed_config`), the shape of filters, inputs and actions. */
export function extension(name: string, messageName: string, fields: JsonObject = {}): JsonObject {
  return { name, typed_config: any(messageName, fields) };
}

export function socketAddress(ip: string, port: number): JsonObject {
  return { socket_address: { address: ip, port_value: port } };
}

/** envoy.config.core.v3.CidrRange (also the shape of xds.core.v3.CidrRange). */
export function cidrRange(ip: string, prefixLen?: number): JsonObject {
  return { address_prefix: ip, prefix_len: prefixLen ?? (ip.includes(':') ? 128 : 32) };
}

/** "10.77.1.0/24" → CidrRange. */
export function cidrFromString(cidr: string): JsonObject {
  const [ip = '', bits] = cidr.split('/');
  return cidrRange(ip, bits === undefined ? undefined : Number(bits));
}

export function tcpProxy(statPrefix: string, cluster: string, extra: JsonObject = {}): JsonObject {
  return extension('envoy.filters.network.tcp_proxy', TYPE.tcpProxy, { stat_prefix: statPrefix, cluster, ...extra });
}

export const ORIGINAL_DST_LISTENER_FILTER = extension('envoy.filters.listener.original_dst', TYPE.originalDst);

export const RAW_BUFFER_TRANSPORT_SOCKET: JsonObject = extension('envoy.transport_sockets.raw_buffer', TYPE.rawBuffer);

/**
 * An EDS cluster whose tunnelled endpoints (metadata `tunnel: h2`) go through an internal
 * listener with the `tunnel` and `istio` metadata passed along, and whose plain endpoints use a
 * raw socket (seed 002, "Sleep 集群"): ztunnel's `*_outbound_internal` clusters and the
 * waypoint's backend clusters.
 */
export const TUNNELLED_EDS_CLUSTER_FIELDS: JsonObject = deepFreeze<JsonObject>({
  type: 'EDS',
  eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
  transport_socket_matches: [
    {
      name: 'internal_upstream',
      match: { tunnel: 'h2' },
      transport_socket: extension('envoy.transport_sockets.internal_upstream', TYPE.internalUpstream, {
        passthrough_metadata: [
          { kind: { host: {} }, name: 'tunnel' },
          { kind: { host: {} }, name: 'istio' },
        ],
        transport_socket: RAW_BUFFER_TRANSPORT_SOCKET,
      }),
    },
    { name: 'tlsMode-disabled', match: {}, transport_socket: RAW_BUFFER_TRANSPORT_SOCKET },
  ],
});

/** A transparent listener on 0.0.0.0:port that sees the original destination (TPROXY). */
export function transparentListener(name: string, port: number, fields: JsonObject): EnvoyResource {
  return {
    '@type': typeUrl(TYPE.listener),
    name,
    address: socketAddress('0.0.0.0', port),
    ...fields,
    use_original_dst: true,
    listener_filters: [ORIGINAL_DST_LISTENER_FILTER],
    transparent: true,
  };
}

/** SDS from the node-local agent, as the seed's tunnel cluster shows (`sds-grpc`). */
export function sdsSecret(name: string): JsonObject {
  return {
    name,
    sds_config: {
      api_config_source: {
        api_type: 'GRPC',
        grpc_services: [{ envoy_grpc: { cluster_name: SDS_CLUSTER } }],
        set_node_on_first_message_only: true,
        transport_api_version: 'V3',
      },
      resource_api_version: 'V3',
    },
  };
}

/**
 * HBONE's TLS: 1.3 only, ALPN h2, our certificate for `identity` from SDS, peers validated
 * against the mesh root (seed 002 "Sleep 集群的 HBONE 隧道端点"; seed 004 inbound notes).
 */
export function hboneTlsContext(identity: string): JsonObject {
  return {
    tls_params: { tls_minimum_protocol_version: 'TLSv1_3', tls_maximum_protocol_version: 'TLSv1_3' },
    alpn_protocols: ['h2'],
    tls_certificate_sds_secret_configs: [sdsSecret(identity)],
    validation_context_sds_secret_config: sdsSecret(ROOT_CA_SECRET),
  };
}

export function clusterResource(name: string, fields: JsonObject): EnvoyResource {
  return { '@type': typeUrl(TYPE.cluster), name, ...fields };
}

/** Sorts resources (or anything named) by name, so generated output does not depend on input order. */
export function byName(a: JsonObject, b: JsonObject): number {
  const x = String(a.name ?? '');
  const y = String(b.name ?? '');
  return x < y ? -1 : x > y ? 1 : 0;
}
