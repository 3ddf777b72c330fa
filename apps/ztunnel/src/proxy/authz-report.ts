/**
 * What ztunnel reports of an inbound authorization decision, as Istio names it: dry-run results
 * counted (`envoy_tcp_rbac{authz_dry_run_action, authz_dry_run_result}`, the network RBAC
 * filters' stat scope `tcp`), logged at debug on scope `rbac` (`shadow denied, matched policy
 * …`), and returned as the access log's RBAC metadata fields.
 */
import { reportRbac, type RbacDecision } from '@mesh/envoy-config';
import type { ProxyContext } from './context.js';

export function reportAuthorization(ctx: ProxyContext, decision: RbacDecision | undefined): Record<string, string | boolean> | undefined {
  if (!decision) return undefined;
  const metadata = reportRbac(decision, 'tcp', ctx.rbacStats, (line) => ctx.logger.log('rbac', 'debug', line));
  return Object.keys(metadata).length > 0 ? metadata : undefined;
}
