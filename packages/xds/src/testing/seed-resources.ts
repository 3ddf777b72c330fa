/**
 * Resources in the shapes of Istio's ztunnel config_dump (docs/model.md), for codec and client tests.
 * Copied in spirit, trimmed to what the ztunnel of this project is sent.
 */
import type { ResourceJson } from '../codec.js';
import { TYPE_URL } from '../type-urls.js';

const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const PRODUCTPAGE_CLUSTER = `${SLEEP}_to_http_productpage.default.svc.cluster.local_outbound_internal`;

function stringAction(name: string) {
  return { action: { name, typed_config: { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: name } } };
}

function input(name: string, message: string) {
  return { name, typed_config: { '@type': `type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.${message}` } };
}

export const SEED_OUTBOUND_LISTENER: ResourceJson = {
  '@type': TYPE_URL.LISTENER,
  name: 'ztunnel_outbound',
  address: { socket_address: { address: '0.0.0.0', port_value: 15001 } },
  filter_chains: [
    {
      name: PRODUCTPAGE_CLUSTER,
      filters: [
        {
          name: 'envoy.filters.network.tcp_proxy',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
            stat_prefix: PRODUCTPAGE_CLUSTER,
            cluster: PRODUCTPAGE_CLUSTER,
            idle_timeout: '3600s',
          },
        },
      ],
    },
  ],
  use_original_dst: true,
  listener_filters: [
    {
      name: 'envoy.filters.listener.original_dst',
      typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst' },
    },
  ],
  transparent: true,
  socket_options: [{ description: 'Set socket mark to packets coming back from outbound listener', level: '1', name: '36', int_value: '1025' }],
  filter_chain_matcher: {
    matcher_tree: {
      input: input('port', 'DestinationPortInput'),
      exact_match_map: { map: { '15001': stringAction('BlackHoleCluster') } },
    },
    on_no_match: {
      matcher: {
        matcher_tree: {
          input: input('source-ip', 'SourceIPInput'),
          exact_match_map: {
            map: {
              '10.4.4.19': {
                matcher: {
                  matcher_tree: {
                    input: input('ip', 'DestinationIPInput'),
                    exact_match_map: {
                      map: {
                        '10.8.4.226': {
                          matcher: {
                            matcher_tree: {
                              input: input('port', 'DestinationPortInput'),
                              exact_match_map: { map: { '9080': stringAction(PRODUCTPAGE_CLUSTER) } },
                            },
                          },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
        },
        on_no_match: stringAction('PassthroughFilterChain'),
      },
    },
  },
};

export const SEED_OUTBOUND_INTERNAL_CLUSTER: ResourceJson = {
  '@type': TYPE_URL.CLUSTER,
  name: PRODUCTPAGE_CLUSTER,
  type: 'EDS',
  eds_cluster_config: { eds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' } },
  transport_socket_matches: [
    {
      name: 'internal_upstream',
      match: { tunnel: 'h2' },
      transport_socket: {
        name: 'envoy.transport_sockets.internal_upstream',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.internal_upstream.v3.InternalUpstreamTransport',
          passthrough_metadata: [
            { kind: { host: {} }, name: 'tunnel' },
            { kind: { host: {} }, name: 'istio' },
          ],
          transport_socket: {
            name: 'envoy.transport_sockets.raw_buffer',
            typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' },
          },
        },
      },
    },
    {
      name: 'tlsMode-disabled',
      match: {},
      transport_socket: {
        name: 'envoy.transport_sockets.raw_buffer',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' },
      },
    },
  ],
};

export const SEED_TUNNEL_CLUSTER: ResourceJson = {
  '@type': TYPE_URL.CLUSTER,
  name: `outbound_tunnel_clus_${SLEEP}`,
  type: 'ORIGINAL_DST',
  connect_timeout: '2s',
  lb_policy: 'CLUSTER_PROVIDED',
  cleanup_interval: '60s',
  transport_socket: {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      common_tls_context: {
        tls_params: { tls_minimum_protocol_version: 'TLSv1_3', tls_maximum_protocol_version: 'TLSv1_3' },
        alpn_protocols: ['h2'],
        tls_certificate_sds_secret_configs: [{ name: SLEEP, sds_config: { ads: {}, resource_api_version: 'V3' } }],
      },
    },
  },
  original_dst_lb_config: { upstream_port_override: 15008 },
  typed_extension_protocol_options: {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      explicit_http_config: { http2_protocol_options: { allow_connect: true } },
    },
  },
};

export const SEED_CLUSTER_LOAD_ASSIGNMENT: ResourceJson = {
  '@type': TYPE_URL.CLUSTER_LOAD_ASSIGNMENT,
  cluster_name: PRODUCTPAGE_CLUSTER,
  endpoints: [
    {
      locality: {},
      lb_endpoints: [
        {
          endpoint: {
            address: { envoy_internal_address: { server_listener_name: `outbound_tunnel_lis_${SLEEP}`, endpoint_id: '10.4.3.20:9080' } },
            health_check_config: {},
          },
          health_status: 'HEALTHY',
          metadata: {
            filter_metadata: {
              'envoy.transport_socket_match': { tunnel: 'h2' },
              tunnel: { address: '10.4.3.20:15008', destination: '10.4.3.20:9080' },
            },
          },
          load_balancing_weight: 1,
        },
      ],
    },
  ],
  policy: { overprovisioning_factor: 140 },
};

export const SEED_TUNNEL_LISTENER: ResourceJson = {
  '@type': TYPE_URL.LISTENER,
  name: `outbound_tunnel_lis_${SLEEP}`,
  filter_chains: [
    {
      filters: [
        {
          name: 'envoy.filters.network.tcp_proxy',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
            stat_prefix: `outbound_tunnel_lis_${SLEEP}`,
            cluster: `outbound_tunnel_clus_${SLEEP}`,
            tunneling_config: {
              hostname: '%DYNAMIC_METADATA(tunnel:destination)%',
              headers_to_add: [{ header: { key: 'x-envoy-original-dst-host', value: '%DYNAMIC_METADATA(["tunnel", "destination"])%' } }],
            },
          },
        },
      ],
    },
  ],
  use_original_dst: false,
  listener_filters: [
    {
      name: 'set_dst_address',
      typed_config: {
        '@type': 'type.googleapis.com/xds.type.v3.TypedStruct',
        type_url: 'type.googleapis.com/istio.set_internal_dst_address.v1.Config',
        value: {},
      },
    },
  ],
  internal_listener: {},
};

/** All seed resources, for tests that want a realistic mix. */
export const SEED_RESOURCES: readonly ResourceJson[] = [
  SEED_OUTBOUND_LISTENER,
  SEED_TUNNEL_LISTENER,
  SEED_OUTBOUND_INTERNAL_CLUSTER,
  SEED_TUNNEL_CLUSTER,
  SEED_CLUSTER_LOAD_ASSIGNMENT,
];
