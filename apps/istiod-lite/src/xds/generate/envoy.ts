/**
 * Small builders for Envoy v3 messages in proto3-JSON form (snake_case field names, `@type` on
 * every Any, enums as names, durations as "2s"), shared by the outbound and inbound generators.
 * Field names are those of the published Envoy protos (@grpc/grpc-js-xds deps/envoy-api).
 */
import { HBONE_PORT } from '@mesh/hbone-core/constants';
import { ORIGINAL_DST_HEADER } from '@mesh/envoy-config';
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
 * raw socket: ztunnel's `*_outbound_internal` clusters and the
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

/** SDS from the node-local agent, as Istio's tunnel cluster names it (`sds-grpc`). */
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
 * against the mesh root (docs/model.md, "ztunnel's configuration").
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

/** Connect timeout and idle-host cleanup of an HBONE-originate cluster, as Istio sets them. */
const TUNNEL_CONNECT_TIMEOUT = '2s';
const TUNNEL_CLEANUP_INTERVAL = '60s';
/** Where an endpoint's `tunnel` metadata puts the tunnel's destination (pod:port), in Envoy's two substitution spellings. */
const TUNNEL_DESTINATION = '%DYNAMIC_METADATA(tunnel:destination)%';
const TUNNEL_DESTINATION_HEADER_VALUE = '%DYNAMIC_METADATA(["tunnel", "destination"])%';

/** tcp_proxy that opens an HTTP/2 CONNECT tunnel to `hostname` on `cluster` (HBONE's client side). */
export function tunnellingTcpProxy(statPrefix: string, cluster: string, hostname: string, originalDestination: string): JsonObject {
  return tcpProxy(statPrefix, cluster, {
    tunneling_config: {
      hostname,
      headers_to_add: [{ header: { key: ORIGINAL_DST_HEADER, value: originalDestination } }],
    },
  });
}

/**
 * The internal listener that opens HBONE tunnels (ztunnel's `outbound_tunnel_lis_<spiffe>`, the
 * waypoint's `connect_originate`): CONNECT to the endpoint's `tunnel.destination` on `cluster`.
 * `set_dst_address` copies the endpoint's `tunnel.address` into the original-destination filter
 * state, so the ORIGINAL_DST cluster connects to pod:15008.
 */
export function hboneOriginateListener(name: string, cluster: string): EnvoyResource {
  return {
    '@type': typeUrl(TYPE.listener),
    name,
    filter_chains: [{ filters: [tunnellingTcpProxy(name, cluster, TUNNEL_DESTINATION, TUNNEL_DESTINATION_HEADER_VALUE)] }],
    use_original_dst: false,
    listener_filters: [
      { name: 'set_dst_address', typed_config: any(TYPE.typedStruct, { type_url: 'type.googleapis.com/istio.set_internal_dst_address.v1.Config', value: {} }) },
    ],
    internal_listener: {},
  };
}

/** The cluster HBONE tunnels run on: ORIGINAL_DST to port 15008, mTLS (TLS 1.3, h2) with `identity`'s certificate. */
export function hboneOriginateCluster(name: string, identity: string): EnvoyResource {
  return clusterResource(name, {
    type: 'ORIGINAL_DST',
    connect_timeout: TUNNEL_CONNECT_TIMEOUT,
    lb_policy: 'CLUSTER_PROVIDED',
    cleanup_interval: TUNNEL_CLEANUP_INTERVAL,
    transport_socket: extension('envoy.transport_sockets.tls', TYPE.upstreamTls, { common_tls_context: hboneTlsContext(identity) }),
    original_dst_lb_config: { upstream_port_override: HBONE_PORT },
    typed_extension_protocol_options: {
      [TYPE.httpProtocolOptions]: any(TYPE.httpProtocolOptions, { explicit_http_config: { http2_protocol_options: { allow_connect: true } } }),
    },
  });
}

/** Sorts resources (or anything named) by name, so generated output does not depend on input order. */
export function byName(a: JsonObject, b: JsonObject): number {
  const x = String(a.name ?? '');
  const y = String(b.name ?? '');
  return x < y ? -1 : x > y ? 1 : 0;
}
