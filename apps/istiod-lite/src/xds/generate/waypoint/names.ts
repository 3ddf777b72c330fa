/**
 * Names and ports of a waypoint's Envoy configuration, in Istio's waypoint vocabulary:
 * `connect_terminate` (HBONE in on 15008) → `main_internal` (per-service HTTP or TCP chains) →
 * `inbound-vip|<port>|<proto>|<fqdn>` clusters → `connect_originate` (HBONE out to pod:15008).
 */
import { serviceHostname, type Service, type ServicePort } from '@mesh/mesh-model';
import { protocolOf } from '../names.js';

export const CONNECT_TERMINATE = 'connect_terminate';
export const MAIN_INTERNAL = 'main_internal';
export const CONNECT_ORIGINATE = 'connect_originate';

/** The admin and readiness ports a waypoint serves (architecture brief "Ports"). */
export const WAYPOINT_ADMIN_PORT = 15000;
export const WAYPOINT_READINESS_PORT = 15021;

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
} as const;

/** `inbound-vip|80|http|echo.echo.svc.cluster.local`: a chain, route configuration or cluster of one service port. */
export function inboundVipName(service: Service, port: ServicePort, protocol: 'http' | 'tcp' = protocolOf(port)): string {
  return `inbound-vip|${port.port}|${protocol}|${serviceHostname(service)}`;
}

/** Parses `inbound-vip|<port>|<proto>|<fqdn>` (admin views and logs name the service from it). */
export function parseInboundVipName(name: string): { port: number; protocol: string; hostname: string } | undefined {
  const m = /^inbound-vip\|(\d+)\|([a-z0-9]+)\|(.+)$/.exec(name);
  return m ? { port: Number(m[1]), protocol: m[2] as string, hostname: m[3] as string } : undefined;
}

/** Istio runs a waypoint under the service account named after its Gateway. */
export function waypointServiceAccount(gatewayName: string): string {
  return gatewayName;
}
