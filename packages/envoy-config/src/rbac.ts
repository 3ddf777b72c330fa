/**
 * Authorization from Envoy RBAC filters, as Istio generates them from AuthorizationPolicy:
 * network filters (envoy.extensions.filters.network.rbac.v3.RBAC) on ztunnel's inbound chains
 * and the waypoint's TCP chains, HTTP filters (envoy.extensions.filters.http.rbac.v3.RBAC) on
 * the waypoint's HTTP chains.
 *
 * Each filter has enforcing `rules`, dry-run `shadow_rules`, or both (Istio puts policies
 * annotated `istio.io/dry-run` in the shadow rules). Rules with action:
 * - DENY: a matching policy denies.
 * - ALLOW: some policy must match, else deny; an ALLOW filter with no policies denies
 *   everything (Envoy's semantics, how Istio writes "allow nothing").
 * - LOG (Istio's AUDIT): never changes the decision; a match sets `access_log_hint`.
 * Shadow rules are evaluated the same way and only reported: Envoy's shadow engine result
 * (`allowed`/`denied`) and effective policy id, under the filter's `shadow_rules_stat_prefix`.
 *
 * The decision is Istio's order: any matching DENY denies; then every ALLOW filter needs a
 * matching policy (no ALLOW filter: allowed).
 *
 * Compiling is pure and refuses what it cannot evaluate with the field's path (a NACK reason):
 * unknown permission/principal kinds, CEL conditions, and HTTP attributes in a network filter.
 * Evaluation is a plain function of the request's facts.
 */
import { cidrContains, cidrRange, normalizeIp } from './cidr.js';
import { list, optionalNumber, record, string, typedConfig, UnsupportedConfig, type JsonRecord } from './json.js';
import { metadataMatcher, type DynamicMetadata } from './metadata-matcher.js';
import { stringMatcher } from './string-matcher.js';
import { compileUriTemplate } from './uri-template.js';

/** What authorization sees of a connection (network) or request (HTTP). */
export interface RbacRequest {
  /** The peer's SPIFFE URI; undefined for plaintext. */
  readonly peerIdentity: string | undefined;
  /** The downstream (original client) address: `direct_remote_ip`, `source.ip`. */
  readonly sourceIp: string;
  /**
   * `remote_ip` (`remote.ip`, `remoteIpBlocks`): the client address as the proxy infers it (from
   * X-Forwarded-For with trusted hops, or proxy protocol). Defaults to `sourceIp`, which is what
   * Envoy infers when it trusts no hops, as in this mesh.
   */
  readonly remoteIp?: string;
  readonly destinationIp?: string;
  readonly destinationPort: number;
  /** TLS SNI of the downstream connection (`connection.sni`); none is the empty string. */
  readonly requestedServerName?: string;
  /** HTTP facts, for HTTP filters: method, path with query, authority, lower-case headers. */
  readonly method?: string;
  readonly path?: string;
  readonly authority?: string;
  readonly headers?: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** Dynamic metadata by filter name (e.g. `envoy.filters.http.jwt_authn` → {payload: claims}). */
  readonly dynamicMetadata?: DynamicMetadata;
}

/** Envoy's dry-run engine result for one filter's shadow rules. */
export interface RbacShadowResult {
  readonly action: 'ALLOW' | 'DENY';
  /** `shadow_rules_stat_prefix`, e.g. `istio_dry_run_deny_`. */
  readonly statPrefix: string;
  readonly result: 'allowed' | 'denied';
  /** The policy that decided (`shadow_effective_policy_id`), when one matched. */
  readonly policy?: string;
}

interface Reports {
  /** One result per filter with shadow (dry-run) rules. */
  readonly shadow?: readonly RbacShadowResult[];
  /** The first LOG (AUDIT) policy that matched: Envoy sets `access_log_hint`. */
  readonly audit?: string;
}

export type RbacDecision = ({ readonly allowed: true; readonly policy?: string } | { readonly allowed: false; readonly policy?: string; readonly reason: string }) & Reports;

/** Where a filter runs: HTTP attributes (headers, paths) exist only in HTTP filters. */
export type RbacLayer = 'network' | 'http';

export type RbacAction = 'ALLOW' | 'DENY' | 'LOG';

type Predicate = (request: RbacRequest) => boolean;

export interface RbacPolicy {
  readonly name: string;
  readonly matches: Predicate;
}

export interface RbacRules {
  readonly action: RbacAction;
  /** In key order. */
  readonly policies: readonly RbacPolicy[];
}

export interface RbacFilter {
  /** The enforcing rules; undefined when the filter has only shadow (dry-run) rules. */
  readonly rules?: RbacRules;
  /** Dry-run rules: evaluated and reported, never enforced. */
  readonly shadow?: RbacRules & { readonly statPrefix: string };
}

function compileRules(value: unknown, path: string, compiler: RuleCompiler): RbacRules {
  const r = record(value, path);
  const action = r['action'] ?? 'ALLOW';
  if (action !== 'ALLOW' && action !== 'DENY' && action !== 'LOG') throw new UnsupportedConfig(`${path}.action`, `action ${String(action)} is not supported`);
  const at = `${path}.policies`;
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

/** Compiles one RBAC filter's config; undefined when it has neither rules nor shadow rules. */
export function compileRbacFilter(config: JsonRecord, path: string, layer: RbacLayer = 'network'): RbacFilter | undefined {
  if (config['matcher'] !== undefined || config['shadow_matcher'] !== undefined) throw new UnsupportedConfig(`${path}.matcher`, 'matcher-based RBAC is not supported');
  const compiler = new RuleCompiler(layer);
  const present = (v: unknown) => v !== undefined && v !== null;
  const rules = present(config['rules']) ? compileRules(config['rules'], `${path}.rules`, compiler) : undefined;
  let shadow: RbacFilter['shadow'];
  if (present(config['shadow_rules'])) {
    const compiled = compileRules(config['shadow_rules'], `${path}.shadow_rules`, compiler);
    const prefix = config['shadow_rules_stat_prefix'];
    shadow = { ...compiled, statPrefix: typeof prefix === 'string' ? prefix : '' };
  }
  if (!rules && !shadow) return undefined;
  return { ...(rules ? { rules } : {}), ...(shadow ? { shadow } : {}) };
}

function shadowResult(shadow: NonNullable<RbacFilter['shadow']>, request: RbacRequest): RbacShadowResult | undefined {
  if (shadow.action === 'LOG') return undefined;
  const hit = shadow.policies.find((p) => p.matches(request));
  const result = shadow.action === 'DENY' ? (hit ? 'denied' : 'allowed') : hit ? 'allowed' : 'denied';
  return { action: shadow.action, statPrefix: shadow.statPrefix, result, ...(hit ? { policy: hit.name } : {}) };
}

/** DENY first, then every ALLOW filter must have a matching policy; names the deciding policy, and reports dry-run and audit. */
export function evaluateRbac(filters: readonly RbacFilter[], request: RbacRequest): RbacDecision {
  const shadow: RbacShadowResult[] = [];
  let audit: string | undefined;
  for (const filter of filters) {
    if (filter.shadow) {
      const result = shadowResult(filter.shadow, request);
      if (result) shadow.push(result);
    }
    if (filter.rules?.action === 'LOG') audit ??= filter.rules.policies.find((p) => p.matches(request))?.name;
  }
  const reports: Reports = { ...(shadow.length > 0 ? { shadow } : {}), ...(audit !== undefined ? { audit } : {}) };
  for (const filter of filters) {
    if (filter.rules?.action !== 'DENY') continue;
    const hit = filter.rules.policies.find((p) => p.matches(request));
    if (hit) return { allowed: false, policy: hit.name, reason: `denied by policy ${hit.name}`, ...reports };
  }
  let allowedBy: string | undefined;
  for (const filter of filters) {
    if (filter.rules?.action !== 'ALLOW') continue;
    const hit = filter.rules.policies.find((p) => p.matches(request));
    if (!hit) return { allowed: false, reason: 'allow policies exist, but none allowed', ...reports };
    allowedBy ??= hit.name;
  }
  return allowedBy === undefined ? { allowed: true, ...reports } : { allowed: true, policy: allowedBy, ...reports };
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

const URI_TEMPLATE_CONFIG = 'envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig';

/** The path without query and fragment (Envoy's url_path and uri_template compare this). */
function pathOnly(full: string | undefined): string {
  return (full ?? '').replace(/[?#].*$/s, '');
}

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
      case 'requested_server_name': {
        const test = stringMatcher(v, at);
        return (req) => test(req.requestedServerName ?? '');
      }
      case 'header':
        this.#httpOnly(kind, at, 'permission');
        return headerPredicate(v, at);
      case 'url_path': {
        this.#httpOnly(kind, at, 'permission');
        const test = stringMatcher(record(v, at)['path'], `${at}.path`);
        return (req) => test(pathOnly(req.path));
      }
      case 'uri_template': {
        this.#httpOnly(kind, at, 'permission');
        const { type, config } = typedConfig(v, at);
        if (type !== URI_TEMPLATE_CONFIG) throw new UnsupportedConfig(`${at}.typed_config`, `path matcher ${type} is not supported`);
        const test = compileUriTemplate(string(config['path_template'], `${at}.typed_config.path_template`), `${at}.typed_config.path_template`);
        return (req) => test(pathOnly(req.path));
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
      case 'source_ip': {
        const cidr = cidrRange(v, at);
        return (req) => cidrContains(cidr, normalizeIp(req.sourceIp));
      }
      case 'remote_ip': {
        const cidr = cidrRange(v, at);
        return (req) => cidrContains(cidr, normalizeIp(req.remoteIp ?? req.sourceIp));
      }
      case 'header':
        this.#httpOnly(kind, at, 'principal');
        return headerPredicate(v, at);
      case 'metadata': {
        this.#httpOnly(kind, at, 'principal');
        const test = metadataMatcher(v, at);
        return (req) => test(req.dynamicMetadata);
      }
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

/**
 * envoy.config.route.v3.HeaderMatcher over the request's pseudo-headers and headers:
 * `present_match` (Istio's `*`) or `string_match`, optionally inverted. A missing header
 * matches neither.
 */
function headerPredicate(v: unknown, at: string): Predicate {
  const r = record(v, at);
  const name = String(r['name'] ?? '').toLowerCase();
  if (!name) throw new UnsupportedConfig(`${at}.name`, 'is required');
  const invert = r['invert_match'] === true;
  let test: (text: string) => boolean;
  if (r['string_match'] !== undefined) test = stringMatcher(r['string_match'], `${at}.string_match`);
  else if (r['present_match'] !== undefined) {
    const want = r['present_match'] === true;
    test = () => want;
  } else throw new UnsupportedConfig(at, 'expected string_match or present_match');
  return (req) => {
    const value =
      name === ':method' ? req.method : name === ':path' ? req.path : name === ':authority' || name === 'host' ? req.authority : req.headers?.[name];
    const text = value === undefined ? undefined : typeof value === 'string' ? value : value.join(',');
    return (text !== undefined && test(text)) !== invert;
  };
}

/** Which policies of one filter match a request, for explanations (`meshctl x explain`). */
export interface RbacFilterTrace {
  readonly action: RbacAction;
  /** Matching policy names, in key order. */
  readonly matched: readonly string[];
  readonly policyCount: number;
  /** True for a filter's dry-run rules (reported, not enforced). */
  readonly dryRun: boolean;
}

/** The decision plus every filter's matching policies (enforcing rules, then dry-run rules). */
export function traceRbac(filters: readonly RbacFilter[], request: RbacRequest): { decision: RbacDecision; filters: RbacFilterTrace[] } {
  const trace = (rules: RbacRules, dryRun: boolean): RbacFilterTrace => ({
    action: rules.action,
    matched: rules.policies.filter((p) => p.matches(request)).map((p) => p.name),
    policyCount: rules.policies.length,
    dryRun,
  });
  return {
    decision: evaluateRbac(filters, request),
    filters: filters.flatMap((f) => [...(f.rules ? [trace(f.rules, false)] : []), ...(f.shadow ? [trace(f.shadow, true)] : [])]),
  };
}
