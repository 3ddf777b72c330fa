/**
 * AuthorizationPolicy at a waypoint. A policy applies to a waypoint's service when its
 * `targetRefs` (or `targetRef`) name that Service (kind Service, group "" or core), the
 * waypoint's Gateway (kind Gateway: every service it serves), or its GatewayClass
 * `istio-waypoint` from the root namespace (every waypoint), all in the policy's own namespace
 * as Istio requires. Policies with a `selector` or without targets are enforced by ztunnel at
 * the pod, not here (Istio: "Waypoint proxies are required to use this field").
 *
 * The HTTP chains get HTTP RBAC filters with every attribute; the TCP chains (traffic that is
 * not HTTP) get network RBAC filters with what a connection shows, as Istio's builder does for
 * TCP. Both from ../rbac.ts, in Istio's order (AUDIT, DENY, ALLOW) and key format, so a 403
 * names the policy in the access log.
 */
import type { AuthorizationPolicy, Gateway, MeshSnapshot, Service } from '@mesh/mesh-model';
import { WAYPOINT_GATEWAY_CLASS } from '@mesh/mesh-model';
import { extension, type JsonObject } from '../envoy.js';
import { networkRbacFilters, rbacConfigs } from '../rbac.js';
import { WAYPOINT_TYPE } from './names.js';

const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';

/**
 * Policies whose targets name `service`, the waypoint `gateway` or its class, sorted by
 * namespace/name. Without a service (traffic addressed to a workload), only the Gateway's and the
 * class's: a Service-targeted policy applies to traffic addressed to that Service (Istio).
 */
export function policiesForWaypointService(snapshot: MeshSnapshot, gateway: Gateway, service: Service | undefined): AuthorizationPolicy[] {
  return [...snapshot.authorizationPolicies.values()].filter((policy) =>
    policy.targetRefs.some((ref) => {
      if (ref.kind === 'Service' && (ref.group === '' || ref.group === 'core')) return service !== undefined && ref.name === service.name && policy.namespace === service.namespace;
      if (ref.kind === 'Gateway' && ref.group === GATEWAY_API_GROUP) return ref.name === gateway.name && policy.namespace === gateway.namespace;
      if (ref.kind === 'GatewayClass' && ref.group === GATEWAY_API_GROUP) return ref.name === gateway.gatewayClassName && ref.name === WAYPOINT_GATEWAY_CLASS && policy.namespace === snapshot.rootNamespace;
      return false;
    }),
  );
}

/** HTTP RBAC filters for an HTTP chain: AUDIT, DENY, ALLOW; none when no policy targets the service. */
export function httpRbacFilters(policies: readonly AuthorizationPolicy[]): JsonObject[] {
  return rbacConfigs(policies, 'waypointHttp').map((config) => extension('envoy.filters.http.rbac', WAYPOINT_TYPE.httpRbac, config));
}

/** Network RBAC filters for a TCP chain (non-HTTP traffic through the waypoint). */
export function tcpRbacFilters(policies: readonly AuthorizationPolicy[]): JsonObject[] {
  return networkRbacFilters(policies, 'waypointTcp');
}
