/**
 * snapshot → the Envoy v3 resources a waypoint runs (docs/model.md, "The waypoint";
 * Istio's waypoint shapes). Pure and sorted, like the ztunnel generator, so the ADS server can diff by content.
 *
 *   connect_terminate  0.0.0.0:15008, mTLS with the waypoint's identity (client cert required),
 *                      HCM: CONNECT → cluster main_internal (the tunnel's bytes, :authority =
 *                      VIP:port, become a connection to the internal listener)
 *   main_internal      internal listener; original destination = the CONNECT authority;
 *                      http_inspector sniffs the first bytes. filter_chain_matcher:
 *                      destination IP → port → sniffed protocol:
 *                        'http/1.1' | 'h2c' → chain inbound-vip|<port>|http|<fqdn>: HCM with
 *                          RDS route `inbound-vip|<port>|http|<fqdn>`, HTTP RBAC (AUDIT, DENY, ALLOW),
 *                          router
 *                        anything else      → chain inbound-vip|<port>|tcp|<fqdn>: network RBAC
 *                          (DENY, ALLOW; what a connection shows), tcp_proxy to the service's
 *                          own cluster (non-HTTP passes through)
 *                      (a port with appProtocol tcp is never sniffed: TCP chain only)
 *   inbound-vip|<port>|<proto>|<fqdn>  one EDS cluster per service port the waypoint serves or
 *                      routes to; captured endpoints are `envoy_internal_address` →
 *                      connect_originate with `tunnel` {address: pod:15008, destination:
 *                      pod:targetPort} and `istio` {workload, namespace, identity} metadata;
 *                      uncaptured endpoints are plain socket addresses
 *   connect_originate  internal listener: tcp_proxy with tunneling_config (CONNECT to the tunnel
 *                      destination) → cluster connect_originate (ORIGINAL_DST, port 15008, TLS 1.3
 *                      h2 with the waypoint's certificate). The waypoint's own traffic goes
 *                      straight to the pod's ztunnel, never back through a waypoint.
 *
 * Which services: every Service with a cluster IP whose `waypointFor` is this Gateway
 * (`istio.io/use-waypoint` on the Service or its Namespace, `istio.io/waypoint-for` service|all).
 *
 * Which workloads (`istio.io/waypoint-for` workload|all): every captured pod with an IP whose
 * `waypointFor` is this Gateway (`istio.io/use-waypoint` on the Pod or its Namespace). ztunnels
 * send connections addressed to its IP here (:authority = pod:port); main_internal matches the
 * pod IP → each TCP container port it declares → sniffed protocol: chain
 * `inbound-pod|<port>|http|<ip>` (RDS route of the same name: everything to the pod) or
 * `inbound-pod|<port>|tcp|<ip>`, with the policies that target the Gateway or its class (a
 * Service-targeted policy applies to traffic addressed to the Service), → cluster
 * `inbound-pod|<port>||<ip>` whose one endpoint is the pod (through connect_originate). A port the
 * pod does not declare has no chain: the CONNECT is refused as for any destination not served.
 */
import { HBONE_PORT } from '@mesh/hbone-core/constants';
import { CONNECT_ORIGINATE, CONNECT_TERMINATE, CORS_FILTER, MAIN_INTERNAL } from '@mesh/envoy-config';
import { MeshError } from '@mesh/errors';
import { LABEL_GATEWAY_NAME, WAYPOINT_GATEWAY_CLASS, objectKey, spiffeUri, type Gateway, type MeshSnapshot, type Pod, type Service, type ServicePort } from '@mesh/mesh-model';
import {
  TUNNELLED_EDS_CLUSTER_FIELDS,
  TYPE,
  any,
  byName,
  clusterResource,
  extension,
  hboneOriginateCluster,
  hboneOriginateListener,
  hboneTlsContext,
  socketAddress,
  tcpProxy,
  typeUrl,
  type EnvoyResource,
  type JsonObject,
} from '../envoy.js';
import { INPUT, exactMatcher, nested, selectChain, type OnMatch } from '../matcher.js';
import { address } from '../names.js';
import { SNIFFED_H2C, SNIFFED_HTTP1, WAYPOINT_TYPE, inboundPodClusterName, inboundPodName, inboundVipName, waypointServiceAccount } from './names.js';
import { httpRbacFilters, policiesForWaypointService, tcpRbacFilters } from './rbac.js';
import { backendsOfPort, routeConfiguration } from './routes.js';

export interface WaypointConfig {
  listeners: EnvoyResource[];
  clusters: EnvoyResource[];
  endpoints: EnvoyResource[];
  routes: EnvoyResource[];
}

/** The waypoint's SPIFFE identity: the service account named after its Gateway. */
export function waypointIdentity(snapshot: MeshSnapshot, gateway: Gateway): string {
  return spiffeUri({ trustDomain: snapshot.trustDomain, namespace: gateway.namespace, serviceAccount: waypointServiceAccount(gateway.name) });
}

/**
 * The Gateway a waypoint pod runs for: the pod `namespace/podName` labelled
 * `gateway.networking.k8s.io/gateway-name`, whose Gateway has class istio-waypoint. When
 * `nodeName` is given (proven by the caller's certificate), the pod must run on that node.
 * Throws XDSGEN_ERR_UNKNOWN_WAYPOINT with the reason.
 */
export function waypointGatewayOfPod(snapshot: MeshSnapshot, namespace: string, podName: string, nodeName?: string): Gateway {
  const pod = snapshot.pods.get(`${namespace}/${podName}`);
  const fail = (why: string): never => {
    throw new MeshError('XDSGEN_ERR_UNKNOWN_WAYPOINT', `waypoint pod ${namespace}/${podName}: ${why}`, {
      hint: `declare a Pod labelled ${LABEL_GATEWAY_NAME}: <gateway> for a Gateway with gatewayClassName ${WAYPOINT_GATEWAY_CLASS}`,
    });
  };
  if (!pod) return fail('no such pod in the mesh');
  if (nodeName !== undefined && pod.nodeName !== nodeName) return fail(`it runs on ${pod.nodeName}, not on ${nodeName}`);
  const gatewayName = pod.labels[LABEL_GATEWAY_NAME];
  if (!gatewayName) return fail(`it has no ${LABEL_GATEWAY_NAME} label`);
  const gateway = snapshot.gateways.get(`${namespace}/${gatewayName}`);
  if (!gateway || gateway.gatewayClassName !== WAYPOINT_GATEWAY_CLASS) return fail(`Gateway ${namespace}/${gatewayName} is not an ${WAYPOINT_GATEWAY_CLASS} Gateway`);
  return gateway;
}

/** Services (with a cluster IP) that send their traffic through `gateway`, sorted. */
export function servicesOfWaypoint(snapshot: MeshSnapshot, gateway: Gateway): Service[] {
  const key = objectKey(gateway);
  return [...snapshot.services.values()].filter((s) => s.clusterIP !== undefined && snapshot.waypointFor(s) !== undefined && objectKey(snapshot.waypointFor(s) as Gateway) === key);
}

/** Captured pods with an IP whose pod-addressed traffic goes through `gateway`, sorted by namespace/name. */
export function workloadsOfWaypoint(snapshot: MeshSnapshot, gateway: Gateway): Pod[] {
  const key = objectKey(gateway);
  return [...snapshot.pods.values()]
    .filter((p) => p.podIP !== undefined && snapshot.isCaptured(p) && snapshot.waypointFor(p) !== undefined && objectKey(snapshot.waypointFor(p) as Gateway) === key)
    .sort((a, b) => (objectKey(a) < objectKey(b) ? -1 : objectKey(a) > objectKey(b) ? 1 : 0));
}

/** The TCP ports a pod's containers declare, sorted. */
function podPorts(pod: Pod): number[] {
  return [...new Set(pod.containers.flatMap((c) => c.ports.filter((p) => p.protocol === 'TCP').map((p) => p.containerPort)))].sort((a, b) => a - b);
}

function isTcpOnly(port: ServicePort): boolean {
  return port.appProtocol?.toLowerCase() === 'tcp';
}

/** `connect_terminate`: HBONE in (HTTP/2 CONNECT over mTLS). */
function connectTerminateListener(identity: string): EnvoyResource {
  const hcm = extension('envoy.filters.network.http_connection_manager', TYPE.hcm, {
    stat_prefix: CONNECT_TERMINATE,
    route_config: {
      name: 'connect',
      virtual_hosts: [
        {
          name: 'connect',
          domains: ['*'],
          routes: [{ match: { connect_matcher: {} }, route: { cluster: MAIN_INTERNAL, upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] } }],
        },
      ],
    },
    http_filters: [extension('envoy.filters.http.router', TYPE.router)],
    http2_protocol_options: { allow_connect: true },
    upgrade_configs: [{ upgrade_type: 'CONNECT' }],
  });
  return {
    '@type': typeUrl(TYPE.listener),
    name: CONNECT_TERMINATE,
    address: socketAddress('0.0.0.0', HBONE_PORT),
    filter_chains: [
      {
        name: CONNECT_TERMINATE,
        filters: [hcm],
        transport_socket: extension('envoy.transport_sockets.tls', TYPE.downstreamTls, {
          common_tls_context: hboneTlsContext(identity),
          require_client_certificate: true,
        }),
      },
    ],
  };
}

const MAIN_INTERNAL_CLUSTER: EnvoyResource = clusterResource(MAIN_INTERNAL, {
  type: 'STATIC',
  load_assignment: {
    cluster_name: MAIN_INTERNAL,
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { envoy_internal_address: { server_listener_name: MAIN_INTERNAL } } } }] }],
  },
});

function httpChain(service: Service, port: ServicePort, policies: ReturnType<typeof policiesForWaypointService>): JsonObject {
  const name = inboundVipName(service, port, 'http');
  return {
    name,
    filters: [
      extension('envoy.filters.network.http_connection_manager', TYPE.hcm, {
        stat_prefix: name,
        rds: { route_config_name: name, config_source: { ads: {}, resource_api_version: 'V3' } },
        // Authorization first (a preflight is a request like any other, as in Istio), then the
        // per-route CORS policies, then the router.
        http_filters: [...httpRbacFilters(policies), extension(CORS_FILTER, WAYPOINT_TYPE.cors), extension('envoy.filters.http.router', TYPE.router)],
        http2_protocol_options: {},
        upgrade_configs: [{ upgrade_type: 'websocket' }],
      }),
    ],
  };
}

function tcpChain(service: Service, port: ServicePort, policies: ReturnType<typeof policiesForWaypointService>): JsonObject {
  const name = inboundVipName(service, port, 'tcp');
  return { name, filters: [...tcpRbacFilters(policies), tcpProxy(name, inboundVipName(service, port))] };
}

const APPLICATION_PROTOCOL_INPUT = extension('application-protocol', WAYPOINT_TYPE.applicationProtocolInput);

/** main_internal entries for one workload: its ports, each sniffed into its HTTP or TCP chain. */
function podEntries(pod: Pod, policies: ReturnType<typeof policiesForWaypointService>, chains: JsonObject[]): OnMatch | undefined {
  const ip = pod.podIP as string;
  const ports = new Map<string, OnMatch>();
  for (const port of podPorts(pod)) {
    const cluster = inboundPodClusterName(ip, port);
    const tcpName = inboundPodName(ip, port, 'tcp');
    const httpName = inboundPodName(ip, port, 'http');
    chains.push({ name: tcpName, filters: [...tcpRbacFilters(policies), tcpProxy(tcpName, cluster)] });
    chains.push({
      name: httpName,
      filters: [
        extension('envoy.filters.network.http_connection_manager', TYPE.hcm, {
          stat_prefix: httpName,
          rds: { route_config_name: httpName, config_source: { ads: {}, resource_api_version: 'V3' } },
          http_filters: [...httpRbacFilters(policies), extension('envoy.filters.http.router', TYPE.router)],
          http2_protocol_options: {},
          upgrade_configs: [{ upgrade_type: 'websocket' }],
        }),
      ],
    });
    const sniffed = new Map([
      [SNIFFED_HTTP1, selectChain(httpName)],
      [SNIFFED_H2C, selectChain(httpName)],
    ]);
    ports.set(String(port), nested(exactMatcher(APPLICATION_PROTOCOL_INPUT, sniffed, selectChain(tcpName))));
  }
  return ports.size > 0 ? nested(exactMatcher(INPUT.destinationPort, ports)) : undefined;
}

/** The route configuration of a workload port: every request to the pod itself. */
function podRouteConfiguration(pod: Pod, port: number): EnvoyResource {
  const ip = pod.podIP as string;
  return {
    '@type': typeUrl(WAYPOINT_TYPE.routeConfiguration),
    name: inboundPodName(ip, port, 'http'),
    virtual_hosts: [{ name: `${pod.name}.${pod.namespace}:${port}`, domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: inboundPodClusterName(ip, port), timeout: '0s' } }] }],
    validate_clusters: false,
  };
}

function mainInternalListener(snapshot: MeshSnapshot, gateway: Gateway, services: readonly Service[], workloads: readonly Pod[]): EnvoyResource {
  const chains: JsonObject[] = [];
  const byVip = new Map<string, OnMatch>();
  for (const service of services) {
    const ports = new Map<string, OnMatch>();
    const policies = policiesForWaypointService(snapshot, gateway, service);
    for (const port of service.ports) {
      const tcp = tcpChain(service, port, policies);
      chains.push(tcp);
      if (isTcpOnly(port)) {
        ports.set(String(port.port), selectChain(String(tcp.name)));
        continue;
      }
      const http = httpChain(service, port, policies);
      chains.push(http);
      const sniffed = new Map([
        [SNIFFED_HTTP1, selectChain(String(http.name))],
        [SNIFFED_H2C, selectChain(String(http.name))],
      ]);
      ports.set(String(port.port), nested(exactMatcher(APPLICATION_PROTOCOL_INPUT, sniffed, selectChain(String(tcp.name)))));
    }
    if (ports.size > 0) byVip.set(service.clusterIP as string, nested(exactMatcher(INPUT.destinationPort, ports)));
  }
  const workloadPolicies = workloads.length > 0 ? policiesForWaypointService(snapshot, gateway, undefined) : [];
  for (const pod of workloads) {
    const entry = podEntries(pod, workloadPolicies, chains);
    if (entry && !byVip.has(pod.podIP as string)) byVip.set(pod.podIP as string, entry);
  }
  return {
    '@type': typeUrl(TYPE.listener),
    name: MAIN_INTERNAL,
    // proto3 JSON leaves an empty list out (a waypoint that serves nothing, e.g. waypoint-for: none).
    ...(chains.length > 0 ? { filter_chains: chains.sort(byName) } : {}),
    // No chain for a destination this waypoint does not serve: the CONNECT is answered but the
    // connection is closed, as Envoy does when no filter chain matches.
    ...(byVip.size > 0 ? { filter_chain_matcher: exactMatcher(INPUT.destinationIp, byVip) } : {}),
    use_original_dst: true,
    listener_filters: [
      extension('envoy.filters.listener.original_dst', TYPE.originalDst),
      extension('envoy.filters.listener.http_inspector', WAYPOINT_TYPE.httpInspector),
    ],
    internal_listener: {},
  };
}

function endpointOf(snapshot: MeshSnapshot, pod: Pod, ip: string, targetPort: number): { key: string; json: JsonObject } {
  const target = address(ip, targetPort);
  const istio = { workload: pod.name, namespace: pod.namespace, identity: snapshot.spiffeOf(pod) };
  if (!snapshot.isCaptured(pod)) {
    return { key: target, json: { endpoint: { address: socketAddress(ip, targetPort) }, health_status: 'HEALTHY', metadata: { filter_metadata: { istio } }, load_balancing_weight: 1 } };
  }
  return {
    key: target,
    json: {
      endpoint: { address: { envoy_internal_address: { server_listener_name: CONNECT_ORIGINATE, endpoint_id: target } } },
      health_status: 'HEALTHY',
      metadata: { filter_metadata: { 'envoy.transport_socket_match': { tunnel: 'h2' }, tunnel: { address: address(ip, HBONE_PORT), destination: target }, istio } },
      load_balancing_weight: 1,
    },
  };
}

function backendLoadAssignment(snapshot: MeshSnapshot, service: Service, port: ServicePort): EnvoyResource {
  const lb = snapshot
    .endpointsOf(service)
    .filter((e) => e.servicePort.port === port.port)
    .map((e) => endpointOf(snapshot, e.pod, e.address, e.targetPort))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((e) => e.json);
  return {
    '@type': typeUrl(TYPE.clusterLoadAssignment),
    cluster_name: inboundVipName(service, port),
    // proto3 JSON leaves an empty list out.
    ...(lb.length > 0 ? { endpoints: [{ lb_endpoints: lb }] } : {}),
  };
}

/** Service ports that need a cluster: the served ones and every backend their routes send or mirror to. */
function backendPorts(snapshot: MeshSnapshot, services: readonly Service[]): Map<string, { service: Service; port: ServicePort }> {
  const out = new Map<string, { service: Service; port: ServicePort }>();
  const add = (service: Service, port: ServicePort) => out.set(inboundVipName(service, port), { service, port });
  for (const service of services) {
    for (const port of service.ports) {
      add(service, port);
      if (!isTcpOnly(port)) for (const backend of backendsOfPort(snapshot, service, port)) add(backend.service, backend.port);
    }
  }
  return out;
}

/** appProtocols whose backends speak HTTP/2 without TLS (Istio and the Gateway API's `kubernetes.io/h2c`). */
const H2C_APP_PROTOCOLS = new Set(['http2', 'grpc', 'kubernetes.io/h2c']);

/** A backend cluster; HTTP/2 upstream for an h2c port, HTTP/1.1 otherwise (Envoy's default). */
function backendCluster(name: string, port: ServicePort): EnvoyResource {
  const h2c = H2C_APP_PROTOCOLS.has(port.appProtocol?.toLowerCase() ?? '');
  return clusterResource(name, {
    ...TUNNELLED_EDS_CLUSTER_FIELDS,
    ...(h2c
      ? { typed_extension_protocol_options: { [TYPE.httpProtocolOptions]: any(TYPE.httpProtocolOptions, { explicit_http_config: { http2_protocol_options: {} } }) } }
      : {}),
  });
}

/** Everything the waypoint for `gateway` runs. */
export function generateWaypointConfig(snapshot: MeshSnapshot, gateway: Gateway): WaypointConfig {
  const identity = waypointIdentity(snapshot, gateway);
  const services = servicesOfWaypoint(snapshot, gateway);
  const workloads = workloadsOfWaypoint(snapshot, gateway);
  const backends = [...backendPorts(snapshot, services).entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const listeners = [connectTerminateListener(identity), mainInternalListener(snapshot, gateway, services, workloads), hboneOriginateListener(CONNECT_ORIGINATE, CONNECT_ORIGINATE)];
  const clusters = [MAIN_INTERNAL_CLUSTER, hboneOriginateCluster(CONNECT_ORIGINATE, identity), ...backends.map(([name, b]) => backendCluster(name, b.port))];
  const endpoints = backends.map(([, b]) => backendLoadAssignment(snapshot, b.service, b.port));
  const routes = services.flatMap((s) => s.ports.filter((p) => !isTcpOnly(p)).map((p) => routeConfiguration(snapshot, s, p)));
  // Workloads whose pod-addressed traffic this waypoint takes: a cluster and route per port.
  for (const pod of workloads) {
    const ip = pod.podIP as string;
    for (const port of podPorts(pod)) {
      const name = inboundPodClusterName(ip, port);
      clusters.push(clusterResource(name, TUNNELLED_EDS_CLUSTER_FIELDS));
      endpoints.push({ '@type': typeUrl(TYPE.clusterLoadAssignment), cluster_name: name, endpoints: [{ lb_endpoints: [endpointOf(snapshot, pod, ip, port).json] }] });
      routes.push(podRouteConfiguration(pod, port));
    }
  }
  return { listeners: listeners.sort(byName), clusters: clusters.sort(byName), endpoints, routes: routes.sort(byName) };
}
