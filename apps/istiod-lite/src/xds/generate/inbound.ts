/**
 * Inbound: `ztunnel_inbound` (HBONE, 15008) and `ztunnel_inbound_plaintext` (15006), one filter
 * chain per captured local pod matched on the destination IP, and the `virtual_inbound` cluster
 * that delivers to the pod (docs/model.md, "ztunnel's configuration").
 *
 * HBONE chain: mTLS with the pod's own certificate (client certificate required, validated
 * against ROOTCA) → RBAC from the pod's AuthorizationPolicies → HCM that terminates CONNECT and
 * sends the stream to `virtual_inbound`, which connects to the `x-envoy-original-dst-host` the
 * client set (pod:targetPort).
 *
 * Plaintext chain: the same RBAC (no peer identity, so principal rules never match), then
 * tcp_proxy to `virtual_inbound`, which without the header uses the original destination.
 * PeerAuthentication adds, first, an RBAC filter that denies plaintext on the pod's STRICT ports
 * (all of them under STRICT, less the `portLevelMtls` exceptions; only the port-level STRICT
 * ones otherwise) under the policy key `peer-authentication-strict-denies-plaintext`, so the
 * chain keeps its place and the refusal is explicit in logs and `meshctl`.
 */
import { HBONE_PORT } from '@mesh/hbone-core/constants';
import type { MeshSnapshot, Pod } from '@mesh/mesh-model';
import { TYPE, byName, cidrRange, clusterResource, extension, hboneTlsContext, tcpProxy, transparentListener, type EnvoyResource, type JsonObject } from './envoy.js';
import { INBOUND_LISTENER, INBOUND_PLAINTEXT_LISTENER, VIRTUAL_INBOUND_CLUSTER, ZTUNNEL_INBOUND_PLAINTEXT_PORT } from '@mesh/envoy-config';
import { STRICT_MTLS_POLICY_KEY, inboundChainName, inboundPlaintextChainName } from './names.js';
import { plaintextMtlsFilter, rbacFilters } from './rbac.js';

export const VIRTUAL_INBOUND_CLUSTER_RESOURCE: EnvoyResource = clusterResource(VIRTUAL_INBOUND_CLUSTER, {
  type: 'ORIGINAL_DST',
  lb_policy: 'CLUSTER_PROVIDED',
  original_dst_lb_config: { use_http_header: true },
});

/** HCM that terminates HTTP/2 CONNECT and hands the tunnel's bytes to `virtual_inbound` (HBONE's server side). */
const CONNECT_TERMINATOR: JsonObject = extension('envoy.filters.network.http_connection_manager', TYPE.hcm, {
  stat_prefix: 'inbound_hcm',
  route_config: {
    name: 'local_route',
    virtual_hosts: [
      {
        name: 'local_service',
        domains: ['*'],
        routes: [
          {
            match: { connect_matcher: {} },
            route: { cluster: VIRTUAL_INBOUND_CLUSTER, upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] },
          },
        ],
      },
    ],
  },
  http_filters: [extension('envoy.filters.http.router', TYPE.router)],
  http2_protocol_options: { allow_connect: true },
  upgrade_configs: [{ upgrade_type: 'CONNECT' }],
});

function destinationMatch(ip: string): JsonObject {
  return { prefix_ranges: [cidrRange(ip)] };
}

function hboneChain(snapshot: MeshSnapshot, pod: Pod, ip: string): JsonObject {
  const { authorizationPolicies } = snapshot.policiesFor(pod);
  return {
    filter_chain_match: destinationMatch(ip),
    filters: [...rbacFilters(authorizationPolicies), CONNECT_TERMINATOR],
    transport_socket: extension('envoy.transport_sockets.tls', TYPE.downstreamTls, {
      common_tls_context: hboneTlsContext(snapshot.spiffeOf(pod)),
      require_client_certificate: true,
    }),
    name: inboundChainName(ip),
  };
}

function plaintextChain(snapshot: MeshSnapshot, pod: Pod, ip: string): JsonObject {
  const policies = snapshot.policiesFor(pod);
  const mtls = plaintextMtlsFilter(STRICT_MTLS_POLICY_KEY, policies);
  return {
    filter_chain_match: destinationMatch(ip),
    filters: [...(mtls ? [mtls] : []), ...rbacFilters(policies.authorizationPolicies), tcpProxy(inboundPlaintextChainName(ip), VIRTUAL_INBOUND_CLUSTER)],
    name: inboundPlaintextChainName(ip),
  };
}

/**
 * The inbound listeners for the captured pods in `localPods` (which must have IPs). A node with
 * no captured pods gets none: Envoy rejects a listener without filter chains, and nothing on
 * such a node is captured inbound anyway.
 */
export function inboundListeners(snapshot: MeshSnapshot, localPods: readonly Pod[]): EnvoyResource[] {
  if (localPods.length === 0) return [];
  const withIp = localPods.map((pod) => ({ pod, ip: pod.podIP as string }));
  return [
    transparentListener(INBOUND_LISTENER, HBONE_PORT, { filter_chains: withIp.map(({ pod, ip }) => hboneChain(snapshot, pod, ip)).sort(byName) }),
    transparentListener(INBOUND_PLAINTEXT_LISTENER, ZTUNNEL_INBOUND_PLAINTEXT_PORT, {
      filter_chains: withIp.map(({ pod, ip }) => plaintextChain(snapshot, pod, ip)).sort(byName),
    }),
  ];
}
