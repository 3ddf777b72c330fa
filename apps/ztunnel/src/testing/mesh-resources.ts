/**
 * A small in-process stand-in for istiod-lite's generator: builds the xDS resources (in the
 * shapes of docs/model.md) one node's ztunnel receives, from a plain mesh description. For ztunnel's own tests
 * (apps never import each other); istiod-lite's generator is the real one.
 */
import { HBONE_PORT } from '@mesh/hbone-core';
import { DEFAULT_TRUST_DOMAIN } from '@mesh/pki';
import { TYPE_URL, type ResourceJson } from '@mesh/xds';
import { chainServiceMetadata } from '@mesh/envoy-config';

export interface FakePod {
  readonly name: string;
  readonly namespace?: string;
  readonly ip: string;
  readonly node: string;
  readonly serviceAccount: string;
  /** In the ambient mesh (default true). */
  readonly captured?: boolean;
  readonly healthy?: boolean;
}

export interface FakeService {
  readonly name: string;
  readonly namespace?: string;
  readonly vip: string;
  readonly port: number;
  readonly targetPort: number;
  readonly protocol?: 'http' | 'tcp';
  /** Names of the pods behind it. */
  readonly pods: readonly string[];
}

export interface FakeMesh {
  readonly trustDomain?: string;
  /** Port HBONE runs on (upstream_port_override and the inbound listener); default 15008. */
  readonly hbonePort?: number;
  readonly pods: readonly FakePod[];
  readonly services: readonly FakeService[];
  /** RBAC network filter configs (`rules`) per destination pod name, in chain order. */
  readonly rbac?: Readonly<Record<string, ReadonlyArray<Record<string, unknown>>>>;
  /** PeerAuthentication STRICT: plaintext chains deny everything. */
  readonly strict?: boolean;
  /** Put the destination identity into endpoint metadata (`tunnel.identity`). Default true. */
  readonly endpointIdentity?: boolean;
}

export interface FakeResources {
  readonly listeners: ResourceJson[];
  readonly clusters: ResourceJson[];
  readonly endpoints: ResourceJson[];
}

const any = (message: string, fields: Record<string, unknown> = {}) => ({ '@type': `type.googleapis.com/${message}`, ...fields });
const ext = (name: string, message: string, fields: Record<string, unknown> = {}) => ({ name, typed_config: any(message, fields) });
const INPUT = 'envoy.extensions.matching.common_inputs.network.v3.';
const action = (chain: string) => ({ action: ext(chain, 'google.protobuf.StringValue', { value: chain }) });
const tcpProxy = (cluster: string, extra: Record<string, unknown> = {}) =>
  ext('envoy.filters.network.tcp_proxy', 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', { stat_prefix: cluster, cluster, ...extra });
const sds = (name: string) => ({ name, sds_config: { ads: {}, resource_api_version: 'V3' } });
const tlsContext = (identity: string) => ({
  tls_params: { tls_minimum_protocol_version: 'TLSv1_3', tls_maximum_protocol_version: 'TLSv1_3' },
  alpn_protocols: ['h2'],
  tls_certificate_sds_secret_configs: [sds(identity)],
});
const exactMap = (input: string, inputMessage: string, map: Record<string, unknown>, onNoMatch?: unknown) => ({
  matcher_tree: { input: ext(input, `${INPUT}${inputMessage}`), exact_match_map: { map } },
  ...(onNoMatch ? { on_no_match: onNoMatch } : {}),
});

export function spiffe(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

export function buildFakeResources(mesh: FakeMesh, node: string): FakeResources {
  const td = mesh.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  const hbonePort = mesh.hbonePort ?? HBONE_PORT;
  const idOf = (pod: FakePod) => spiffe(td, pod.namespace ?? 'default', pod.serviceAccount);
  const podByName = new Map(mesh.pods.map((p) => [p.name, p]));
  const captured = (p: FakePod) => p.captured !== false;
  const localPods = mesh.pods.filter((p) => p.node === node);
  const sources = [...new Set(localPods.filter(captured).map(idOf))].sort();

  const listeners: ResourceJson[] = [];
  const clusters: ResourceJson[] = [];
  const endpoints: ResourceJson[] = [];
  const chains: unknown[] = [
    { name: 'PassthroughFilterChain', filters: [tcpProxy('PassthroughCluster')] },
    { name: 'BlackHoleCluster', filters: [tcpProxy('BlackHoleCluster')] },
  ];
  clusters.push(
    { '@type': TYPE_URL.CLUSTER, name: 'PassthroughCluster', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: '2s' },
    { '@type': TYPE_URL.CLUSTER, name: 'BlackHoleCluster', type: 'STATIC', connect_timeout: '2s' },
    {
      '@type': TYPE_URL.CLUSTER,
      name: 'virtual_inbound',
      type: 'ORIGINAL_DST',
      lb_policy: 'CLUSTER_PROVIDED',
      original_dst_lb_config: { use_http_header: true },
    },
  );

  const bySourceIp: Record<string, unknown> = {};
  for (const source of sources) {
    const svcChains: Record<string, unknown> = {};
    for (const svc of mesh.services) {
      const host = `${svc.name}.${svc.namespace ?? 'default'}.svc.cluster.local`;
      const name = `${source}_to_${svc.protocol ?? 'tcp'}_${host}_outbound_internal`;
      chains.push({ name, filters: [tcpProxy(name)], metadata: chainServiceMetadata(host) });
      clusters.push({
        '@type': TYPE_URL.CLUSTER,
        name,
        type: 'EDS',
        eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
        transport_socket_matches: [
          {
            name: 'internal_upstream',
            match: { tunnel: 'h2' },
            transport_socket: ext('envoy.transport_sockets.internal_upstream', 'envoy.extensions.transport_sockets.internal_upstream.v3.InternalUpstreamTransport', {
              passthrough_metadata: [{ kind: { host: {} }, name: 'tunnel' }],
              transport_socket: ext('envoy.transport_sockets.raw_buffer', 'envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer'),
            }),
          },
          { name: 'tlsMode-disabled', match: {}, transport_socket: ext('envoy.transport_sockets.raw_buffer', 'envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer') },
        ],
      });
      endpoints.push({
        '@type': TYPE_URL.CLUSTER_LOAD_ASSIGNMENT,
        cluster_name: name,
        endpoints: [
          {
            lb_endpoints: svc.pods
              .map((n) => podByName.get(n))
              .filter((p): p is FakePod => p !== undefined)
              .map((p) =>
                captured(p)
                  ? {
                      endpoint: {
                        address: { envoy_internal_address: { server_listener_name: `outbound_tunnel_lis_${source}`, endpoint_id: `${p.ip}:${svc.targetPort}` } },
                      },
                      health_status: p.healthy === false ? 'UNHEALTHY' : 'HEALTHY',
                      metadata: {
                        filter_metadata: {
                          'envoy.transport_socket_match': { tunnel: 'h2' },
                          istio: { workload: p.name, namespace: p.namespace ?? 'default' },
                          tunnel: {
                            address: `${p.ip}:${hbonePort}`,
                            destination: `${p.ip}:${svc.targetPort}`,
                            ...(mesh.endpointIdentity === false ? {} : { identity: idOf(p) }),
                          },
                        },
                      },
                    }
                  : {
                      endpoint: { address: { socket_address: { address: p.ip, port_value: svc.targetPort } } },
                      health_status: p.healthy === false ? 'UNHEALTHY' : 'HEALTHY',
                    },
              ),
          },
        ],
      });
      svcChains[svc.vip] = { matcher: exactMap('port', 'DestinationPortInput', { [String(svc.port)]: action(name) }) };
    }
    const direct = `${source}_to_pod_outbound_direct`;
    chains.push({ name: direct, filters: [tcpProxy(`outbound_tunnel_clus_${source}`, { tunneling_config: { hostname: '%DOWNSTREAM_LOCAL_ADDRESS%' } })] });
    for (const pod of mesh.pods.filter(captured)) svcChains[pod.ip] = action(direct);
    const byDestination = { matcher: exactMap('ip', 'DestinationIPInput', svcChains, action('PassthroughFilterChain')) };
    for (const p of localPods) if (captured(p) && idOf(p) === source) bySourceIp[p.ip] = byDestination;

    listeners.push({
      '@type': TYPE_URL.LISTENER,
      name: `outbound_tunnel_lis_${source}`,
      filter_chains: [
        {
          filters: [
            tcpProxy(`outbound_tunnel_clus_${source}`, {
              tunneling_config: {
                hostname: '%DYNAMIC_METADATA(tunnel:destination)%',
                headers_to_add: [{ header: { key: 'x-envoy-original-dst-host', value: '%DYNAMIC_METADATA(["tunnel", "destination"])%' } }],
              },
            }),
          ],
        },
      ],
      use_original_dst: false,
      listener_filters: [ext('set_dst_address', 'xds.type.v3.TypedStruct', { type_url: 'type.googleapis.com/istio.set_internal_dst_address.v1.Config', value: {} })],
      internal_listener: {},
    });
    clusters.push({
      '@type': TYPE_URL.CLUSTER,
      name: `outbound_tunnel_clus_${source}`,
      type: 'ORIGINAL_DST',
      lb_policy: 'CLUSTER_PROVIDED',
      connect_timeout: '2s',
      transport_socket: ext('envoy.transport_sockets.tls', 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', { common_tls_context: tlsContext(source) }),
      original_dst_lb_config: { upstream_port_override: hbonePort },
    });
  }

  listeners.push({
    '@type': TYPE_URL.LISTENER,
    name: 'ztunnel_outbound',
    address: { socket_address: { address: '0.0.0.0', port_value: 15001 } },
    filter_chains: chains,
    use_original_dst: true,
    transparent: true,
    listener_filters: [ext('envoy.filters.listener.original_dst', 'envoy.extensions.filters.listener.original_dst.v3.OriginalDst')],
    filter_chain_matcher: exactMap(
      'port',
      'DestinationPortInput',
      { '15001': action('BlackHoleCluster') },
      {
        matcher:
          Object.keys(bySourceIp).length > 0
            ? exactMap('source-ip', 'SourceIPInput', bySourceIp, action('PassthroughFilterChain'))
            : { matcher_tree: { input: ext('port', `${INPUT}DestinationPortInput`), exact_match_map: { map: { '15001': action('BlackHoleCluster') } } }, on_no_match: action('PassthroughFilterChain') },
      },
    ),
  } as ResourceJson);

  const rbacFilters = (pod: FakePod, extra: ReadonlyArray<Record<string, unknown>> = []) =>
    [...extra, ...(mesh.rbac?.[pod.name] ?? [])].map((rules) =>
      ext('envoy.filters.network.rbac', 'envoy.extensions.filters.network.rbac.v3.RBAC', { stat_prefix: 'tcp.', rules }),
    );
  const capturedLocal = localPods.filter(captured);
  if (capturedLocal.length > 0) {
    listeners.push({
      '@type': TYPE_URL.LISTENER,
      name: 'ztunnel_inbound',
      address: { socket_address: { address: '0.0.0.0', port_value: hbonePort } },
      filter_chains: capturedLocal.map((pod) => ({
        name: `inbound_${pod.ip}`,
        filter_chain_match: { prefix_ranges: [{ address_prefix: pod.ip, prefix_len: 32 }] },
        filters: [
          ...rbacFilters(pod),
          ext('envoy.filters.network.http_connection_manager', 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', {
            stat_prefix: 'inbound_hcm',
            route_config: {
              name: 'local_route',
              virtual_hosts: [
                {
                  name: 'local_service',
                  domains: ['*'],
                  routes: [{ match: { connect_matcher: {} }, route: { cluster: 'virtual_inbound', upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] } }],
                },
              ],
            },
            http_filters: [ext('envoy.filters.http.router', 'envoy.extensions.filters.http.router.v3.Router')],
            http2_protocol_options: { allow_connect: true },
            upgrade_configs: [{ upgrade_type: 'CONNECT' }],
          }),
        ],
        transport_socket: ext('envoy.transport_sockets.tls', 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', {
          common_tls_context: tlsContext(idOf(pod)),
          require_client_certificate: true,
        }),
      })),
      use_original_dst: true,
      transparent: true,
      listener_filters: [ext('envoy.filters.listener.original_dst', 'envoy.extensions.filters.listener.original_dst.v3.OriginalDst')],
    } as ResourceJson);
    const strictRule = { action: 'DENY', policies: { 'peer-authentication-strict-denies-plaintext': { permissions: [{ any: true }], principals: [{ any: true }] } } };
    listeners.push({
      '@type': TYPE_URL.LISTENER,
      name: 'ztunnel_inbound_plaintext',
      address: { socket_address: { address: '0.0.0.0', port_value: 15006 } },
      filter_chains: capturedLocal.map((pod) => ({
        name: `inbound_plaintext_${pod.ip}`,
        filter_chain_match: { prefix_ranges: [{ address_prefix: pod.ip, prefix_len: 32 }] },
        filters: [...rbacFilters(pod, mesh.strict ? [strictRule] : []), tcpProxy('PassthroughCluster')],
      })),
      use_original_dst: true,
      transparent: true,
      listener_filters: [ext('envoy.filters.listener.original_dst', 'envoy.extensions.filters.listener.original_dst.v3.OriginalDst')],
    } as ResourceJson);
  }
  return { listeners, clusters, endpoints };
}
