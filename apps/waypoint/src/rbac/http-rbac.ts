/**
 * L7 authorization from the HTTP RBAC filters of a chain (envoy.extensions.filters.http.rbac.v3.RBAC,
 * as istiod-lite writes them from AuthorizationPolicies with targetRefs). Order, as in Istio:
 * any matching DENY policy denies; with no ALLOW filter the request is allowed; otherwise a
 * policy of every ALLOW filter must match. An ALLOW filter without policies denies everything.
 * Compiling refuses unknown permission/principal kinds (NACK); evaluation is pure.
 */
import { UnsupportedConfig, isRecord, list, optionalNumber, record, stringMatcher, type JsonRecord } from '../config/json.js';

/** What authorization sees of a request. */
export interface HttpRbacRequest {
  /** The peer's SPIFFE URI (the HBONE client certificate's). */
  readonly peerIdentity: string | undefined;
  readonly sourceIp: string;
  readonly destinationPort: number;
  readonly method: string;
  /** Path plus query; `url_path` matches the path without the query. */
  readonly path: string;
  readonly authority: string;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

export type HttpRbacDecision = { readonly allowed: true; readonly policy?: string } | { readonly allowed: false; readonly policy?: string; readonly reason: string };

type Predicate = (request: HttpRbacRequest) => boolean;

export interface HttpRbacFilter {
  readonly action: 'ALLOW' | 'DENY';
  readonly policies: readonly { readonly name: string; readonly matches: Predicate }[];
}

export function compileHttpRbacFilter(config: JsonRecord, path: string): HttpRbacFilter | undefined {
  if (config['rules'] === undefined || config['rules'] === null) return undefined;
  const r = record(config['rules'], `${path}.rules`);
  const action = r['action'] ?? 'ALLOW';
  if (action !== 'ALLOW' && action !== 'DENY') throw new UnsupportedConfig(`${path}.rules.action`, `action ${String(action)} is not supported`);
  const at = `${path}.rules.policies`;
  const policies = Object.entries(record(r['policies'] ?? {}, at))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, policy]) => {
      const p = record(policy, `${at}["${name}"]`);
      if (p['condition'] !== undefined) throw new UnsupportedConfig(`${at}["${name}"].condition`, 'CEL conditions are not supported');
      const permissions = list(p['permissions'], `${at}["${name}"].permissions`).map((x, i) => permission(x, `${at}["${name}"].permissions[${i}]`));
      const principals = list(p['principals'], `${at}["${name}"].principals`).map((x, i) => principal(x, `${at}["${name}"].principals[${i}]`));
      return { name, matches: (req: HttpRbacRequest) => permissions.some((f) => f(req)) && principals.some((f) => f(req)) };
    });
  return { action, policies };
}

export function evaluateHttpRbac(filters: readonly HttpRbacFilter[], request: HttpRbacRequest): HttpRbacDecision {
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
  return [keys[0] as string, r[keys[0] as string]];
}

function headerPredicate(v: unknown, at: string): Predicate {
  const r = record(v, at);
  const name = String(r['name'] ?? '').toLowerCase();
  if (!name) throw new UnsupportedConfig(`${at}.name`, 'is required');
  const invert = r['invert_match'] === true;
  const test = r['string_match'] !== undefined ? stringMatcher(r['string_match'], `${at}.string_match`) : () => true;
  return (req) => {
    const value =
      name === ':method' ? req.method : name === ':path' ? req.path : name === ':authority' || name === 'host' ? req.authority : req.headers[name];
    const text = value === undefined ? undefined : typeof value === 'string' ? value : value.join(',');
    return (text !== undefined && test(text)) !== invert;
  };
}

function ipPredicate(v: unknown, at: string): Predicate {
  const r = record(v, at);
  const prefix = String(r['address_prefix'] ?? '');
  const bits = optionalNumber(r['prefix_len'], `${at}.prefix_len`) ?? 32;
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(prefix)) throw new UnsupportedConfig(`${at}.address_prefix`, 'only IPv4 CIDRs are supported');
  const toInt = (ip: string) => ip.split('.').reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  const base = toInt(prefix) & mask;
  return (req) => {
    const ip = req.sourceIp.replace(/^::ffff:/, '');
    return /^\d+\.\d+\.\d+\.\d+$/.test(ip) && ((toInt(ip) & mask) >>> 0) === base >>> 0;
  };
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
    case 'header':
      return headerPredicate(v, at);
    case 'url_path': {
      const r = record(v, at);
      if (!isRecord(r['path'])) throw new UnsupportedConfig(`${at}.path`, 'expected a StringMatcher');
      const test = stringMatcher(r['path'], `${at}.path`);
      return (req) => {
        const q = req.path.indexOf('?');
        return test(q < 0 ? req.path : req.path.slice(0, q));
      };
    }
    case 'or_rules':
      return anyOf(list(record(v, at)['rules'], `${at}.rules`).map((x, i) => permission(x, `${at}.rules[${i}]`)));
    case 'and_rules':
      return allOf(list(record(v, at)['rules'], `${at}.rules`).map((x, i) => permission(x, `${at}.rules[${i}]`)));
    case 'not_rule': {
      const inner = permission(v, at);
      return (req) => !inner(req);
    }
    default:
      throw new UnsupportedConfig(at, `permission ${kind} is not supported by the waypoint`);
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
      if (r['principal_name'] === undefined) return (req) => req.peerIdentity !== undefined;
      const match = stringMatcher(r['principal_name'], `${at}.principal_name`);
      return (req) => req.peerIdentity !== undefined && match(req.peerIdentity);
    }
    case 'direct_remote_ip':
    case 'remote_ip':
    case 'source_ip':
      return ipPredicate(v, at);
    case 'header':
      return headerPredicate(v, at);
    case 'or_ids':
      return anyOf(list(record(v, at)['ids'], `${at}.ids`).map((x, i) => principal(x, `${at}.ids[${i}]`)));
    case 'and_ids':
      return allOf(list(record(v, at)['ids'], `${at}.ids`).map((x, i) => principal(x, `${at}.ids[${i}]`)));
    case 'not_id': {
      const inner = principal(v, at);
      return (req) => !inner(req);
    }
    default:
      throw new UnsupportedConfig(at, `principal ${kind} is not supported by the waypoint`);
  }
}

function anyOf(preds: Predicate[]): Predicate {
  return (req) => preds.some((p) => p(req));
}

function allOf(preds: Predicate[]): Predicate {
  return (req) => preds.every((p) => p(req));
}
