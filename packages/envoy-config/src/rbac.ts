/**
 * Authorization from Envoy RBAC filters, as Istio generates them from AuthorizationPolicy:
 * network filters (envoy.extensions.filters.network.rbac.v3.RBAC) on ztunnel's inbound chains,
 * HTTP filters (envoy.extensions.filters.http.rbac.v3.RBAC) on the waypoint's routes.
 *
 * Order, as in Istio: any matching DENY policy denies; with no ALLOW filter the request is
 * allowed; otherwise a policy of every ALLOW filter must match. An ALLOW filter with no policies
 * denies everything (Envoy's semantics, how Istio writes "allow nothing").
 *
 * Compiling is pure and refuses what it cannot evaluate with the field's path (a NACK reason):
 * unknown permission/principal kinds, CEL conditions, and HTTP attributes in a network filter.
 * Evaluation is a plain function of the request's facts.
 */
import { cidrContains, cidrRange, normalizeIp } from './cidr.js';
import { list, optionalNumber, record, UnsupportedConfig, type JsonRecord } from './json.js';
import { stringMatcher } from './string-matcher.js';

/** What authorization sees of a connection (network) or request (HTTP). */
export interface RbacRequest {
  /** The peer's SPIFFE URI; undefined for plaintext. */
  readonly peerIdentity: string | undefined;
  readonly sourceIp: string;
  readonly destinationIp?: string;
  readonly destinationPort: number;
  /** HTTP facts, for HTTP filters: method, path with query, authority, lower-case headers. */
  readonly method?: string;
  readonly path?: string;
  readonly authority?: string;
  readonly headers?: Readonly<Record<string, string | readonly string[] | undefined>>;
}

export type RbacDecision =
  | { readonly allowed: true; readonly policy?: string }
  | { readonly allowed: false; readonly policy?: string; readonly reason: string };

/** Where a filter runs: HTTP attributes (headers, paths) exist only in HTTP filters. */
export type RbacLayer = 'network' | 'http';

type Predicate = (request: RbacRequest) => boolean;

export interface RbacPolicy {
  readonly name: string;
  readonly matches: Predicate;
}

export interface RbacFilter {
  readonly action: 'ALLOW' | 'DENY';
  readonly policies: readonly RbacPolicy[];
}

/** Compiles one RBAC filter's config; undefined when it enforces nothing (no rules, or LOG). */
export function compileRbacFilter(config: JsonRecord, path: string, layer: RbacLayer = 'network'): RbacFilter | undefined {
  const rules = config['rules'];
  if (rules === undefined || rules === null) return undefined;
  const r = record(rules, `${path}.rules`);
  const action = r['action'] ?? 'ALLOW';
  if (action === 'LOG') return undefined;
  if (action !== 'ALLOW' && action !== 'DENY') throw new UnsupportedConfig(`${path}.rules.action`, `action ${String(action)} is not supported`);
  const at = `${path}.rules.policies`;
  const compiler = new RuleCompiler(layer);
  const policies = Object.entries(record(r['policies'] ?? {}, at))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, policy]): RbacPolicy => {
      const p = record(policy, `${at}["${name}"]`);
      if (p['condition'] !== undefined || p['checked_condition'] !== undefined) {
        throw new UnsupportedConfig(`${at}["${name}"].condition`, 'CEL conditions are not supported');
      }
      const permissions = list(p['permissions'], `${at}["${name}"].permissions`).map((x, i) => compiler.permission(x, `${at}["${name}"].permissions[${i}]`));
      const principals = list(p['principals'], `${at}["${name}"].principals`).map((x, i) => compiler.principal(x, `${at}["${name}"].principals[${i}]`));
      // A policy matches when any permission and any principal match.
      return { name, matches: (req) => permissions.some((f) => f(req)) && principals.some((f) => f(req)) };
    });
  return { action, policies };
}

/** DENY first, then every ALLOW filter must have a matching policy; names the deciding policy. */
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

const anyOf = (preds: Predicate[]): Predicate => (req) => preds.some((p) => p(req));
const allOf = (preds: Predicate[]): Predicate => (req) => preds.every((p) => p(req));

class RuleCompiler {
  readonly #layer: RbacLayer;

  constructor(layer: RbacLayer) {
    this.#layer = layer;
  }

  #httpOnly(kind: string, at: string, what: 'permission' | 'principal'): void {
    if (this.#layer !== 'http') throw new UnsupportedConfig(at, `${what} ${kind} is not supported at L4 (it needs a waypoint)`);
  }

  permission(value: unknown, path: string): Predicate {
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
        return (req) => req.destinationIp !== undefined && cidrContains(cidr, req.destinationIp);
      }
      case 'header':
        this.#httpOnly(kind, at, 'permission');
        return headerPredicate(v, at);
      case 'url_path': {
        this.#httpOnly(kind, at, 'permission');
        const test = stringMatcher(record(v, at)['path'], `${at}.path`);
        return (req) => {
          const full = req.path ?? '';
          const q = full.indexOf('?');
          return test(q < 0 ? full : full.slice(0, q));
        };
      }
      case 'or_rules':
        return anyOf(list(record(v, at)['rules'], `${at}.rules`).map((x, i) => this.permission(x, `${at}.rules[${i}]`)));
      case 'and_rules':
        return allOf(list(record(v, at)['rules'], `${at}.rules`).map((x, i) => this.permission(x, `${at}.rules[${i}]`)));
      case 'not_rule': {
        const inner = this.permission(v, at);
        return (req) => !inner(req);
      }
      default:
        throw new UnsupportedConfig(at, `permission ${kind} is not supported`);
    }
  }

  principal(value: unknown, path: string): Predicate {
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
        const cidr = cidrRange(v, at);
        return (req) => cidrContains(cidr, normalizeIp(req.sourceIp));
      }
      case 'header':
        this.#httpOnly(kind, at, 'principal');
        return headerPredicate(v, at);
      case 'or_ids':
        return anyOf(list(record(v, at)['ids'], `${at}.ids`).map((x, i) => this.principal(x, `${at}.ids[${i}]`)));
      case 'and_ids':
        return allOf(list(record(v, at)['ids'], `${at}.ids`).map((x, i) => this.principal(x, `${at}.ids[${i}]`)));
      case 'not_id': {
        const inner = this.principal(v, at);
        return (req) => !inner(req);
      }
      default:
        throw new UnsupportedConfig(at, `principal ${kind} is not supported`);
    }
  }
}

/** envoy.config.route.v3.HeaderMatcher over the request's pseudo-headers and headers. */
function headerPredicate(v: unknown, at: string): Predicate {
  const r = record(v, at);
  const name = String(r['name'] ?? '').toLowerCase();
  if (!name) throw new UnsupportedConfig(`${at}.name`, 'is required');
  const invert = r['invert_match'] === true;
  const test = r['string_match'] !== undefined ? stringMatcher(r['string_match'], `${at}.string_match`) : () => true;
  return (req) => {
    const value =
      name === ':method' ? req.method : name === ':path' ? req.path : name === ':authority' || name === 'host' ? req.authority : req.headers?.[name];
    const text = value === undefined ? undefined : typeof value === 'string' ? value : value.join(',');
    return (text !== undefined && test(text)) !== invert;
  };
}

/** Which policies of one filter match a request, for explanations (`meshctl x explain`). */
export interface RbacFilterTrace {
  readonly action: 'ALLOW' | 'DENY';
  /** Matching policy names, in key order. */
  readonly matched: readonly string[];
  readonly policyCount: number;
}

/** The decision plus every filter's matching policies. */
export function traceRbac(filters: readonly RbacFilter[], request: RbacRequest): { decision: RbacDecision; filters: RbacFilterTrace[] } {
  return {
    decision: evaluateRbac(filters, request),
    filters: filters.map((f) => ({ action: f.action, matched: f.policies.filter((p) => p.matches(request)).map((p) => p.name), policyCount: f.policies.length })),
  };
}
