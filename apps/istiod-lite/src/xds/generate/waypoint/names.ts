/**
 * Names and ports of a waypoint's Envoy configuration, in Istio's waypoint vocabulary:
 * `connect_terminate` (HBONE in on 15008) → `main_internal` (per-service HTTP or TCP chains) →
 * `inbound-vip|<port>|<proto>|<fqdn>` clusters → `connect_originate` (HBONE out to pod:15008).
 */
import { serviceHostname, type Service, type ServicePort } from '@mesh/mesh-model';
import { protocolOf } from '../names.js';


/**
 * What the `http_inspector` listener filter reports for sniffed HTTP, as Envoy's
 * ApplicationProtocolInput formats it (each protocol quoted, comma-joined).
 */
export const SNIFFED_HTTP1 = "'http/1.1'";
export const SNIFFED_H2C = "'h2c'";

/** Message names the waypoint uses on top of the ztunnel generator's TYPE table. */
export const WAYPOINT_TYPE = {
  httpRbac: 'envoy.extensions.filters.http.rbac.v3.RBAC',
  httpInspector: 'envoy.extensions.filters.listener.http_inspector.v3.HttpInspector',
  applicationProtocolInput: 'envoy.extensions.matching.common_inputs.network.v3.ApplicationProtocolInput',
  routeConfiguration: 'envoy.config.route.v3.RouteConfiguration',
  cors: 'envoy.extensions.filters.http.cors.v3.Cors',
  corsPolicy: 'envoy.extensions.filters.http.cors.v3.CorsPolicy',
} as const;

/** `inbound-vip|80|http|echo.echo.svc.cluster.local`: a chain, route configuration or cluster of one service port. */
export function inboundVipName(service: Service, port: ServicePort, protocol: 'http' | 'tcp' = protocolOf(port)): string {
  return `inbound-vip|${port.port}|${protocol}|${serviceHostname(service)}`;
}

/** Istio runs a waypoint under the service account named after its Gateway. */
export function waypointServiceAccount(gatewayName: string): string {
  return gatewayName;
}

/**
 * `inbound-pod|8080|http|10.77.1.40`: a chain or route configuration of one port of a workload
 * whose pod-addressed traffic the waypoint takes (`istio.io/waypoint-for: workload|all`).
 */
export function inboundPodName(ip: string, port: number, protocol: 'http' | 'tcp'): string {
  return `inbound-pod|${port}|${protocol}|${ip}`;
}

/** `inbound-pod|8080||10.77.1.40`: the cluster of that workload port (its one endpoint, the pod). */
export function inboundPodClusterName(ip: string, port: number): string {
  return `inbound-pod|${port}||${ip}`;
}
