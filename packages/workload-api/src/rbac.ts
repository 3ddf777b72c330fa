/**
 * Istio's L4 authorization as ztunnel evaluates `istio.security.Authorization`, compiled into the
 * `RbacFilter` form `@mesh/envoy-config` evaluates (so ztunnel enforces, and meshctl explains,
 * both dialects with one `evaluateRbac`/`traceRbac`):
 *
 * - which policies apply to a workload: every GLOBAL policy, the NAMESPACE policies of its
 *   namespace, and the WORKLOAD_SELECTOR policies the workload lists by name;
 * - DENY first (any matching group denies); then, if any ALLOW policy applies, one of their
 *   groups must match (an ALLOW policy without groups allows nothing); dry-run policies are
 *   evaluated and reported as shadow rules, never enforced;
 * - a group matches when every rule matches, a rule when any of its matches does, a match when
 *   every kind it sets matches (within a kind any value; a `not` kind when none); a match that
 *   sets nothing matches nothing; principals are compared without `spiffe://`; a plaintext peer
 *   has no principal, namespace or service account.
 *
 * Each group becomes one named RBAC policy, `ns[<namespace>]-policy[<name>]-rule[<group>]`, the
 * spelling the Envoy dialect uses for rule `<group>`, so logs name the same rule in both dialects
 * (the index counts the groups sent, which skip ALLOW rules that only HTTP attributes could match).
 */
import { cidrContains, parseCidr, type Cidr, type RbacFilter, type RbacPolicy, type RbacRequest } from '@mesh/envoy-config';
import type { ZtunnelPolicy, ZtunnelPolicyMatch, ZtunnelServiceAccountMatch, ZtunnelStringMatch, ZtunnelWorkload } from './dump.js';
import { policyKey } from './dump.js';

/** `ns[default]-policy[deny-sleep]-rule[0]`: the name logs and explanations give a group. */
export function groupPolicyName(policy: Pick<ZtunnelPolicy, 'namespace' | 'name'>, group: number): string {
  return `ns[${policy.namespace}]-policy[${policy.name}]-rule[${group}]`;
}

interface Peer {
  /** The principal without `spiffe://`, or '' for plaintext. */
  readonly principal: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

function peerOf(identity: string | undefined): Peer {
  const m = identity ? /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(identity) : null;
  if (!identity || !identity.startsWith('spiffe://')) return { principal: '', namespace: '', serviceAccount: '' };
  return { principal: identity.slice('spiffe://'.length), namespace: m?.[2] ?? '', serviceAccount: m?.[3] ?? '' };
}

function stringMatches(m: ZtunnelStringMatch, value: string): boolean {
  if ('Exact' in m) return value === m.Exact;
  if ('Prefix' in m) return value.startsWith(m.Prefix);
  if ('Suffix' in m) return value.endsWith(m.Suffix);
  return value !== '';
}

function serviceAccountMatches(m: ZtunnelServiceAccountMatch, peer: Peer): boolean {
  return peer.principal !== '' && peer.namespace === m.namespace && peer.serviceAccount === m.serviceAccount;
}

type Check = (request: RbacRequest, peer: Peer) => boolean;

/** `values` any-of and `notValues` none-of, for one kind; nothing set → no constraint. */
function kind<T>(values: readonly T[] | undefined, notValues: readonly T[] | undefined, test: (value: T, request: RbacRequest, peer: Peer) => boolean): Check | undefined {
  const checks: Check[] = [];
  if (values && values.length > 0) checks.push((r, p) => values.some((v) => test(v, r, p)));
  if (notValues && notValues.length > 0) checks.push((r, p) => !notValues.some((v) => test(v, r, p)));
  if (checks.length === 0) return undefined;
  return (r, p) => checks.every((c) => c(r, p));
}

const cidrs = (texts: readonly string[] | undefined, path: string): Cidr[] | undefined =>
  texts?.map((t, i) => {
    const [ip, len] = t.split('/');
    return parseCidr(ip ?? '', len === undefined ? undefined : Number(len), `${path}[${i}]`);
  });

function compileMatch(m: ZtunnelPolicyMatch, path: string): Check {
  const checks = [
    kind(m.namespaces, m.notNamespaces, (v, _r, p) => stringMatches(v, p.namespace)),
    kind(m.serviceAccounts, m.notServiceAccounts, (v, _r, p) => serviceAccountMatches(v, p)),
    kind(m.principals, m.notPrincipals, (v, _r, p) => stringMatches(v, p.principal)),
    kind(cidrs(m.sourceIps, `${path}.sourceIps`), cidrs(m.notSourceIps, `${path}.notSourceIps`), (c, r) => cidrContains(c, r.sourceIp)),
    kind(cidrs(m.destinationIps, `${path}.destinationIps`), cidrs(m.notDestinationIps, `${path}.notDestinationIps`), (c, r) => r.destinationIp !== undefined && cidrContains(c, r.destinationIp)),
    kind(m.destinationPorts, m.notDestinationPorts, (port, r) => r.destinationPort === port),
  ].filter((c): c is Check => c !== undefined);
  // ztunnel: a match with no kind set is skipped, i.e. never matches.
  if (checks.length === 0) return () => false;
  return (r, p) => checks.every((c) => c(r, p));
}

/** One RBAC policy per group of an Authorization. */
export function policyRbacPolicies(policy: ZtunnelPolicy): RbacPolicy[] {
  const at = `authorization ${policyKey(policy)}`;
  return policy.rules.map((group, g) => {
    const rules = group.map((rule, r) => {
      const matches = rule.map((m, i) => compileMatch(m, `${at}.rules[${g}][${r}][${i}]`));
      // An empty rule (no matches) constrains nothing.
      return matches.length === 0 ? () => true : (req: RbacRequest, peer: Peer) => matches.some((m) => m(req, peer));
    });
    return {
      name: groupPolicyName(policy, g),
      matches: (req: RbacRequest) => {
        const peer = peerOf(req.peerIdentity);
        return rules.every((rule) => rule(req, peer));
      },
    };
  });
}

/** The policies that apply to a workload, in ztunnel's order of lookup (global, namespace, selected). */
export function policiesFor(workload: Pick<ZtunnelWorkload, 'namespace' | 'authorizationPolicies'>, byKey: ReadonlyMap<string, ZtunnelPolicy>): ZtunnelPolicy[] {
  const out: ZtunnelPolicy[] = [];
  for (const p of byKey.values()) {
    if (p.scope === 'Global' || (p.scope === 'Namespace' && p.namespace === workload.namespace)) out.push(p);
  }
  for (const key of workload.authorizationPolicies ?? []) {
    const p = byKey.get(key);
    if (p && p.scope === 'WorkloadSelector') out.push(p);
  }
  return out;
}

/**
 * The RBAC filters that enforce a workload's policies: DENY first, then ALLOW (present whenever
 * an ALLOW policy applies, even one without groups, which then denies everything). Dry-run
 * policies are left out. `compiled` caches each policy's groups (policies are shared by workloads).
 */
export function workloadRbacFilters(policies: readonly ZtunnelPolicy[], compiled: Map<ZtunnelPolicy, RbacPolicy[]> = new Map()): RbacFilter[] {
  const groups = (p: ZtunnelPolicy) => {
    let c = compiled.get(p);
    if (!c) {
      c = policyRbacPolicies(p);
      compiled.set(p, c);
    }
    return c;
  };
  const filters: RbacFilter[] = [];
  for (const [action, envoyAction] of [['Deny', 'DENY'], ['Allow', 'ALLOW']] as const) {
    const enforced = policies.filter((p) => p.action === action && !p.dryRun);
    // Dry-run policies are evaluated and reported (shadow rules, as the Envoy dialect), never enforced.
    const dryRun = policies.filter((p) => p.action === action && p.dryRun);
    if (enforced.length === 0 && dryRun.length === 0) continue;
    filters.push({
      ...(enforced.length > 0 ? { rules: { action: envoyAction, policies: enforced.flatMap(groups) } } : {}),
      ...(dryRun.length > 0 ? { shadow: { action: envoyAction, policies: dryRun.flatMap(groups), statPrefix: `istio_dry_run_${action.toLowerCase()}_` } } : {}),
    });
  }
  return filters;
}
