/**
 * L4 authorization at the destination, from the Envoy network RBAC filters of an inbound filter
 * chain (envoy.extensions.filters.network.rbac.v3.RBAC, the shape Istio generates from
 * AuthorizationPolicy). Order, as in Istio: any matching DENY policy denies; with no ALLOW filter
 * the connection is allowed; otherwise an ALLOW policy must match in every ALLOW filter.
 * An ALLOW filter with no policies denies everything (Envoy's semantics, how Istio writes
 * "allow nothing").
 *
 * Compiling is pure and refuses unknown permission/principal kinds with their path (NACK);
 * evaluation is a plain function of the connection's facts.
 */
import { cidrContains, normalizeIp, type Cidr } from '../config/ip.js';
import { UnsupportedConfig, isRecord, list, optionalNumber, record, string, type JsonRecord } from '../config/json.js';
import { cidrRange } from '../config/matcher.js';

/** What authorization sees of a connection. */
export interface RbacRequest {
  /** The peer's SPIFFE URI; undefined for plaintext. */
  readonly peerIdentity: string | undefined;
  readonly sourceIp: string;
  readonly destinationIp: string;
  readonly destinationPort: number;
}

export type RbacDecision =
  | { readonly allowed: true; readonly policy?: string }
  | { readonly allowed: false; readonly policy?: string; readonly reason: string };

type Predicate = (request: RbacRequest) => boolean;

interface CompiledPolicy {
  readonly name: string;
  readonly matches: Predicate;
}

export interface RbacFilter {
  readonly action: 'ALLOW' | 'DENY';
  readonly policies: readonly CompiledPolicy[];
}

/** The decision for a chain with no RBAC filters. */
export const ALLOW_ALL: readonly RbacFilter[] = [];

export function compileRbacFilter(config: JsonRecord, path: string): RbacFilter | undefined {
  const rules = config['rules'];
  // No `rules`: the filter enforces nothing (Envoy).
  if (rules === undefined || rules === null) return undefined;
  const r = record(rules, `${path}.rules`);
  const action = r['action'] ?? 'ALLOW';
  if (action === 'LOG') return undefined;
  if (action !== 'ALLOW' && action !== 'DENY') throw new UnsupportedConfig(`${path}.rules.action`, `action ${String(action)} is not supported`);
  const policiesPath = `${path}.rules.policies`;
  const policies = Object.entries(record(r['policies'] ?? {}, policiesPath))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, policy]): CompiledPolicy => {
      const p = record(policy, `${policiesPath}["${name}"]`);
      if (p['condition'] !== undefined || p['checked_condition'] !== undefined) {
        throw new UnsupportedConfig(`${policiesPath}["${name}"].condition`, 'CEL conditions are not supported');
      }
      const permissions = list(p['permissions'], `${policiesPath}["${name}"].permissions`).map((x, i) =>
        permission(x, `${policiesPath}["${name}"].permissions[${i}]`),
      );
      const principals = list(p['principals'], `${policiesPath}["${name}"].principals`).map((x, i) =>
        principal(x, `${policiesPath}["${name}"].principals[${i}]`),
      );
      // A policy matches when any permission and any principal match.
      return { name, matches: (req) => permissions.some((f) => f(req)) && principals.some((f) => f(req)) };
    });
  return { action, policies };
}

export function evaluateRbac(filters: readonly RbacFilter[], request: RbacRequest): RbacDecision {
  for (const filter of filters) {
    if (filter.action !== 'DENY') continue;
    const hit = filter.policies.find((p) => p.matches(request));
    if (hit) return { allowed: false, policy: hit.name, reason: `denied by policy ${hit.name}` };
  }
  let allowedBy: string | undefined;
  for (const filter of filters) {
    if (filter.action !== 'ALLOW') continue;
    const hit = filter.policies.find((p) => p.matches(request));
    if (!hit) return { allowed: false, reason: 'allow policies exist, but none allowed' };
    allowedBy ??= hit.name;
  }
  return allowedBy === undefined ? { allowed: true } : { allowed: true, policy: allowedBy };
}

function oneKind(value: unknown, path: string): [string, unknown] {
  const r = record(value, path);
  const keys = Object.keys(r);
  if (keys.length !== 1) throw new UnsupportedConfig(path, `expected exactly one rule kind, got ${keys.join(', ') || 'none'}`);
  const key = keys[0] as string;
  return [key, r[key]];
}

function permission(value: unknown, path: string): Predicate {
  const [kind, v] = oneKind(value, path);
  const at = `${path}.${kind}`;
  switch (kind) {
    case 'any':
      return () => true;
    case 'destination_port': {
      const port = optionalNumber(v, at);
      return (req) => req.destinationPort === port;
    }
    case 'destination_port_range': {
      const r = record(v, at);
      const start = optionalNumber(r['start'], `${at}.start`) ?? 0;
      const end = optionalNumber(r['end'], `${at}.end`) ?? 0;
      return (req) => req.destinationPort >= start && req.destinationPort < end;
    }
    case 'destination_ip': {
      const cidr = cidrRange(v, at);
      return (req) => cidrContains(cidr, req.destinationIp);
    }
    case 'or_rules':
      return any(list(record(v, at)['rules'], `${at}.rules`).map((x, i) => permission(x, `${at}.rules[${i}]`)));
    case 'and_rules':
      return all(list(record(v, at)['rules'], `${at}.rules`).map((x, i) => permission(x, `${at}.rules[${i}]`)));
    case 'not_rule': {
      const inner = permission(v, at);
      return (req) => !inner(req);
    }
    default:
      throw new UnsupportedConfig(at, `permission ${kind} is not supported at L4`);
  }
}

function principal(value: unknown, path: string): Predicate {
  const [kind, v] = oneKind(value, path);
  const at = `${path}.${kind}`;
  switch (kind) {
    case 'any':
      return () => true;
    case 'authenticated': {
      const r = record(v, at);
      // No principal_name: any authenticated (mTLS) peer.
      if (r['principal_name'] === undefined) return (req) => req.peerIdentity !== undefined;
      const match = stringMatcher(r['principal_name'], `${at}.principal_name`);
      return (req) => req.peerIdentity !== undefined && match(req.peerIdentity);
    }
    case 'direct_remote_ip':
    case 'remote_ip':
    case 'source_ip': {
      const cidr: Cidr = cidrRange(v, at);
      return (req) => cidrContains(cidr, normalizeIp(req.sourceIp));
    }
    case 'or_ids':
      return any(list(record(v, at)['ids'], `${at}.ids`).map((x, i) => principal(x, `${at}.ids[${i}]`)));
    case 'and_ids':
      return all(list(record(v, at)['ids'], `${at}.ids`).map((x, i) => principal(x, `${at}.ids[${i}]`)));
    case 'not_id': {
      const inner = principal(v, at);
      return (req) => !inner(req);
    }
    default:
      throw new UnsupportedConfig(at, `principal ${kind} is not supported at L4`);
  }
}

/** envoy.type.matcher.v3.StringMatcher. */
export function stringMatcher(value: unknown, path: string): (s: string) => boolean {
  const r = record(value, path);
  const ignoreCase = r['ignore_case'] === true;
  const fold = (s: string) => (ignoreCase ? s.toLowerCase() : s);
  if (r['exact'] !== undefined) {
    const want = fold(string(r['exact'], `${path}.exact`));
    return (s) => fold(s) === want;
  }
  if (r['prefix'] !== undefined) {
    const want = fold(string(r['prefix'], `${path}.prefix`));
    return (s) => fold(s).startsWith(want);
  }
  if (r['suffix'] !== undefined) {
    const want = fold(string(r['suffix'], `${path}.suffix`));
    return (s) => fold(s).endsWith(want);
  }
  if (r['contains'] !== undefined) {
    const want = fold(string(r['contains'], `${path}.contains`));
    return (s) => fold(s).includes(want);
  }
  if (isRecord(r['safe_regex'])) {
    const source = string(r['safe_regex']['regex'], `${path}.safe_regex.regex`);
    let regex: RegExp;
    try {
      // RE2 full-match semantics.
      regex = new RegExp(`^(?:${source})$`, ignoreCase ? 'i' : '');
    } catch {
      throw new UnsupportedConfig(`${path}.safe_regex.regex`, `"${source}" is not a valid regular expression`);
    }
    return (s) => regex.test(s);
  }
  throw new UnsupportedConfig(path, 'expected exact, prefix, suffix, contains or safe_regex');
}

function any(preds: Predicate[]): Predicate {
  return (req) => preds.some((p) => p(req));
}

function all(preds: Predicate[]): Predicate {
  return (req) => preds.every((p) => p(req));
}
