/**
 * Evaluates ztunnel_inbound's Envoy network RBAC filters for one connection and says which
 * policy decided, for `x explain`. Istio's order (architecture brief): any matching DENY policy
 * denies; with no ALLOW filter the connection is allowed; an ALLOW filter needs a matching policy
 * (an ALLOW filter with no policies denies everything). A principal or permission kind this
 * evaluator does not know makes the answer "unknown" rather than a guess.
 *
 * ztunnel runs its own evaluator (apps/ztunnel/src/rbac); apps do not import each other, so this
 * one only explains, and the e2e suite checks both agree on real traffic.
 */
import { num, rec, records, str, type JsonRecord } from '../config-dump/json.js';

export interface RbacFacts {
  peerIdentity: string | undefined;
  sourceIp: string;
  destinationIp: string;
  destinationPort: number;
}

/** true / false, or undefined when the rule uses something we cannot evaluate. */
type Tri = boolean | undefined;

export interface RbacFilterResult {
  action: 'ALLOW' | 'DENY';
  /** Policy names that match, in key order. */
  matched: string[];
  /** Policies whose outcome could not be computed. */
  unknown: string[];
  policyCount: number;
}

export interface RbacVerdict {
  allowed: boolean | undefined;
  /** The policy that decided, e.g. `ns[default]-policy[deny-sleep]-rule[0]`; undefined when no policy did. */
  policy: string | undefined;
  reason: string;
  filters: RbacFilterResult[];
}

function ipv4ToInt(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    const n = Number(part);
    if (!Number.isInteger(n) || n < 0 || n > 255) return undefined;
    value = value * 256 + n;
  }
  return value;
}

export function cidrContains(range: JsonRecord, ip: string): boolean {
  const prefix = str(range['address_prefix']) ?? '';
  const len = num(range['prefix_len']) ?? 32;
  const a = ipv4ToInt(prefix);
  const b = ipv4ToInt(ip);
  if (a === undefined || b === undefined) return prefix === ip;
  if (len === 0) return true;
  const block = 2 ** (32 - len);
  return Math.floor(a / block) === Math.floor(b / block);
}

function stringMatches(matcher: JsonRecord, value: string | undefined): Tri {
  if (value === undefined) return false;
  const ignoreCase = matcher['ignore_case'] === true;
  const v = ignoreCase ? value.toLowerCase() : value;
  const norm = (s: unknown) => (ignoreCase ? String(s).toLowerCase() : String(s));
  if (matcher['exact'] !== undefined) return v === norm(matcher['exact']);
  if (matcher['prefix'] !== undefined) return v.startsWith(norm(matcher['prefix']));
  if (matcher['suffix'] !== undefined) return v.endsWith(norm(matcher['suffix']));
  if (matcher['contains'] !== undefined) return v.includes(norm(matcher['contains']));
  const regex = str(rec(matcher['safe_regex'])['regex']);
  if (regex !== undefined) return new RegExp(`^(?:${regex})$`).test(value);
  return undefined;
}

const and = (values: Tri[]): Tri => (values.includes(false) ? false : values.includes(undefined) ? undefined : true);
const or = (values: Tri[]): Tri => (values.includes(true) ? true : values.includes(undefined) ? undefined : false);
const not = (value: Tri): Tri => (value === undefined ? undefined : !value);

export function principalMatches(p: JsonRecord, facts: RbacFacts): Tri {
  if (p['any'] === true) return true;
  if (p['authenticated'] !== undefined) {
    const name = rec(rec(p['authenticated'])['principal_name']);
    return Object.keys(name).length === 0 ? facts.peerIdentity !== undefined : stringMatches(name, facts.peerIdentity);
  }
  for (const key of ['direct_remote_ip', 'remote_ip', 'source_ip']) {
    if (p[key] !== undefined) return cidrContains(rec(p[key]), facts.sourceIp);
  }
  if (p['and_ids'] !== undefined) return and(records(rec(p['and_ids'])['ids']).map((x) => principalMatches(x, facts)));
  if (p['or_ids'] !== undefined) return or(records(rec(p['or_ids'])['ids']).map((x) => principalMatches(x, facts)));
  if (p['not_id'] !== undefined) return not(principalMatches(rec(p['not_id']), facts));
  return undefined;
}

export function permissionMatches(p: JsonRecord, facts: RbacFacts): Tri {
  if (p['any'] === true) return true;
  if (p['destination_port'] !== undefined) return num(p['destination_port']) === facts.destinationPort;
  if (p['destination_port_range'] !== undefined) {
    const range = rec(p['destination_port_range']);
    return facts.destinationPort >= (num(range['start']) ?? 0) && facts.destinationPort < (num(range['end']) ?? 0);
  }
  if (p['destination_ip'] !== undefined) return cidrContains(rec(p['destination_ip']), facts.destinationIp);
  if (p['and_rules'] !== undefined) return and(records(rec(p['and_rules'])['rules']).map((x) => permissionMatches(x, facts)));
  if (p['or_rules'] !== undefined) return or(records(rec(p['or_rules'])['rules']).map((x) => permissionMatches(x, facts)));
  if (p['not_rule'] !== undefined) return not(permissionMatches(rec(p['not_rule']), facts));
  return undefined;
}

/** Envoy: a policy matches when any permission and any principal match. */
function policyMatches(policy: JsonRecord, facts: RbacFacts): Tri {
  return and([or(records(policy['permissions']).map((x) => permissionMatches(x, facts))), or(records(policy['principals']).map((x) => principalMatches(x, facts)))]);
}

export function evaluateRbacFilter(config: JsonRecord, facts: RbacFacts): RbacFilterResult | undefined {
  if (config['rules'] === undefined) return undefined;
  const rules = rec(config['rules']);
  const action = str(rules['action']) === 'DENY' ? 'DENY' : 'ALLOW';
  const policies = Object.entries(rec(rules['policies'])).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const matched: string[] = [];
  const unknown: string[] = [];
  for (const [name, policy] of policies) {
    const result = policyMatches(rec(policy), facts);
    if (result === true) matched.push(name);
    else if (result === undefined) unknown.push(name);
  }
  return { action, matched, unknown, policyCount: policies.length };
}

/** The verdict of a chain's RBAC filters, in order. */
export function evaluateRbac(filters: readonly JsonRecord[], facts: RbacFacts): RbacVerdict {
  const results = filters.map((f) => evaluateRbacFilter(f, facts)).filter((r): r is RbacFilterResult => r !== undefined);
  for (const result of results.filter((r) => r.action === 'DENY')) {
    if (result.matched.length > 0) return { allowed: false, policy: result.matched[0], reason: 'a DENY policy matches', filters: results };
    if (result.unknown.length > 0) return { allowed: undefined, policy: result.unknown[0], reason: 'a DENY policy uses a rule meshctl cannot evaluate', filters: results };
  }
  const allows = results.filter((r) => r.action === 'ALLOW');
  if (allows.length === 0) return { allowed: true, policy: undefined, reason: results.length === 0 ? 'no authorization policy applies' : 'no DENY policy matches and no ALLOW policy applies', filters: results };
  for (const result of allows) {
    if (result.matched.length > 0) continue;
    if (result.unknown.length > 0) return { allowed: undefined, policy: result.unknown[0], reason: 'an ALLOW policy uses a rule meshctl cannot evaluate', filters: results };
    return {
      allowed: false,
      policy: undefined,
      reason: result.policyCount === 0 ? 'an ALLOW filter with no policies allows nothing' : 'ALLOW policies apply and none matches',
      filters: results,
    };
  }
  return { allowed: true, policy: allows[allows.length - 1]!.matched[0], reason: 'an ALLOW policy matches', filters: results };
}

/** Used by tables: policy names of an RBAC filter config. */
export function rbacPolicyNames(config: JsonRecord): string[] {
  return Object.keys(rec(rec(config['rules'])['policies']));
}

export function rbacAction(config: JsonRecord): 'ALLOW' | 'DENY' {
  return str(rec(config['rules'])['action']) === 'DENY' ? 'DENY' : 'ALLOW';
}


