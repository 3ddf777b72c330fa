/**
 * RDS: envoy.config.route.v3.RouteConfiguration → routes the waypoint can run, and the pure
 * first-match lookup Envoy does (virtual host by :authority, then the first route whose path,
 * headers, query parameters and dynamic metadata all match). The generator orders routes by
 * Gateway API precedence (istiod-lite generate/waypoint/routes.ts); here order is simply kept.
 *
 * What a route can do: forward (weighted clusters with per-cluster header changes, timeout,
 * retry policy with per-try timeout, path and host rewrite, request mirrors, the status for a
 * cluster that does not exist), answer directly, or redirect; plus request/response header
 * changes and a CORS policy (`typed_per_filter_config` of `envoy.filters.http.cors`).
 */
import { CORS_FILTER, UnsupportedConfig, anyType, durationMs, fullMatchRegex, isRecord, list, onlyKnown, optionalNumber, record, string, stringMatcher, type JsonRecord } from '@mesh/envoy-config';

/** What route matching sees of a request. */
export interface RouteRequest {
  readonly method: string;
  /** The request target: path plus query string. */
  readonly path: string;
  readonly authority: string;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** Dynamic metadata by filter name (`istio_authn` → `source.namespace`, `source.principal`). */
  readonly metadata?: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

export interface HeaderMutation {
  readonly set: readonly { readonly name: string; readonly value: string }[];
  readonly append: readonly { readonly name: string; readonly value: string }[];
  readonly remove: readonly string[];
}

export interface WeightedCluster {
  readonly name: string;
  readonly weight: number;
  /** Applied before the route's own header changes (Envoy: most specific first). */
  readonly requestHeaders: HeaderMutation;
  readonly responseHeaders: HeaderMutation;
  readonly hostRewrite?: string;
}

/** Envoy retry_on conditions the waypoint implements (policy.ts says what each retries). */
export const RETRY_ON = ['5xx', 'gateway-error', 'reset', 'reset-before-request', 'connect-failure', 'refused-stream', 'retriable-status-codes'] as const;
export type RetryOn = (typeof RETRY_ON)[number];

export interface RetryPolicy {
  /** Retries after the first attempt (Envoy num_retries). */
  readonly numRetries: number;
  readonly retriableStatusCodes: readonly number[];
  readonly retryOn: ReadonlySet<RetryOn>;
  readonly backoffBaseMs: number;
  /** Each attempt's own deadline; undefined: only the route timeout. */
  readonly perTryTimeoutMs?: number;
}

/** A share of requests copied to another cluster (answer dropped). */
export interface MirrorPolicy {
  readonly cluster: string;
  /** Of every request: numerator / denominator; undefined: all. */
  readonly fraction?: { readonly numerator: number; readonly denominator: number };
}

export interface RedirectAction {
  readonly scheme?: string;
  readonly host?: string;
  /** undefined: keep the request's port. */
  readonly port?: number;
  /** The new path (the query string is kept unless `stripQuery`). */
  readonly path?: (path: string) => string;
  readonly stripQuery: boolean;
  readonly status: number;
}

export type RouteAction =
  | {
      readonly kind: 'route';
      readonly clusters: readonly WeightedCluster[];
      /** 0: no timeout (Istio's default for HTTPRoute without one). */
      readonly timeoutMs: number;
      readonly retry?: RetryPolicy;
      readonly rewritePath?: (path: string) => string;
      readonly hostRewrite?: string;
      readonly mirrors: readonly MirrorPolicy[];
      /** Status when the chosen cluster does not exist (Envoy default 503; 500 for Gateway API's invalid backends). */
      readonly clusterNotFoundStatus: number;
    }
  | { readonly kind: 'direct'; readonly status: number }
  | { readonly kind: 'redirect'; readonly redirect: RedirectAction };

/** envoy.extensions.filters.http.cors.v3.CorsPolicy, compiled. */
export interface CorsPolicy {
  readonly allowsOrigin: (origin: string) => boolean;
  /** As configured (`GET, OPTIONS`, or `*`: any, the requested one is echoed). */
  readonly allowMethods?: string;
  readonly allowHeaders?: string;
  readonly exposeHeaders?: string;
  readonly maxAge?: string;
  readonly allowCredentials: boolean;
}

export interface CompiledRoute {
  readonly name: string;
  readonly matches: (request: RouteRequest) => boolean;
  readonly action: RouteAction;
  readonly requestHeaders: HeaderMutation;
  readonly responseHeaders: HeaderMutation;
  readonly cors?: CorsPolicy;
}

export interface CompiledVirtualHost {
  readonly name: string;
  readonly domains: readonly string[];
  readonly routes: readonly CompiledRoute[];
}

export interface CompiledRouteConfig {
  readonly name: string;
  readonly virtualHosts: readonly CompiledVirtualHost[];
}

/** Envoy's default backoff base interval (25 ms). */
export const DEFAULT_RETRY_BACKOFF_MS = 25;
/** Envoy's retry count when a retry policy leaves num_retries unset. */
export const DEFAULT_NUM_RETRIES = 1;

const CORS_POLICY_TYPE = 'envoy.extensions.filters.http.cors.v3.CorsPolicy';

/** Dynamic metadata the waypoint knows of a request: Istio's authn filter keys. */
export const AUTHN_METADATA = { filter: 'istio_authn', keys: ['source.namespace', 'source.principal'] } as const;

const NO_MUTATION: HeaderMutation = { set: [], append: [], remove: [] };

export function splitPath(target: string): { path: string; query: string } {
  const q = target.indexOf('?');
  return q < 0 ? { path: target, query: '' } : { path: target.slice(0, q), query: target.slice(q) };
}

function headerValue(request: RouteRequest, name: string): string | undefined {
  if (name === ':method') return request.method;
  if (name === ':path') return request.path;
  if (name === ':authority' || name === 'host') return request.authority;
  const v = request.headers[name];
  return v === undefined ? undefined : typeof v === 'string' ? v : v.join(',');
}

function compileMetadataMatch(value: unknown, path: string): (request: RouteRequest) => boolean {
  const m = record(value, path);
  onlyKnown(m, ['filter', 'path', 'value', 'invert'], path);
  const filter = string(m['filter'], `${path}.filter`);
  const keys = list(m['path'], `${path}.path`).map((k, i) => string(record(k, `${path}.path[${i}]`)['key'], `${path}.path[${i}].key`));
  const key = keys.join('.');
  if (filter !== AUTHN_METADATA.filter || keys.length !== 1 || !(AUTHN_METADATA.keys as readonly string[]).includes(key)) {
    throw new UnsupportedConfig(path, `only ${AUTHN_METADATA.filter} metadata ${AUTHN_METADATA.keys.join(' or ')} is known to the waypoint`);
  }
  const valueMatcher = record(m['value'], `${path}.value`);
  onlyKnown(valueMatcher, ['string_match'], `${path}.value`);
  const test = stringMatcher(valueMatcher['string_match'], `${path}.value.string_match`);
  const invert = m['invert'] === true;
  return (request) => {
    const v = request.metadata?.[filter]?.[key];
    return (v !== undefined && test(v)) !== invert;
  };
}

function compileMatch(value: unknown, path: string): (request: RouteRequest) => boolean {
  const m = record(value, path);
  onlyKnown(m, ['prefix', 'path', 'safe_regex', 'path_separated_prefix', 'headers', 'query_parameters', 'case_sensitive', 'dynamic_metadata'], path);
  let pathMatch: (p: string) => boolean;
  if (typeof m['prefix'] === 'string') {
    const prefix = m['prefix'];
    pathMatch = (p) => p.startsWith(prefix);
  } else if (m['path'] !== undefined) {
    const exact = string(m['path'], `${path}.path`);
    pathMatch = (p) => p === exact;
  } else if (m['path_separated_prefix'] !== undefined) {
    const prefix = string(m['path_separated_prefix'], `${path}.path_separated_prefix`);
    pathMatch = (p) => p === prefix || p.startsWith(`${prefix}/`);
  } else if (isRecord(m['safe_regex'])) {
    const regex = fullMatchRegex(m['safe_regex']['regex'], `${path}.safe_regex.regex`);
    pathMatch = (p) => regex.test(p);
  } else {
    throw new UnsupportedConfig(path, 'expected prefix, path, path_separated_prefix or safe_regex');
  }
  const headers = list(m['headers'], `${path}.headers`).map((h, i) => {
    const at = `${path}.headers[${i}]`;
    const r = record(h, at);
    onlyKnown(r, ['name', 'string_match', 'present_match', 'invert_match'], at);
    const name = string(r['name'], `${at}.name`).toLowerCase();
    const invert = r['invert_match'] === true;
    const test = r['string_match'] !== undefined ? stringMatcher(r['string_match'], `${at}.string_match`) : () => true;
    return (request: RouteRequest) => {
      const v = headerValue(request, name);
      return (v !== undefined && test(v)) !== invert;
    };
  });
  const query = list(m['query_parameters'], `${path}.query_parameters`).map((q, i) => {
    const at = `${path}.query_parameters[${i}]`;
    const r = record(q, at);
    onlyKnown(r, ['name', 'string_match', 'present_match'], at);
    const name = string(r['name'], `${at}.name`);
    const test = r['string_match'] !== undefined ? stringMatcher(r['string_match'], `${at}.string_match`) : () => true;
    return (params: URLSearchParams) => {
      const v = params.get(name);
      return v !== null && test(v);
    };
  });
  const metadata = list(m['dynamic_metadata'], `${path}.dynamic_metadata`).map((d, i) => compileMetadataMatch(d, `${path}.dynamic_metadata[${i}]`));
  return (request) => {
    const { path: p, query: q } = splitPath(request.path);
    if (!pathMatch(p) || !headers.every((h) => h(request)) || !metadata.every((d) => d(request))) return false;
    if (query.length === 0) return true;
    const params = new URLSearchParams(q);
    return query.every((test) => test(params));
  };
}

function compileRetry(value: unknown, path: string): RetryPolicy {
  const r = record(value, path);
  onlyKnown(r, ['retry_on', 'num_retries', 'retriable_status_codes', 'retry_back_off', 'per_try_timeout'], path);
  const retryOn = new Set<RetryOn>();
  for (const on of string(r['retry_on'], `${path}.retry_on`).split(',').map((s) => s.trim())) {
    if (!(RETRY_ON as readonly string[]).includes(on)) throw new UnsupportedConfig(`${path}.retry_on`, `"${on}" is not supported (supported: ${RETRY_ON.join(', ')})`);
    retryOn.add(on as RetryOn);
  }
  const backoff = r['retry_back_off'] === undefined ? undefined : durationMs(record(r['retry_back_off'], `${path}.retry_back_off`)['base_interval'], `${path}.retry_back_off.base_interval`);
  const perTry = durationMs(r['per_try_timeout'], `${path}.per_try_timeout`);
  return {
    numRetries: optionalNumber(r['num_retries'], `${path}.num_retries`) ?? DEFAULT_NUM_RETRIES,
    retriableStatusCodes: list(r['retriable_status_codes'], `${path}.retriable_status_codes`).map((c, i) => optionalNumber(c, `${path}.retriable_status_codes[${i}]`) as number),
    retryOn,
    backoffBaseMs: backoff ?? DEFAULT_RETRY_BACKOFF_MS,
    ...(perTry ? { perTryTimeoutMs: perTry } : {}),
  };
}

/** envoy.type.matcher.v3.RegexMatchAndSubstitute over the path (the query string is kept). */
function compileRegexRewrite(regexRewrite: unknown, path: string): (p: string) => string {
  const r = record(regexRewrite, path);
  const pattern = string(record(r['pattern'], `${path}.pattern`)['regex'], `${path}.pattern.regex`);
  let regex: RegExp;
  try {
    regex = new RegExp(pattern);
  } catch {
    throw new UnsupportedConfig(`${path}.pattern.regex`, `"${pattern}" is not a valid regular expression`);
  }
  // RE2 substitutions write groups as \1; JavaScript as $1.
  const substitution = (typeof r['substitution'] === 'string' ? r['substitution'] : '').replace(/\$/g, '$$$$').replace(/\\(\d)/g, '$$$1');
  return (p) => {
    const { path: pathPart, query } = splitPath(p);
    return pathPart.replace(regex, substitution) + query;
  };
}

function compileHeaderMutation(add: unknown, remove: unknown, path: string): HeaderMutation {
  const set: { name: string; value: string }[] = [];
  const append: { name: string; value: string }[] = [];
  list(add, `${path}_to_add`).forEach((o, i) => {
    const at = `${path}_to_add[${i}]`;
    const r = record(o, at);
    const h = record(r['header'], `${at}.header`);
    const entry = { name: string(h['key'], `${at}.header.key`).toLowerCase(), value: typeof h['value'] === 'string' ? h['value'] : '' };
    const action = r['append_action'] ?? 'APPEND_IF_EXISTS_OR_ADD';
    if (action === 'OVERWRITE_IF_EXISTS_OR_ADD') set.push(entry);
    else if (action === 'APPEND_IF_EXISTS_OR_ADD') append.push(entry);
    else throw new UnsupportedConfig(`${at}.append_action`, `${String(action)} is not supported`);
  });
  const removed = list(remove, `${path}_to_remove`).map((h, i) => string(h, `${path}_to_remove[${i}]`).toLowerCase());
  return { set, append, remove: removed };
}

function compileWeightedClusters(value: unknown, path: string): WeightedCluster[] {
  const wc = record(value, path);
  onlyKnown(wc, ['clusters', 'total_weight'], path);
  const clusters = list(wc['clusters'], `${path}.clusters`).map((c, i) => {
    const at = `${path}.clusters[${i}]`;
    const r = record(c, at);
    onlyKnown(r, ['name', 'weight', 'request_headers_to_add', 'request_headers_to_remove', 'response_headers_to_add', 'response_headers_to_remove', 'host_rewrite_literal'], at);
    return {
      name: string(r['name'], `${at}.name`),
      weight: optionalNumber(r['weight'], `${at}.weight`) ?? 0,
      requestHeaders: compileHeaderMutation(r['request_headers_to_add'], r['request_headers_to_remove'], `${at}.request_headers`),
      responseHeaders: compileHeaderMutation(r['response_headers_to_add'], r['response_headers_to_remove'], `${at}.response_headers`),
      ...(r['host_rewrite_literal'] !== undefined ? { hostRewrite: string(r['host_rewrite_literal'], `${at}.host_rewrite_literal`) } : {}),
    };
  });
  if (clusters.every((c) => c.weight <= 0)) throw new UnsupportedConfig(path, 'needs a cluster with a positive weight');
  return clusters;
}

const FRACTION_DENOMINATORS: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

function compileMirror(value: unknown, path: string): MirrorPolicy {
  const m = record(value, path);
  onlyKnown(m, ['cluster', 'runtime_fraction'], path);
  const cluster = string(m['cluster'], `${path}.cluster`);
  if (m['runtime_fraction'] === undefined) return { cluster };
  const rf = record(m['runtime_fraction'], `${path}.runtime_fraction`);
  onlyKnown(rf, ['default_value'], `${path}.runtime_fraction`);
  const dv = record(rf['default_value'], `${path}.runtime_fraction.default_value`);
  const denominatorName = typeof dv['denominator'] === 'string' ? dv['denominator'] : 'HUNDRED';
  const denominator = FRACTION_DENOMINATORS[denominatorName];
  if (denominator === undefined) throw new UnsupportedConfig(`${path}.runtime_fraction.default_value.denominator`, `${denominatorName} is not a FractionalPercent denominator`);
  return { cluster, fraction: { numerator: optionalNumber(dv['numerator'], `${path}.runtime_fraction.default_value.numerator`) ?? 0, denominator } };
}

const REDIRECT_STATUS: Record<string, number> = { MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308 };

function compileRedirect(value: unknown, path: string): RedirectAction {
  const r = record(value, path);
  onlyKnown(r, ['scheme_redirect', 'https_redirect', 'host_redirect', 'port_redirect', 'path_redirect', 'prefix_rewrite', 'regex_rewrite', 'response_code', 'strip_query'], path);
  if (r['prefix_rewrite'] !== undefined) throw new UnsupportedConfig(`${path}.prefix_rewrite`, 'use regex_rewrite');
  const code = r['response_code'] === undefined ? 'MOVED_PERMANENTLY' : string(r['response_code'], `${path}.response_code`);
  const status = REDIRECT_STATUS[code];
  if (status === undefined) throw new UnsupportedConfig(`${path}.response_code`, `${code} is not a redirect response code`);
  const port = optionalNumber(r['port_redirect'], `${path}.port_redirect`);
  const fullPath = r['path_redirect'] === undefined ? undefined : string(r['path_redirect'], `${path}.path_redirect`);
  const rewrite = r['regex_rewrite'] === undefined ? undefined : compileRegexRewrite(r['regex_rewrite'], `${path}.regex_rewrite`);
  const scheme = r['https_redirect'] === true ? 'https' : r['scheme_redirect'] === undefined ? undefined : string(r['scheme_redirect'], `${path}.scheme_redirect`);
  return {
    ...(scheme ? { scheme } : {}),
    ...(r['host_redirect'] !== undefined ? { host: string(r['host_redirect'], `${path}.host_redirect`) } : {}),
    ...(port ? { port } : {}),
    ...(fullPath !== undefined ? { path: () => fullPath } : rewrite ? { path: rewrite } : {}),
    stripQuery: r['strip_query'] === true,
    status,
  };
}

function compileAction(route: JsonRecord, path: string): RouteAction {
  if (route['direct_response'] !== undefined) {
    const status = optionalNumber(record(route['direct_response'], `${path}.direct_response`)['status'], `${path}.direct_response.status`);
    if (status === undefined) throw new UnsupportedConfig(`${path}.direct_response.status`, 'is required');
    return { kind: 'direct', status };
  }
  if (route['redirect'] !== undefined) return { kind: 'redirect', redirect: compileRedirect(route['redirect'], `${path}.redirect`) };
  const at = `${path}.route`;
  const a = record(route['route'], at);
  onlyKnown(
    a,
    ['cluster', 'weighted_clusters', 'timeout', 'retry_policy', 'prefix_rewrite', 'regex_rewrite', 'host_rewrite_literal', 'request_mirror_policies', 'cluster_not_found_response_code'],
    at,
  );
  let clusters: WeightedCluster[];
  if (a['cluster'] !== undefined) clusters = [{ name: string(a['cluster'], `${at}.cluster`), weight: 1, requestHeaders: NO_MUTATION, responseHeaders: NO_MUTATION }];
  else if (a['weighted_clusters'] !== undefined) clusters = compileWeightedClusters(a['weighted_clusters'], `${at}.weighted_clusters`);
  else throw new UnsupportedConfig(at, 'expected cluster or weighted_clusters');
  if (a['prefix_rewrite'] !== undefined) throw new UnsupportedConfig(`${at}.prefix_rewrite`, 'use regex_rewrite');
  const notFound = a['cluster_not_found_response_code'] ?? 'SERVICE_UNAVAILABLE';
  const clusterNotFoundStatus = ({ SERVICE_UNAVAILABLE: 503, NOT_FOUND: 404, INTERNAL_SERVER_ERROR: 500 } as Record<string, number>)[String(notFound)];
  if (clusterNotFoundStatus === undefined) throw new UnsupportedConfig(`${at}.cluster_not_found_response_code`, `${String(notFound)} is not a ClusterNotFoundResponseCode`);
  return {
    kind: 'route',
    clusters,
    // Envoy's default route timeout is 15 s; Istio always writes one (0s = none).
    timeoutMs: durationMs(a['timeout'], `${at}.timeout`) ?? 15_000,
    ...(a['retry_policy'] !== undefined ? { retry: compileRetry(a['retry_policy'], `${at}.retry_policy`) } : {}),
    ...(a['regex_rewrite'] !== undefined ? { rewritePath: compileRegexRewrite(a['regex_rewrite'], `${at}.regex_rewrite`) } : {}),
    ...(a['host_rewrite_literal'] !== undefined ? { hostRewrite: string(a['host_rewrite_literal'], `${at}.host_rewrite_literal`) } : {}),
    mirrors: list(a['request_mirror_policies'], `${at}.request_mirror_policies`).map((m, i) => compileMirror(m, `${at}.request_mirror_policies[${i}]`)),
    clusterNotFoundStatus,
  };
}

function compileCors(value: unknown, path: string): CorsPolicy {
  const config = record(value, path);
  if (anyType(config, path) !== CORS_POLICY_TYPE) throw new UnsupportedConfig(path, `expected a ${CORS_POLICY_TYPE}`);
  onlyKnown(config, ['allow_origin_string_match', 'allow_methods', 'allow_headers', 'expose_headers', 'max_age', 'allow_credentials'], path);
  const origins = list(config['allow_origin_string_match'], `${path}.allow_origin_string_match`).map((m, i) => stringMatcher(m, `${path}.allow_origin_string_match[${i}]`));
  const text = (key: string) => (config[key] === undefined ? undefined : string(config[key], `${path}.${key}`));
  const [allowMethods, allowHeaders, exposeHeaders, maxAge] = ['allow_methods', 'allow_headers', 'expose_headers', 'max_age'].map(text);
  return {
    allowsOrigin: (origin) => origins.some((test) => test(origin)),
    ...(allowMethods ? { allowMethods } : {}),
    ...(allowHeaders ? { allowHeaders } : {}),
    ...(exposeHeaders ? { exposeHeaders } : {}),
    ...(maxAge ? { maxAge } : {}),
    allowCredentials: config['allow_credentials'] === true,
  };
}

function compileRoute(value: unknown, path: string): CompiledRoute {
  const r = record(value, path);
  onlyKnown(
    r,
    [
      'name',
      'match',
      'route',
      'direct_response',
      'redirect',
      'request_headers_to_add',
      'request_headers_to_remove',
      'response_headers_to_add',
      'response_headers_to_remove',
      'typed_per_filter_config',
      'metadata',
      'decorator',
    ],
    path,
  );
  let cors: CorsPolicy | undefined;
  if (r['typed_per_filter_config'] !== undefined) {
    const perFilter = record(r['typed_per_filter_config'], `${path}.typed_per_filter_config`);
    for (const [filter, config] of Object.entries(perFilter)) {
      if (filter !== CORS_FILTER) throw new UnsupportedConfig(`${path}.typed_per_filter_config.${filter}`, 'only the cors filter takes per-route config in the waypoint');
      cors = compileCors(config, `${path}.typed_per_filter_config.${filter}`);
    }
  }
  return {
    name: typeof r['name'] === 'string' ? r['name'] : path,
    matches: compileMatch(r['match'], `${path}.match`),
    action: compileAction(r, path),
    requestHeaders: compileHeaderMutation(r['request_headers_to_add'], r['request_headers_to_remove'], `${path}.request_headers`),
    responseHeaders: compileHeaderMutation(r['response_headers_to_add'], r['response_headers_to_remove'], `${path}.response_headers`),
    ...(cors ? { cors } : {}),
  };
}

export function compileRouteConfiguration(resource: unknown, path: string): CompiledRouteConfig {
  const r = record(resource, path);
  const name = string(r['name'], `${path}.name`);
  const at = `RouteConfiguration ${name}`;
  onlyKnown(r, ['name', 'virtual_hosts', 'validate_clusters'], at);
  const virtualHosts = list(r['virtual_hosts'], `${at}.virtual_hosts`).map((v, i) => {
    const vp = `${at}.virtual_hosts[${i}]`;
    const vh = record(v, vp);
    onlyKnown(vh, ['name', 'domains', 'routes'], vp);
    return {
      name: string(vh['name'], `${vp}.name`),
      domains: list(vh['domains'], `${vp}.domains`).map((d, j) => string(d, `${vp}.domains[${j}]`).toLowerCase()),
      routes: list(vh['routes'], `${vp}.routes`).map((x, j) => compileRoute(x, `${vp}.routes[${j}]`)),
    };
  });
  return { name, virtualHosts };
}

function domainMatches(domain: string, host: string): boolean {
  if (domain === '*') return true;
  if (domain.startsWith('*')) return host.endsWith(domain.slice(1));
  if (domain.endsWith('*')) return host.startsWith(domain.slice(0, -1));
  return host === domain;
}

/** Envoy's lookup: the virtual host whose domain matches :authority (exact before wildcard), then the first matching route. */
export function matchRoute(config: CompiledRouteConfig, request: RouteRequest): CompiledRoute | undefined {
  const host = request.authority.toLowerCase();
  const hostNoPort = host.replace(/:\d+$/, '');
  const vh =
    config.virtualHosts.find((v) => v.domains.some((d) => d === host || d === hostNoPort)) ??
    config.virtualHosts.find((v) => v.domains.some((d) => d !== '*' && (domainMatches(d, host) || domainMatches(d, hostNoPort)))) ??
    config.virtualHosts.find((v) => v.domains.includes('*'));
  return vh?.routes.find((r) => r.matches(request));
}
