/**
 * The authorization verdict of ztunnel_inbound's RBAC filters for one connection, for
 * `x explain`: the same compiler and evaluator ztunnel runs (@mesh/envoy-config), plus the
 * wording meshctl prints. A rule kind the evaluator cannot run makes the answer "unknown"
 * (naming the policy) rather than a guess.
 */
import { compileRbacFilter, traceRbac, UnsupportedConfig, type RbacFilter, type RbacFilterTrace, type RbacRequest } from '@mesh/envoy-config';
import type { JsonRecord } from '../config-dump/json.js';

export type RbacFacts = Required<Pick<RbacRequest, 'sourceIp' | 'destinationIp' | 'destinationPort'>> & Pick<RbacRequest, 'peerIdentity'>;

export interface RbacVerdict {
  /** undefined when a rule cannot be evaluated. */
  allowed: boolean | undefined;
  /** The policy that decided, e.g. `ns[default]-policy[deny-sleep]-rule[0]`; undefined when no policy did. */
  policy: string | undefined;
  reason: string;
  filters: RbacFilterTrace[];
}

/** The verdict of a chain's RBAC filter configs, in order. */
export function evaluateRbac(filterConfigs: readonly JsonRecord[], facts: RbacFacts): RbacVerdict {
  let compiled: RbacFilter[];
  try {
    compiled = filterConfigs.map((c, i) => compileRbacFilter(c, `rbac[${i}]`)).filter((f): f is RbacFilter => f !== undefined);
  } catch (err) {
    if (!(err instanceof UnsupportedConfig)) throw err;
    const policy = /policies\["([^"]+)"\]/.exec(err.path)?.[1];
    return { allowed: undefined, policy, reason: `a policy uses a rule meshctl cannot evaluate (${err.reason})`, filters: [] };
  }
  return rbacVerdict(compiled, facts);
}

/** The verdict of compiled RBAC filters (either dialect's), with the reason meshctl prints. */
export function rbacVerdict(compiled: readonly RbacFilter[], facts: RbacFacts): RbacVerdict {
  const { decision, filters } = traceRbac(compiled, facts);
  const allows = filters.filter((f) => f.action === 'ALLOW' && !f.dryRun);
  let reason: string;
  if (!decision.allowed) {
    reason = decision.policy
      ? 'a DENY policy matches'
      : allows.some((f) => f.policyCount === 0)
        ? 'an ALLOW filter with no policies allows nothing'
        : 'ALLOW policies apply and none matches';
  } else if (decision.policy) {
    reason = 'an ALLOW policy matches';
  } else {
    reason = filters.every((f) => f.dryRun || f.action === 'LOG') ? 'no authorization policy applies' : 'no DENY policy matches and no ALLOW policy applies';
  }
  return { allowed: decision.allowed, policy: decision.policy, reason, filters };
}
