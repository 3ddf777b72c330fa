/**
 * The authorization verdict of ztunnel_inbound's RBAC filters for one connection, for
 * `x explain`: the evaluator ztunnel runs (@mesh/envoy-config `traceRbac`) over the filters
 * ztunnel compiled, plus the wording meshctl prints. A filter ztunnel cannot compile never gets
 * here: the dump does not compile, and explain says so (incomplete, with ztunnel's reason).
 */
import { traceRbac, type RbacFilter, type RbacFilterTrace, type RbacRequest } from '@mesh/envoy-config';

export type RbacFacts = Required<Pick<RbacRequest, 'sourceIp' | 'destinationIp' | 'destinationPort'>> & Pick<RbacRequest, 'peerIdentity'>;

export interface RbacVerdict {
  allowed: boolean;
  /** The policy that decided, e.g. `ns[default]-policy[deny-sleep]-rule[0]`; undefined when no policy did. */
  policy: string | undefined;
  reason: string;
  filters: RbacFilterTrace[];
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
