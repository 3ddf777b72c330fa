/**
 * AuthorizationPolicy → Envoy network RBAC filters, as Istio does for ztunnel's inbound chains.
 *
 * Istio's order (architecture brief, "Behaviour rules"): any matching DENY denies; with no ALLOW
 * policy everything else is allowed; a matching ALLOW allows; otherwise deny. So a pod gets at
 * most two filters, DENY first: an RBAC filter with action DENY holding every rule of its DENY
 * policies, then one with action ALLOW holding every rule of its ALLOW policies (no ALLOW
 * policies: no ALLOW filter). An ALLOW policy without rules still creates the ALLOW filter with no
 * policies, which denies everything, as in Istio.
 *
 * One RBAC policy per rule, keyed `ns[<ns>]-policy[<name>]-rule[<i>]` (see names.ts).
 *
 * Istio rule semantics: `from` entries OR, fields within a source AND, values within a field OR;
 * the same for `to`; every `when` condition ANDs. ztunnel sees only L4, so L7 attributes
 * (methods, paths, hosts, `request.*` conditions) fail closed like Istio's ztunnel: in an ALLOW
 * rule they make the rule match nothing; in a DENY rule they are dropped, so the rule denies on
 * its L4 attributes alone.
 *
 * The builders are exported for the waypoint's HTTP RBAC (./waypoint/rbac.ts), which adds the L7
 * attributes on top of the same principals.
 */
import type { AuthorizationAction, AuthorizationCondition, AuthorizationOperation, AuthorizationPolicy, AuthorizationSource } from '@mesh/mesh-model';
import { TYPE, cidrFromString, extension, type JsonObject } from './envoy.js';
import { rbacPolicyKey } from './names.js';

/** Stat prefix of the inbound RBAC filters, as in seed 002's `ztunnel_inbound`. */
export const RBAC_STAT_PREFIX = 'tcp.';

export const ANY: JsonObject = { any: true };
export const NEVER: JsonObject = { not_rule: ANY };

type Principal = JsonObject;
type Permission = JsonObject;

export function andIds(ids: Principal[]): Principal {
  return ids.length === 0 ? ANY : ids.length === 1 ? (ids[0] as Principal) : { and_ids: { ids } };
}
export function orIds(ids: Principal[]): Principal {
  return ids.length === 1 ? (ids[0] as Principal) : { or_ids: { ids } };
}
export function andRules(rules: Permission[]): Permission {
  return rules.length === 0 ? ANY : rules.length === 1 ? (rules[0] as Permission) : { and_rules: { rules } };
}
export function orRules(rules: Permission[]): Permission {
  return rules.length === 1 ? (rules[0] as Permission) : { or_rules: { rules } };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Istio principal patterns: `*`, `prefix*`, `*suffix`, or exact; written without `spiffe://`. */
export function principalMatcher(pattern: string): Principal {
  const matcher: JsonObject =
    pattern === '*'
      ? { safe_regex: { regex: '.+' } }
      : pattern.endsWith('*')
        ? { prefix: `spiffe://${pattern.slice(0, -1)}` }
        : pattern.startsWith('*')
          ? { suffix: pattern.slice(1) }
          : { exact: `spiffe://${pattern}` };
  return { authenticated: { principal_name: matcher } };
}

/** A namespace is the `/ns/<ns>/` segment of the peer's SPIFFE ID. */
export function namespaceMatcher(pattern: string): Principal {
  const ns = pattern.split('*').map(escapeRegex).join('[^/]*');
  return { authenticated: { principal_name: { safe_regex: { regex: `.*/ns/${ns}/.*` } } } };
}

export function ipPrincipal(cidr: string): Principal {
  return { direct_remote_ip: cidrFromString(cidr) };
}

/** `values` OR'ed, `notValues` negated; nothing when neither is given. */
export function field<T>(values: readonly string[] | undefined, notValues: readonly string[] | undefined, one: (v: string) => T, or: (xs: T[]) => T, not: (x: T) => T): T[] {
  const out: T[] = [];
  if (values && values.length > 0) out.push(or(values.map(one)));
  if (notValues && notValues.length > 0) out.push(not(or(notValues.map(one))));
  return out;
}

export const notId = (p: Principal): Principal => ({ not_id: p });
export const notRule = (p: Permission): Permission => ({ not_rule: p });
export const portPermission = (port: string): Permission => ({ destination_port: Number(port) });
const destinationIp = (cidr: string): Permission => ({ destination_ip: cidrFromString(cidr) });

export function sourcePrincipal(source: AuthorizationSource): Principal {
  return andIds([
    ...field(source.principals, source.notPrincipals, principalMatcher, orIds, notId),
    ...field(source.namespaces, source.notNamespaces, namespaceMatcher, orIds, notId),
    ...field(source.ipBlocks, source.notIpBlocks, ipPrincipal, orIds, notId),
  ]);
}

function hasL7(op: AuthorizationOperation): boolean {
  return [op.methods, op.notMethods, op.paths, op.notPaths, op.hosts, op.notHosts].some((v) => v !== undefined && v.length > 0);
}

function operationPermission(op: AuthorizationOperation, action: AuthorizationAction): Permission {
  if (action === 'ALLOW' && hasL7(op)) return NEVER;
  return andRules(field(op.ports, op.notPorts, portPermission, orRules, notRule));
}

/** Conditions ztunnel can evaluate, split by which side of the RBAC policy they constrain. */
const L4_CONDITIONS: Record<string, { principal?: (v: string) => Principal; permission?: (v: string) => Permission }> = {
  'source.ip': { principal: ipPrincipal },
  'source.principal': { principal: principalMatcher },
  'source.namespace': { principal: namespaceMatcher },
  'destination.ip': { permission: destinationIp },
  'destination.port': { permission: portPermission },
};

function conditionParts(when: readonly AuthorizationCondition[], action: AuthorizationAction): { principals: Principal[]; permissions: Permission[]; never: boolean } {
  const principals: Principal[] = [];
  const permissions: Permission[] = [];
  let never = false;
  for (const c of when) {
    const known = L4_CONDITIONS[c.key];
    if (!known) {
      if (action === 'ALLOW') never = true;
      continue;
    }
    if (known.principal) principals.push(...field(c.values, c.notValues, known.principal, orIds, notId));
    if (known.permission) permissions.push(...field(c.values, c.notValues, known.permission, orRules, notRule));
  }
  return { principals, permissions, never };
}

function rulePolicy(rule: AuthorizationPolicy['rules'][number], action: AuthorizationAction): JsonObject {
  const when = conditionParts(rule.when, action);
  const from = rule.from.length > 0 ? [orIds(rule.from.map((f) => sourcePrincipal(f.source)))] : [];
  const to = rule.to.length > 0 ? [orRules(rule.to.map((t) => operationPermission(t.operation, action)))] : [];
  const permission = when.never ? NEVER : andRules([...to, ...when.permissions]);
  return { permissions: [permission], principals: [andIds([...from, ...when.principals])] };
}

function rbacFilter(action: AuthorizationAction, policies: readonly AuthorizationPolicy[]): JsonObject {
  const rules: Record<string, JsonObject> = {};
  for (const policy of policies) {
    policy.rules.forEach((rule, i) => {
      rules[rbacPolicyKey(policy.namespace, policy.name, i)] = rulePolicy(rule, action);
    });
  }
  return extension('envoy.filters.network.rbac', TYPE.networkRbac, { rules: { action, policies: rules }, stat_prefix: RBAC_STAT_PREFIX });
}

/** The RBAC filters for one pod's inbound chain: DENY first, then ALLOW; none when no policy applies. */
export function rbacFilters(policies: readonly AuthorizationPolicy[]): JsonObject[] {
  const deny = policies.filter((p) => p.action === 'DENY');
  const allow = policies.filter((p) => p.action === 'ALLOW');
  return [...(deny.length > 0 ? [rbacFilter('DENY', deny)] : []), ...(allow.length > 0 ? [rbacFilter('ALLOW', allow)] : [])];
}

/** An RBAC filter that denies every connection, under `policyKey` so logs say why. */
export function denyAllFilter(policyKey: string): JsonObject {
  return extension('envoy.filters.network.rbac', TYPE.networkRbac, {
    rules: { action: 'DENY', policies: { [policyKey]: { permissions: [ANY], principals: [ANY] } } },
    stat_prefix: RBAC_STAT_PREFIX,
  });
}
