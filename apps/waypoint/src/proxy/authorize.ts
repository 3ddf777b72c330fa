/**
 * The waypoint's authorization facts and reports, for HTTP requests (plan.ts) and TCP
 * connections (connection.ts) alike.
 *
 * Facts: the source is the original client (its identity from the tunnel's certificate, its
 * address from `forwarded`); the destination is the Service address and port the tunnel named
 * (`destination.ip`, `destination.port` are the VIP and Service port at a waypoint); the inner
 * stream carries no TLS, so there is no SNI; no RequestAuthentication exists in this mesh, so
 * requests carry no validated JWT (`request.auth.*` match nothing, their notValues everything).
 *
 * Reports, as Istio names them: Envoy's RBAC dynamic metadata in the access log
 * (`istio_dry_run_<action>_shadow_engine_result`, `..._shadow_effective_policy_id`,
 * `access_log_hint` for AUDIT, plus `rbac_audit_policy`), dry-run counters
 * (`envoy_<scope>_rbac{authz_dry_run_action, authz_dry_run_result}`) and debug lines on scope
 * `rbac` (`shadow denied, matched policy …`).
 */
import { evaluateRbac, rbacMetadata, reportRbac, type RbacDecision, type RbacFilter, type RbacRequest, type RbacShadowStats } from '@mesh/envoy-config';
import type { ProxyLogger as Logger } from '@mesh/log';

/** What the waypoint knows of the connection a request or TCP stream arrived on. */
export interface AuthorizationDownstream {
  readonly peerIdentity: string;
  readonly sourceAddress: string;
  readonly destinationIp: string;
  readonly destinationPort: number;
}

export function tcpAuthorizationFacts(downstream: AuthorizationDownstream): RbacRequest {
  return {
    peerIdentity: downstream.peerIdentity,
    sourceIp: downstream.sourceAddress,
    destinationIp: downstream.destinationIp,
    destinationPort: downstream.destinationPort,
    requestedServerName: '',
  };
}

export function httpAuthorizationFacts(
  downstream: AuthorizationDownstream,
  request: { readonly method: string; readonly path: string; readonly authority: string; readonly headers: Readonly<Record<string, string | readonly string[] | undefined>> },
): RbacRequest {
  return { ...tcpAuthorizationFacts(downstream), method: request.method, path: request.path, authority: request.authority, headers: request.headers };
}

/** A TCP connection's decision on its chain's network RBAC filters (pure). */
export function authorizeConnection(chain: { readonly rbac: readonly RbacFilter[] }, downstream: AuthorizationDownstream): RbacDecision {
  return evaluateRbac(chain.rbac, tcpAuthorizationFacts(downstream));
}

/** Access-log fields of a decision (pure). */
export function authorizationLog(decision: RbacDecision): Record<string, unknown> {
  return { ...rbacMetadata(decision), ...(decision.audit !== undefined ? { rbac_audit_policy: decision.audit } : {}) };
}

/** Counts a decision's dry-run results under `statScope` and logs them at debug. */
export function recordAuthorization(deps: { readonly logger: Logger; readonly rbacStats: RbacShadowStats }, statScope: string, decision: RbacDecision | undefined): void {
  if (decision) reportRbac(decision, statScope, deps.rbacStats, (line) => deps.logger.log('rbac', 'debug', line, { stat_scope: statScope }));
}
