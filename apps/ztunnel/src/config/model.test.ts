import { describe, expect, it } from 'vitest';
import { canonicalResource, encodeResource, decodeResource } from '@mesh/xds';
import { SEED_RESOURCES } from '@mesh/xds/testing';
import { compileClusters, compileEndpoints, compileListeners, localIdentities, localWorkloads } from '@mesh/ztunnel-plan';
import { modelOf } from '../testing/model.js';
import { buildFakeResources, type FakeMesh } from '../testing/mesh-resources.js';
import { BOOKINFO } from '../testing/bookinfo.js';

describe('compile (xDS → runtime model)', () => {
  it('runs the Istio-shaped resources of @mesh/xds/testing', () => {
    const listeners = SEED_RESOURCES.filter((r) => r['@type'].endsWith('Listener'));
    const clusters = SEED_RESOURCES.filter((r) => r['@type'].endsWith('Cluster'));
    const endpoints = SEED_RESOURCES.filter((r) => r['@type'].endsWith('ClusterLoadAssignment'));
    const model = modelOf({ listeners, clusters, endpoints });
    expect(model.listeners.outbound?.name).toBe('ztunnel_outbound');
    expect([...model.listeners.internal.keys()]).toEqual(['outbound_tunnel_lis_spiffe://cluster.local/ns/default/sa/sleep']);
    expect(model.clusters.get('outbound_tunnel_clus_spiffe://cluster.local/ns/default/sa/sleep')).toMatchObject({
      kind: 'original_dst',
      upstreamPortOverride: 15008,
      tlsIdentity: 'spiffe://cluster.local/ns/default/sa/sleep',
    });
  });

  it('the fake generator emits resources the Envoy protos accept, for every node', () => {
    for (const node of ['node-a', 'node-b']) {
      const r = buildFakeResources(BOOKINFO, node);
      for (const resource of [...r.listeners, ...r.clusters, ...r.endpoints]) {
        expect(decodeResource(encodeResource(resource))).toEqual(canonicalResource(resource));
      }
    }
  });

  it('lists local workloads and the identities this node needs certificates for', () => {
    const model = modelOf(buildFakeResources(BOOKINFO, 'node-a'));
    expect(localWorkloads(model)).toEqual([
      { ip: '10.77.1.10', identity: 'spiffe://cluster.local/ns/default/sa/sleep' },
      { ip: '10.77.1.11', identity: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage' },
      { ip: '10.77.1.12', identity: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews' },
    ]);
    expect(localIdentities(model)).toHaveLength(3);
  });

  const base = buildFakeResources(BOOKINFO, 'node-a');
  const outbound = base.listeners.find((l) => l.name === 'ztunnel_outbound') as Record<string, unknown>;
  const inbound = base.listeners.find((l) => l.name === 'ztunnel_inbound') as Record<string, unknown>;
  const tunnelCluster = base.clusters.find((c) => String(c.name).startsWith('outbound_tunnel_clus_')) as Record<string, unknown>;

  it.each([
    ['a matcher_list', [{ ...outbound, filter_chain_matcher: { matcher_list: { matchers: [] } } }], /filter_chain_matcher.matcher_list: matcher_list is not supported/],
    [
      'an unknown matcher input',
      [{ ...outbound, filter_chain_matcher: { matcher_tree: { input: { name: 'x', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.ServerNameInput' } }, exact_match_map: { map: {} } } } }],
      /input envoy.extensions.matching.common_inputs.network.v3.ServerNameInput is not supported/,
    ],
    [
      'an action naming a missing chain',
      [{ ...outbound, filter_chain_matcher: { matcher_tree: { input: { name: 'port', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.DestinationPortInput' } }, exact_match_map: { map: { '80': { action: { name: 'x', typed_config: { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: 'nope' } } } } } } } }],
      /names filter chain "nope", which the listener does not have/,
    ],
    [
      'an HTTP filter where tcp_proxy belongs',
      [{ ...outbound, filter_chains: [{ name: 'x', filters: [{ name: 'f', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy' } }] }], filter_chain_matcher: { on_no_match: { action: { name: 'x', typed_config: { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: 'x' } } }, matcher_tree: { input: { name: 'port', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.DestinationPortInput' } }, exact_match_map: { map: { '1': { action: { name: 'x', typed_config: { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: 'x' } } } } } } } }],
      /listener ztunnel_outbound.filter_chains\[0\] \(x\).filters\[0\]: network filter envoy.extensions.filters.network.redis_proxy.v3.RedisProxy is not supported/,
    ],
    [
      'an inbound chain matching on something other than the pod IP',
      [{ ...inbound, filter_chains: [{ ...(inbound.filter_chains as Record<string, unknown>[])[0], filter_chain_match: { server_names: ['x'] } }] }],
      /filter_chain_match.server_names: only prefix_ranges/,
    ],
    [
      'an unknown listener filter',
      [{ ...inbound, listener_filters: [{ name: 'envoy.filters.listener.http_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector' } }] }],
      /listener filter envoy.filters.listener.http_inspector is not supported/,
    ],
  ])('NACKs %s with a precise reason', (_what, listeners, reason) => {
    const result = compileListeners(listeners);
    expect(result.error).toMatch(reason);
  });

  it.each([
    ['a LOGICAL_DNS cluster', { name: 'x', type: 'LOGICAL_DNS' }, /cluster x.type: cluster type LOGICAL_DNS is not supported/],
    ['a least-request EDS cluster', { name: 'x', type: 'EDS', lb_policy: 'LEAST_REQUEST' }, /EDS clusters balance ROUND_ROBIN only/],
    [
      'a TLS secret that is not a SPIFFE identity',
      { ...tunnelCluster, transport_socket: { name: 'tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'default' }] } } } },
      /SDS secret "default" does not name a SPIFFE identity/,
    ],
  ])('NACKs %s', (_what, cluster, reason) => {
    expect(compileClusters([cluster]).error).toMatch(reason);
  });

  it('NACKs an internal endpoint without tunnel metadata', () => {
    const result = compileEndpoints([
      { cluster_name: 'c', endpoints: [{ lb_endpoints: [{ endpoint: { address: { envoy_internal_address: { server_listener_name: 'l' } } } }] }] },
    ]);
    expect(result.error).toBe('endpoints c.endpoints[0].lb_endpoints[0].metadata: an internal endpoint needs `tunnel` metadata (address, destination)');
  });

  it('a mesh with pods on other nodes only still compiles (no inbound listener)', () => {
    const mesh: FakeMesh = { pods: [{ name: 'x', ip: '10.0.0.1', node: 'other', serviceAccount: 'x' }], services: [] };
    const model = modelOf(buildFakeResources(mesh, 'lonely'));
    expect(model.listeners.inbound).toBeUndefined();
    expect(model.listeners.outbound).toBeDefined();
  });
});
