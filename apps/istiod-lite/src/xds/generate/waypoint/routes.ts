/**
 * HTTPRoute → Envoy RouteConfiguration for one service port of a waypoint (RDS). One virtual
 * host (`*`) per service port: the waypoint picks the chain by the destination VIP and port
 * (GAMMA binds routes to a Service's cluster IP, not to a Host header), so every request for
 * this port reaches these routes. Envoy takes the first route that matches, so the list is:
 *
 *   1. per consumer namespace (an HTTPRoute in another namespace than the Service): its rules,
 *      each also matching `istio_authn` metadata `source.namespace` = that namespace, then a
 *      404 for the rest of that namespace's requests (consumer routes replace the producer
 *      routes for their namespace; GEP-1294 "Multiple routes for a Service");
 *   2. the producer routes (the Service's namespace), or, without any, the Service itself
 *      (by default a Service routes to itself: docs/model.md, "The waypoint").
 *
 * Within a group, rules are ordered by the Gateway API precedence: exact path > regular
 * expression > longest prefix > method > most headers > most query parameters > declaration
 * order (routes by namespace/name, then rule, then match). Which routes bind, and whether each
 * backendRef resolves, is `@mesh/mesh-model`'s route status; this file only renders it.
 *
 * Actions:
 * - RequestRedirect → `redirect` (scheme, host, `port_redirect` always explicit: the given port,
 *   else the scheme's well-known port when the scheme changes, else the Service port the client
 *   addressed; path via `path_redirect` or `regex_rewrite`; status as `response_code`).
 * - no backendRef with weight > 0 → `direct_response` 500 (Gateway API).
 * - otherwise `weighted_clusters` (or `cluster` for one backend without filters). A backendRef
 *   that does not resolve points at a cluster that never exists, and
 *   `cluster_not_found_response_code: INTERNAL_SERVER_ERROR` turns its share into 500s.
 *   Per-backend RequestHeaderModifier/ResponseHeaderModifier → the ClusterWeight's header
 *   options; a single backend's URLRewrite is the rule's rewrite (the model refuses it elsewhere).
 * - RequestMirror → `request_mirror_policies` (percent/fraction as `runtime_fraction`).
 * - timeouts: `request` → `timeout` (`0s` when unset, as Istio: none); `backendRequest` →
 *   `retry_policy.per_try_timeout` with a retry, else the route `timeout` (Istio's choice).
 * - retry → `retry_policy`: `connect-failure,refused-stream,reset-before-request`, plus
 *   `retriable-status-codes` for `codes`, plus `gateway-error` with a `backendRequest` timeout
 *   (Envoy retries a per-try timeout only under `5xx` or `gateway-error`); `num_retries` =
 *   attempts (Istio's default 2; 0 → no retries); `backoff` → `retry_back_off.base_interval`.
 * - RequestHeaderModifier / ResponseHeaderModifier → `request_headers_to_*` / `response_headers_to_*`;
 *   URLRewrite → `regex_rewrite` (full path or matched prefix) and `host_rewrite_literal`;
 *   CORS → `typed_per_filter_config` of `envoy.filters.http.cors`.
 */
import {
  attachedHttpRoutes,
  gatewayDurationMs,
  resolveBackendRef,
  type BackendObjectRef,
  type BackendRef,
  type CorsPolicy,
  type HeaderModifier,
  type HttpPathModifier,
  type HttpRoute,
  type HttpRouteMatch,
  type HttpRouteRule,
  type MeshSnapshot,
  type RedirectStatusCode,
  type RequestMirror,
  type RequestRedirect,
  type Service,
  type ServicePort,
} from '@mesh/mesh-model';
import { CORS_FILTER } from '@mesh/envoy-config';
import { MeshError } from '@mesh/errors';
import { any, typeUrl, type EnvoyResource, type JsonObject } from '../envoy.js';
import { WAYPOINT_TYPE, inboundVipName } from './names.js';

/** Gateway API duration (`1h`, `10s`, `500ms`, `1m30s`) → proto3-JSON Duration (`"90s"`). */
export function gatewayDurationToProto(duration: string): string {
  const totalMs = gatewayDurationMs(duration);
  if (totalMs === undefined) {
    throw new MeshError('XDSGEN_ERR_BAD_DURATION', `"${duration}" is not a Gateway API duration`, { hint: 'write it like 10s, 500ms or 1m30s' });
  }
  const seconds = totalMs / 1000;
  // proto3 JSON's canonical Duration: whole seconds, or exactly 3 fractional digits for ms.
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(3)}s`;
}


/** Istio's authn filter metadata, where the waypoint finds the caller's namespace. */
export const SOURCE_METADATA = { filter: 'istio_authn', namespaceKey: 'source.namespace' } as const;

/** A backend the route may use: the cluster of a Service port in the mesh. */
export interface ResolvedBackend {
  readonly service: Service;
  readonly port: ServicePort;
}

/**
 * The cluster a backendRef routes to: the Service port's `inbound-vip|…` cluster, or, when it
 * does not resolve, a name no cluster has (the route answers 500 for it), reading as the reason.
 */
function backendCluster(snapshot: MeshSnapshot, route: HttpRoute, ref: BackendObjectRef): { name: string; backend?: ResolvedBackend } {
  const resolved = resolveBackendRef(snapshot, route, ref);
  if (resolved.ok) return { name: inboundVipName(resolved.service, resolved.port), backend: { service: resolved.service, port: resolved.port } };
  return { name: `unresolved|${resolved.reason}|${ref.kind}/${ref.namespace ?? route.namespace}/${ref.name}:${ref.port ?? ''}` };
}

function stringMatch(type: 'Exact' | 'RegularExpression', value: string): JsonObject {
  return type === 'Exact' ? { exact: value } : { safe_regex: { regex: value } };
}

/** `/foo/` and `/foo` are the same Gateway API prefix. */
function prefixOf(match: HttpRouteMatch | undefined): string {
  const path = match?.path;
  return path?.type === 'PathPrefix' ? path.value.replace(/\/+$/, '') : '';
}

function routeMatch(match: HttpRouteMatch | undefined, consumerNamespace: string | undefined): JsonObject {
  const path = match?.path ?? { type: 'PathPrefix' as const, value: '/' };
  const pathPart: JsonObject =
    path.type === 'Exact'
      ? { path: path.value }
      : path.type === 'RegularExpression'
        ? { safe_regex: { regex: path.value } }
        : // Gateway API prefixes match whole path segments: `/foo` matches `/foo` and `/foo/x`, not `/foobar`.
          prefixOf(match) === ''
          ? { prefix: '/' }
          : { path_separated_prefix: prefixOf(match) };
  const headers: JsonObject[] = (match?.headers ?? []).map((h) => ({ name: h.name.toLowerCase(), string_match: stringMatch(h.type, h.value) }));
  if (match?.method) headers.push({ name: ':method', string_match: { exact: match.method } });
  const query = (match?.queryParams ?? []).map((q) => ({ name: q.name, string_match: stringMatch(q.type, q.value) }));
  return {
    ...pathPart,
    ...(headers.length > 0 ? { headers } : {}),
    ...(query.length > 0 ? { query_parameters: query } : {}),
    ...(consumerNamespace !== undefined ? { dynamic_metadata: [sourceNamespaceMatcher(consumerNamespace)] } : {}),
  };
}

function sourceNamespaceMatcher(namespace: string): JsonObject {
  return { filter: SOURCE_METADATA.filter, path: [{ key: SOURCE_METADATA.namespaceKey }], value: { string_match: { exact: namespace } } };
}

function headerValueOptions(modifier: HeaderModifier): JsonObject[] {
  return [
    ...modifier.set.map((h) => ({ header: { key: h.name.toLowerCase(), value: h.value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' })),
    ...modifier.add.map((h) => ({ header: { key: h.name.toLowerCase(), value: h.value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' })),
  ];
}

/** `request_headers_to_add` … `response_headers_to_remove` for a route or a ClusterWeight. */
function headerFields(request: HeaderModifier | undefined, response: HeaderModifier | undefined): JsonObject {
  const out: Record<string, JsonObject[] | string[]> = {};
  if (request && headerValueOptions(request).length > 0) out.request_headers_to_add = headerValueOptions(request);
  if (request && request.remove.length > 0) out.request_headers_to_remove = request.remove.map((h) => h.toLowerCase());
  if (response && headerValueOptions(response).length > 0) out.response_headers_to_add = headerValueOptions(response);
  if (response && response.remove.length > 0) out.response_headers_to_remove = response.remove.map((h) => h.toLowerCase());
  return out;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A path modifier as Envoy's RegexMatchAndSubstitute over the path: the whole path, or the
 * matched prefix (with the rest kept; replacing it by `/` keeps one slash).
 */
function pathSubstitution(modifier: HttpPathModifier, match: HttpRouteMatch | undefined): JsonObject {
  if (modifier.type === 'ReplaceFullPath') return { pattern: { regex: '^/.*$' }, substitution: modifier.replaceFullPath ?? '/' };
  const prefix = escapeRegex(prefixOf(match));
  const replacement = (modifier.replacePrefixMatch ?? '/').replace(/\/+$/, '');
  return replacement === ''
    ? { pattern: { regex: `^${prefix}/?(.*)$` }, substitution: '/\\1' }
    : { pattern: { regex: `^${prefix}(/.*)?$` }, substitution: `${replacement}\\1` };
}

const REDIRECT_CODES: Record<RedirectStatusCode, string | undefined> = {
  // MOVED_PERMANENTLY is the enum's zero value: proto3 JSON leaves it out.
  301: undefined,
  302: 'FOUND',
  303: 'SEE_OTHER',
  307: 'TEMPORARY_REDIRECT',
  308: 'PERMANENT_REDIRECT',
};

const WELL_KNOWN_PORT: Record<'http' | 'https', number> = { http: 80, https: 443 };

function redirectAction(redirect: RequestRedirect, match: HttpRouteMatch | undefined, servicePort: ServicePort): JsonObject {
  const port = redirect.port ?? (redirect.scheme ? WELL_KNOWN_PORT[redirect.scheme] : servicePort.port);
  const path = redirect.path;
  return {
    ...(redirect.scheme ? { scheme_redirect: redirect.scheme } : {}),
    ...(redirect.hostname ? { host_redirect: redirect.hostname } : {}),
    port_redirect: port,
    ...(path?.type === 'ReplaceFullPath' ? { path_redirect: path.replaceFullPath ?? '/' } : path ? { regex_rewrite: pathSubstitution(path, match) } : {}),
    ...(REDIRECT_CODES[redirect.statusCode] ? { response_code: REDIRECT_CODES[redirect.statusCode] as string } : {}),
  };
}

/** Gateway API percent/fraction → Envoy FractionalPercent; undefined for "every request". */
function mirrorFraction(mirror: RequestMirror): JsonObject | undefined {
  if (mirror.fraction) {
    const { numerator, denominator } = mirror.fraction;
    if (numerator >= denominator) return undefined;
    return { default_value: { numerator: Math.round((numerator * 1_000_000) / denominator), denominator: 'MILLION' } };
  }
  // HUNDRED is the enum's zero value: proto3 JSON leaves it out.
  return mirror.percent === undefined || mirror.percent >= 100 ? undefined : { default_value: { numerator: mirror.percent } };
}

function mirrorPolicies(snapshot: MeshSnapshot, route: HttpRoute, rule: HttpRouteRule): JsonObject[] {
  const out: JsonObject[] = [];
  for (const filter of rule.filters) {
    const mirror = filter.requestMirror;
    if (!mirror || mirror.percent === 0 || mirror.fraction?.numerator === 0) continue;
    const target = backendCluster(snapshot, route, mirror.backendRef);
    // A mirror that does not resolve is dropped (its route status says why); mirroring never fails the request.
    if (!target.backend) continue;
    const fraction = mirrorFraction(mirror);
    out.push({ cluster: target.name, ...(fraction ? { runtime_fraction: fraction } : {}) });
  }
  return out;
}

function retryPolicy(rule: HttpRouteRule): JsonObject | undefined {
  const retry = rule.retry;
  const attempts = retry?.attempts ?? 2;
  if (!retry || attempts === 0) return undefined;
  const on = ['connect-failure', 'refused-stream', 'reset-before-request'];
  if (retry.codes.length > 0) on.push('retriable-status-codes');
  const perTry = rule.timeouts?.backendRequest;
  if (perTry) on.push('gateway-error');
  return {
    retry_on: on.join(','),
    num_retries: attempts,
    ...(retry.codes.length > 0 ? { retriable_status_codes: [...retry.codes] } : {}),
    ...(perTry ? { per_try_timeout: gatewayDurationToProto(perTry) } : {}),
    ...(retry.backoff ? { retry_back_off: { base_interval: gatewayDurationToProto(retry.backoff) } } : {}),
  };
}

function routeTimeout(rule: HttpRouteRule, retry: JsonObject | undefined): string {
  const { request, backendRequest } = rule.timeouts ?? {};
  // Without retries there is one attempt, so the backend request timeout is the route's.
  const timeout = !retry && backendRequest ? backendRequest : request;
  return timeout ? gatewayDurationToProto(timeout) : '0s';
}

/** Route-level rewrite: the rule's URLRewrite, else its single backend's (the model allows no other). */
function rewriteFields(rule: HttpRouteRule, match: HttpRouteMatch | undefined): JsonObject {
  const filters = [...rule.filters, ...(rule.backendRefs.length === 1 ? (rule.backendRefs[0] as BackendRef).filters : [])];
  const rewrite = filters.find((f) => f.type === 'URLRewrite')?.urlRewrite;
  if (!rewrite) return {};
  return {
    ...(rewrite.hostname ? { host_rewrite_literal: rewrite.hostname } : {}),
    ...(rewrite.path ? { regex_rewrite: pathSubstitution(rewrite.path, match) } : {}),
  };
}

function clusterWeight(snapshot: MeshSnapshot, route: HttpRoute, ref: BackendRef): JsonObject {
  const request = ref.filters.find((f) => f.type === 'RequestHeaderModifier')?.requestHeaderModifier;
  const response = ref.filters.find((f) => f.type === 'ResponseHeaderModifier')?.responseHeaderModifier;
  return { name: backendCluster(snapshot, route, ref).name, weight: ref.weight, ...headerFields(request, response) };
}

function forwardAction(snapshot: MeshSnapshot, route: HttpRoute, rule: HttpRouteRule, match: HttpRouteMatch | undefined): JsonObject {
  const refs = rule.backendRefs.filter((ref) => ref.weight > 0);
  if (refs.length === 0) return { direct_response: { status: 500 } };
  const weighted = refs.map((ref) => clusterWeight(snapshot, route, ref));
  const target: JsonObject = weighted.length === 1 && Object.keys(weighted[0] as JsonObject).length === 2 ? { cluster: (weighted[0] as JsonObject).name as string } : { weighted_clusters: { clusters: weighted } };
  const retry = retryPolicy(rule);
  const mirrors = mirrorPolicies(snapshot, route, rule);
  return {
    route: {
      ...target,
      cluster_not_found_response_code: 'INTERNAL_SERVER_ERROR',
      timeout: routeTimeout(rule, retry),
      ...(retry ? { retry_policy: retry } : {}),
      ...(mirrors.length > 0 ? { request_mirror_policies: mirrors } : {}),
      ...rewriteFields(rule, match),
    },
  };
}

function corsPolicy(cors: CorsPolicy): JsonObject {
  const origin = (o: string): JsonObject =>
    o === '*' ? { safe_regex: { regex: '.*' } } : o.includes('://*.') ? { safe_regex: { regex: `^${escapeRegex(o).replace('://\\*\\.', '://.+\\.')}$` } } : { exact: o };
  return any(WAYPOINT_TYPE.corsPolicy, {
    allow_origin_string_match: cors.allowOrigins.map(origin),
    ...(cors.allowMethods.length > 0 ? { allow_methods: cors.allowMethods.join(', ') } : {}),
    ...(cors.allowHeaders.length > 0 ? { allow_headers: cors.allowHeaders.join(', ') } : {}),
    ...(cors.exposeHeaders.length > 0 ? { expose_headers: cors.exposeHeaders.join(', ') } : {}),
    max_age: String(cors.maxAge),
    ...(cors.allowCredentials ? { allow_credentials: true } : {}),
  });
}

interface Candidate {
  readonly order: number;
  readonly match: HttpRouteMatch | undefined;
  readonly json: JsonObject;
}

/** Gateway API precedence as a sort key (smaller first). */
function precedence(match: HttpRouteMatch | undefined): number[] {
  const path = match?.path ?? { type: 'PathPrefix', value: '/' };
  const kind = path.type === 'Exact' ? 0 : path.type === 'RegularExpression' ? 1 : 2;
  return [kind, -path.value.length, match?.method ? 0 : 1, -(match?.headers.length ?? 0), -(match?.queryParams.length ?? 0)];
}

function compareCandidates(a: Candidate, b: Candidate): number {
  const pa = precedence(a.match);
  const pb = precedence(b.match);
  for (let i = 0; i < pa.length; i++) if (pa[i] !== pb[i]) return (pa[i] as number) - (pb[i] as number);
  return a.order - b.order;
}

/**
 * The routes of a set of HTTPRoutes (one producer or consumer group) for one service port,
 * ordered for first-match evaluation. `consumerNamespace` restricts every route to callers in it.
 */
export function routesOf(snapshot: MeshSnapshot, routes: readonly HttpRoute[], servicePort: ServicePort, consumerNamespace?: string): JsonObject[] {
  const candidates: Candidate[] = [];
  const sorted = [...routes].sort((a, b) => (`${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1));
  for (const route of sorted) {
    route.rules.forEach((rule, ruleIndex) => {
      const matches: (HttpRouteMatch | undefined)[] = rule.matches.length > 0 ? [...rule.matches] : [undefined];
      const redirect = rule.filters.find((f) => f.type === 'RequestRedirect')?.requestRedirect;
      const cors = rule.filters.find((f) => f.type === 'CORS')?.cors;
      const requestModifier = rule.filters.find((f) => f.type === 'RequestHeaderModifier')?.requestHeaderModifier;
      const responseModifier = rule.filters.find((f) => f.type === 'ResponseHeaderModifier')?.responseHeaderModifier;
      matches.forEach((match, matchIndex) => {
        const json: JsonObject = {
          name: `${route.namespace}.${route.name}.${rule.name ?? ruleIndex}.${matchIndex}`,
          match: routeMatch(match, consumerNamespace),
          ...(redirect ? { redirect: redirectAction(redirect, match, servicePort) } : forwardAction(snapshot, route, rule, match)),
          ...headerFields(requestModifier, responseModifier),
          ...(cors ? { typed_per_filter_config: { [CORS_FILTER]: corsPolicy(cors) } } : {}),
        };
        candidates.push({ order: candidates.length, match, json });
      });
    });
  }
  return candidates.sort(compareCandidates).map((c) => c.json);
}

/** Every backend (and mirror backend) the routes bound to this port may send to. */
export function backendsOfPort(snapshot: MeshSnapshot, service: Service, port: ServicePort): ResolvedBackend[] {
  const attached = attachedHttpRoutes(snapshot, service, port);
  const out: ResolvedBackend[] = [];
  for (const route of [...attached.producer, ...[...attached.consumers.values()].flat()]) {
    for (const rule of route.rules) {
      const refs: BackendObjectRef[] = [...rule.backendRefs, ...rule.filters.flatMap((f) => (f.requestMirror ? [f.requestMirror.backendRef] : []))];
      for (const ref of refs) {
        const backend = backendCluster(snapshot, route, ref).backend;
        if (backend) out.push(backend);
      }
    }
  }
  return out;
}

/** The RouteConfiguration (RDS) named after the service port's chain. */
export function routeConfiguration(snapshot: MeshSnapshot, service: Service, port: ServicePort): EnvoyResource {
  const name = inboundVipName(service, port, 'http');
  const attached = attachedHttpRoutes(snapshot, service, port);
  const routes: JsonObject[] = [];
  for (const [namespace, consumerRoutes] of attached.consumers) {
    routes.push(...routesOf(snapshot, consumerRoutes, port, namespace));
    routes.push({ name: `consumer.${namespace}.no-match`, match: { prefix: '/', dynamic_metadata: [sourceNamespaceMatcher(namespace)] }, direct_response: { status: 404 } });
  }
  if (attached.producer.length > 0) routes.push(...routesOf(snapshot, attached.producer, port));
  else routes.push({ name: 'default', match: { prefix: '/' }, route: { cluster: inboundVipName(service, port), timeout: '0s' } });
  return {
    '@type': typeUrl(WAYPOINT_TYPE.routeConfiguration),
    name,
    virtual_hosts: [{ name: `${service.name}.${service.namespace}:${port.port}`, domains: ['*'], routes }],
    validate_clusters: false,
  };
}
