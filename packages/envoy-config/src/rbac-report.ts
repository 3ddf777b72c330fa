/**
 * What the proxies report of an RBAC decision, under the names Envoy and Istio use, so logs
 * and metrics read like Istio's.
 *
 * `rbacMetadata`: the dynamic metadata Envoy's RBAC filter sets, which Istio's access logs show
 * (`istio_dry_run_deny_shadow_engine_result: denied`, `..._shadow_effective_policy_id`, and
 * `access_log_hint` for a matching AUDIT policy).
 *
 * `RbacShadowStats`: dry-run (shadow rules) counters, named as Istio's Prometheus shows Envoy's RBAC shadow stats:
 * Envoy counts `<scope>.rbac.<shadow prefix>shadow_allowed|shadow_denied`, and Istio's stat tags
 * turn the prefix `istio_dry_run_<allow|deny>_` and the result into labels, giving e.g.
 *
 *   envoy_http_inbound_0_0_0_0_80_rbac{authz_dry_run_action="deny",authz_dry_run_result="denied"} 1
 *
 * (Istio's "Dry Run" task). The scope is the filter's stat scope: `tcp` for the network RBAC
 * filters (stat_prefix `tcp.`), `http.<connection manager stat_prefix>` for HTTP ones.
 */
import type { RbacDecision, RbacShadowResult } from './rbac.js';

/** Envoy's RBAC dynamic metadata for a decision: shadow engine results by prefix, and the audit hint. */
export function rbacMetadata(decision: RbacDecision): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (const s of decision.shadow ?? []) {
    out[`${s.statPrefix}shadow_engine_result`] = s.result;
    if (s.policy !== undefined) out[`${s.statPrefix}shadow_effective_policy_id`] = s.policy;
  }
  if (decision.audit !== undefined) out['access_log_hint'] = true;
  return out;
}

/** Envoy's debug line for a shadow result: `shadow denied, matched policy ns[foo]-policy[x]-rule[0]`. */
export function shadowLogLine(result: RbacShadowResult): string {
  return `shadow ${result.result}, ${result.policy !== undefined ? `matched policy ${result.policy}` : 'no policy matched'}`;
}

interface Series {
  readonly metric: string;
  readonly action: string;
  readonly result: string;
  value: number;
}

/** Envoy's Prometheus name sanitising: anything outside [a-zA-Z0-9_] becomes "_". */
function sanitize(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}

export class RbacShadowStats {
  readonly #series = new Map<string, Series>();

  /** Counts one request's (or connection's) shadow results under `scope` (`tcp`, `http.<stat_prefix>`). */
  record(scope: string, results: readonly RbacShadowResult[] | undefined): void {
    for (const r of results ?? []) {
      const metric = `envoy_${sanitize(scope)}_rbac`;
      const action = /^istio_dry_run_(allow|deny)_$/.exec(r.statPrefix)?.[1] ?? r.action.toLowerCase();
      const key = `${metric}\0${action}\0${r.result}`;
      const s = this.#series.get(key);
      if (s) s.value++;
      else this.#series.set(key, { metric, action, result: r.result, value: 1 });
    }
  }

  /** Sum over series whose labels match. */
  count(match: { action?: string; result?: string } = {}): number {
    let n = 0;
    for (const s of this.#series.values()) if ((match.action === undefined || s.action === match.action) && (match.result === undefined || s.result === match.result)) n += s.value;
    return n;
  }

  /** Prometheus text exposition format 0.0.4 (empty when nothing was counted). */
  render(): string {
    const byMetric = new Map<string, Series[]>();
    for (const s of this.#series.values()) byMetric.set(s.metric, [...(byMetric.get(s.metric) ?? []), s]);
    const lines: string[] = [];
    for (const [metric, series] of byMetric) {
      lines.push(`# TYPE ${metric} counter`);
      for (const s of series) lines.push(`${metric}{authz_dry_run_action="${s.action}",authz_dry_run_result="${s.result}"} ${s.value}`);
    }
    return lines.length > 0 ? `${lines.join('\n')}\n` : '';
  }
}

/**
 * What a proxy does with a decision's reports: counts its dry-run results under `scope`, passes
 * each one's debug line to `debug`, and returns the dynamic metadata for the access log.
 */
export function reportRbac(decision: RbacDecision, scope: string, stats: RbacShadowStats, debug: (line: string) => void): Record<string, string | boolean> {
  stats.record(scope, decision.shadow);
  for (const shadow of decision.shadow ?? []) debug(shadowLogLine(shadow));
  return rbacMetadata(decision);
}
