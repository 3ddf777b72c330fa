/**
 * RDS: envoy.config.route.v3.RouteConfiguration → routes the waypoint can run, and the pure
 * first-match lookup Envoy does (virtual host by :authority, then the first route whose path,
 * headers and query parameters all match). The generator orders routes by Gateway API
 * precedence (istiod-lite generate/waypoint/routes.ts); here order is simply kept.
 */
import { UnsupportedConfig, durationMs, fullMatchRegex, isRecord, list, onlyKnown, optionalNumber, record, string, stringMatcher, type JsonRecord } from '@mesh/envoy-config';

/** What route matching sees of a request. */
export interface RouteRequest {
  readonly method: string;
  /** The request target: path plus query string. */
  readonly path: string;
  readonly authority: string;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

export interface WeightedCluster {
  readonly name: string;
  readonly weight: number;
}

export interface RetryPolicy {
  /** Retries after the first attempt (Envoy num_retries). */
  readonly numRetries: number;
  readonly retriableStatusCodes: readonly number[];
  /** `5xx`: any 5xx or a connect failure; `gateway-error`: 502/503/504. */
  readonly retryOn: ReadonlySet<string>;
  readonly backoffBaseMs: number;
}

export interface HeaderMutation {
  readonly set: readonly { readonly name: string; readonly value: string }[];
  readonly append: readonly { readonly name: string; readonly value: string }[];
  readonly remove: readonly string[];
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
    }
  | { readonly kind: 'direct'; readonly status: number };

export interface CompiledRoute {
  readonly name: string;
  readonly matches: (request: RouteRequest) => boolean;
  readonly action: RouteAction;
  readonly requestHeaders: HeaderMutation;
  readonly responseHeaders: HeaderMutation;
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

function splitPath(target: string): { path: string; query: URLSearchParams } {
  const q = target.indexOf('?');
  return q < 0 ? { path: target, query: new URLSearchParams() } : { path: target.slice(0, q), query: new URLSearchParams(target.slice(q + 1)) };
}

function headerValue(request: RouteRequest, name: string): string | undefined {
  if (name === ':method') return request.method;
  if (name === ':path') return request.path;
  if (name === ':authority' || name === 'host') return request.authority;
  const v = request.headers[name];
  return v === undefined ? undefined : typeof v === 'string' ? v : v.join(',');
}

function compileMatch(value: unknown, path: string): (request: RouteRequest) => boolean {
  const m = record(value, path);
  onlyKnown(m, ['prefix', 'path', 'safe_regex', 'path_separated_prefix', 'headers', 'query_parameters', 'case_sensitive'], path);
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
  return (request) => {
    const { path: p, query: params } = splitPath(request.path);
    return pathMatch(p) && headers.every((h) => h(request)) && query.every((q) => q(params));
  };
}

function compileRetry(value: unknown, path: string): RetryPolicy {
  const r = record(value, path);
  onlyKnown(r, ['retry_on', 'num_retries', 'retriable_status_codes', 'retry_back_off', 'per_try_timeout'], path);
  const retryOn = new Set(string(r['retry_on'], `${path}.retry_on`).split(',').map((s) => s.trim()));
  const supported = ['5xx', 'gateway-error', 'retriable-status-codes', 'connect-failure', 'reset', 'refused-stream'];
  for (const on of retryOn) if (!supported.includes(on)) throw new UnsupportedConfig(`${path}.retry_on`, `"${on}" is not supported (supported: ${supported.join(', ')})`);
  if (r['per_try_timeout'] !== undefined) throw new UnsupportedConfig(`${path}.per_try_timeout`, 'is not supported by the waypoint');
  const backoff = r['retry_back_off'] === undefined ? undefined : durationMs(record(r['retry_back_off'], `${path}.retry_back_off`)['base_interval'], `${path}.retry_back_off.base_interval`);
  return {
    numRetries: optionalNumber(r['num_retries'], `${path}.num_retries`) ?? 1,
    retriableStatusCodes: list(r['retriable_status_codes'], `${path}.retriable_status_codes`).map((c, i) => optionalNumber(c, `${path}.retriable_status_codes[${i}]`) as number),
    retryOn,
    backoffBaseMs: backoff ?? DEFAULT_RETRY_BACKOFF_MS,
  };
}

function compileRewrite(regexRewrite: unknown, path: string): (p: string) => string {
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
    const q = p.indexOf('?');
    const [pathPart, rest] = q < 0 ? [p, ''] : [p.slice(0, q), p.slice(q)];
    return pathPart.replace(regex, substitution) + rest;
  };
}

function compileAction(route: JsonRecord, path: string): RouteAction {
  if (route['direct_response'] !== undefined) {
    const status = optionalNumber(record(route['direct_response'], `${path}.direct_response`)['status'], `${path}.direct_response.status`);
    if (status === undefined) throw new UnsupportedConfig(`${path}.direct_response.status`, 'is required');
    return { kind: 'direct', status };
  }
  const at = `${path}.route`;
  const a = record(route['route'], at);
  onlyKnown(a, ['cluster', 'weighted_clusters', 'timeout', 'retry_policy', 'prefix_rewrite', 'regex_rewrite', 'host_rewrite_literal'], at);
  let clusters: WeightedCluster[];
  if (a['cluster'] !== undefined) clusters = [{ name: string(a['cluster'], `${at}.cluster`), weight: 1 }];
  else if (a['weighted_clusters'] !== undefined) {
    const wc = record(a['weighted_clusters'], `${at}.weighted_clusters`);
    clusters = list(wc['clusters'], `${at}.weighted_clusters.clusters`).map((c, i) => {
      const cp = `${at}.weighted_clusters.clusters[${i}]`;
      const r = record(c, cp);
      return { name: string(r['name'], `${cp}.name`), weight: optionalNumber(r['weight'], `${cp}.weight`) ?? 0 };
    });
    if (clusters.every((c) => c.weight <= 0)) throw new UnsupportedConfig(`${at}.weighted_clusters`, 'needs a cluster with a positive weight');
  } else throw new UnsupportedConfig(at, 'expected cluster or weighted_clusters');
  let rewritePath: ((p: string) => string) | undefined;
  if (a['regex_rewrite'] !== undefined) rewritePath = compileRewrite(a['regex_rewrite'], `${at}.regex_rewrite`);
  if (a['prefix_rewrite'] !== undefined) throw new UnsupportedConfig(`${at}.prefix_rewrite`, 'use regex_rewrite');
  return {
    kind: 'route',
    clusters,
    // Envoy's default route timeout is 15 s; Istio always writes one (0s = none).
    timeoutMs: durationMs(a['timeout'], `${at}.timeout`) ?? 15_000,
    ...(a['retry_policy'] !== undefined ? { retry: compileRetry(a['retry_policy'], `${at}.retry_policy`) } : {}),
    ...(rewritePath ? { rewritePath } : {}),
    ...(a['host_rewrite_literal'] !== undefined ? { hostRewrite: string(a['host_rewrite_literal'], `${at}.host_rewrite_literal`) } : {}),
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

function compileRoute(value: unknown, path: string): CompiledRoute {
  const r = record(value, path);
  onlyKnown(
    r,
    ['name', 'match', 'route', 'direct_response', 'request_headers_to_add', 'request_headers_to_remove', 'response_headers_to_add', 'response_headers_to_remove', 'metadata', 'decorator'],
    path,
  );
  return {
    name: typeof r['name'] === 'string' ? r['name'] : path,
    matches: compileMatch(r['match'], `${path}.match`),
    action: compileAction(r, path),
    requestHeaders: compileHeaderMutation(r['request_headers_to_add'], r['request_headers_to_remove'], `${path}.request_headers`),
    responseHeaders: compileHeaderMutation(r['response_headers_to_add'], r['response_headers_to_remove'], `${path}.response_headers`),
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
