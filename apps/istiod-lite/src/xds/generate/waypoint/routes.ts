/**
 * HTTPRoute → Envoy RouteConfiguration for one service port of a waypoint (RDS). One virtual
 * host (`*`) per service port; its routes are the HTTPRoute rules' matches, ordered by the
 * Gateway API precedence because Envoy takes the first route that matches:
 *   exact path > regular expression > longest prefix > method > most headers > most query
 *   parameters > declaration order (routes by name, then rule, then match).
 * A service without an HTTPRoute routes to itself (seed 003: "默认情况下，Service 会简单地将请求路由到本身").
 *
 * Actions: one backend → `cluster`; several → `weighted_clusters` (weight 0 dropped); none left
 * → `direct_response` 500 (Gateway API). Request timeout → `timeout` (`0s` when unset, as Istio:
 * no timeout); retry → `retry_policy` (`retriable-status-codes` with the codes, or `5xx`).
 * RequestHeaderModifier → `request_headers_to_add`/`_remove`; ResponseHeaderModifier → the
 * response equivalents; URLRewrite → `prefix_rewrite` / `regex_rewrite` (full path) /
 * `host_rewrite_literal`.
 */
import type { BackendRef, HeaderModifier, HttpRoute, HttpRouteMatch, HttpRouteRule, MeshSnapshot, Service, ServicePort } from '@mesh/mesh-model';
import { MeshError } from '@mesh/errors';
import { typeUrl, type EnvoyResource, type JsonObject } from '../envoy.js';
import { WAYPOINT_TYPE, inboundVipName } from './names.js';

/** Gateway API duration (`1h`, `10s`, `500ms`, `1m30s`) → proto3-JSON Duration (`"90s"`). */
export function gatewayDurationToProto(duration: string): string {
  const re = /(\d+)(h|ms|m|s)/g;
  let totalMs = 0;
  let consumed = 0;
  for (const m of duration.matchAll(re)) {
    if (m.index !== consumed) break;
    consumed += m[0].length;
    const n = Number(m[1]);
    totalMs += m[2] === 'h' ? n * 3_600_000 : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n;
  }
  if (consumed === 0 || consumed !== duration.length) {
    throw new MeshError('XDSGEN_ERR_BAD_DURATION', `"${duration}" is not a Gateway API duration`, { hint: 'write it like 10s, 500ms or 1m30s' });
  }
  const seconds = totalMs / 1000;
  // proto3 JSON's canonical Duration: whole seconds, or exactly 3 fractional digits for ms.
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(3)}s`;
}

/** A backend resolved to the cluster of a service port in the mesh. */
export type BackendResolver = (ref: BackendRef, route: HttpRoute) => string | undefined;

/** Resolves `backendRefs` to `inbound-vip|...` clusters; unknown Services resolve to nothing. */
export function serviceBackendResolver(snapshot: MeshSnapshot, defaultPort: ServicePort): BackendResolver {
  return (ref, route) => {
    if ((ref.group !== '' && ref.group !== 'core') || ref.kind !== 'Service') return undefined;
    const service = snapshot.services.get(`${ref.namespace ?? route.namespace}/${ref.name}`);
    if (!service) return undefined;
    const port = service.ports.find((p) => p.port === (ref.port ?? defaultPort.port));
    return port ? inboundVipName(service, port) : undefined;
  };
}

function stringMatch(type: 'Exact' | 'RegularExpression', value: string): JsonObject {
  return type === 'Exact' ? { exact: value } : { safe_regex: { regex: value } };
}

function routeMatch(match: HttpRouteMatch | undefined): JsonObject {
  const path = match?.path ?? { type: 'PathPrefix' as const, value: '/' };
  const pathPart: JsonObject =
    path.type === 'Exact'
      ? { path: path.value }
      : path.type === 'RegularExpression'
        ? { safe_regex: { regex: path.value } }
        : // Gateway API prefixes match whole path segments: `/foo` matches `/foo` and `/foo/x`, not `/foobar`.
          path.value === '/' || path.value === ''
          ? { prefix: '/' }
          : { path_separated_prefix: path.value.replace(/\/+$/, '') };
  const headers: JsonObject[] = (match?.headers ?? []).map((h) => ({ name: h.name.toLowerCase(), string_match: stringMatch(h.type, h.value) }));
  if (match?.method) headers.push({ name: ':method', string_match: { exact: match.method } });
  const query = (match?.queryParams ?? []).map((q) => ({ name: q.name, string_match: stringMatch(q.type, q.value) }));
  return { ...pathPart, ...(headers.length > 0 ? { headers } : {}), ...(query.length > 0 ? { query_parameters: query } : {}) };
}

function headerOptions(modifier: HeaderModifier | undefined): JsonObject[] {
  if (!modifier) return [];
  return [
    ...modifier.set.map((h) => ({ header: { key: h.name.toLowerCase(), value: h.value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' })),
    ...modifier.add.map((h) => ({ header: { key: h.name.toLowerCase(), value: h.value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' })),
  ];
}

function rewriteFields(rule: HttpRouteRule, match: HttpRouteMatch | undefined): JsonObject {
  const rewrite = rule.filters.find((f) => f.type === 'URLRewrite')?.urlRewrite;
  if (!rewrite) return {};
  const out: Record<string, JsonObject | string> = {};
  if (rewrite.hostname) out.host_rewrite_literal = rewrite.hostname;
  const path = rewrite.path;
  if (path?.type === 'ReplaceFullPath' && path.replaceFullPath !== undefined) {
    out.regex_rewrite = { pattern: { regex: '^/.*$' }, substitution: path.replaceFullPath };
  } else if (path?.type === 'ReplacePrefixMatch' && path.replacePrefixMatch !== undefined) {
    // Only meaningful under a PathPrefix match (Gateway API); the whole prefix is replaced.
    const prefix = match?.path?.type === 'PathPrefix' ? match.path.value.replace(/\/+$/, '') : '';
    out.regex_rewrite = { pattern: { regex: `^${escapeRegex(prefix)}(/.*)?$` }, substitution: `${path.replacePrefixMatch.replace(/\/+$/, '')}\\1` };
  }
  return out;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function retryPolicy(rule: HttpRouteRule): JsonObject | undefined {
  const retry = rule.retry;
  if (!retry) return undefined;
  const codes = retry.codes;
  return {
    retry_on: codes.length > 0 ? 'retriable-status-codes' : '5xx',
    num_retries: retry.attempts ?? 1,
    ...(codes.length > 0 ? { retriable_status_codes: [...codes] } : {}),
    ...(retry.backoff ? { retry_back_off: { base_interval: gatewayDurationToProto(retry.backoff) } } : {}),
  };
}

function routeAction(rule: HttpRouteRule, route: HttpRoute, resolve: BackendResolver, match: HttpRouteMatch | undefined): JsonObject {
  const weighted: { name: string; weight: number }[] = [];
  for (const ref of rule.backendRefs) {
    const cluster = resolve(ref, route);
    if (cluster !== undefined && ref.weight > 0) weighted.push({ name: cluster, weight: ref.weight });
  }
  if (weighted.length === 0) return { direct_response: { status: 500 } };
  const target: JsonObject = weighted.length === 1 ? { cluster: (weighted[0] as { name: string }).name } : { weighted_clusters: { clusters: weighted } };
  const retry = retryPolicy(rule);
  return {
    route: {
      ...target,
      timeout: rule.timeouts?.request ? gatewayDurationToProto(rule.timeouts.request) : '0s',
      ...(retry ? { retry_policy: retry } : {}),
      ...rewriteFields(rule, match),
    },
  };
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

/** The routes of one HTTPRoute rule set, ordered for first-match evaluation. */
export function routesOf(routes: readonly HttpRoute[], resolve: BackendResolver): JsonObject[] {
  const candidates: Candidate[] = [];
  const sorted = [...routes].sort((a, b) => (a.namespace + a.name < b.namespace + b.name ? -1 : 1));
  for (const route of sorted) {
    route.rules.forEach((rule, ruleIndex) => {
      const matches: (HttpRouteMatch | undefined)[] = rule.matches.length > 0 ? [...rule.matches] : [undefined];
      matches.forEach((match, matchIndex) => {
        const requestModifier = rule.filters.find((f) => f.type === 'RequestHeaderModifier')?.requestHeaderModifier;
        const responseModifier = rule.filters.find((f) => f.type === 'ResponseHeaderModifier')?.responseHeaderModifier;
        const json: JsonObject = {
          name: `${route.namespace}.${route.name}.${ruleIndex}.${matchIndex}`,
          match: routeMatch(match),
          ...routeAction(rule, route, resolve, match),
          ...(requestModifier && headerOptions(requestModifier).length > 0 ? { request_headers_to_add: headerOptions(requestModifier) } : {}),
          ...(requestModifier && requestModifier.remove.length > 0 ? { request_headers_to_remove: requestModifier.remove.map((h) => h.toLowerCase()) } : {}),
          ...(responseModifier && headerOptions(responseModifier).length > 0 ? { response_headers_to_add: headerOptions(responseModifier) } : {}),
          ...(responseModifier && responseModifier.remove.length > 0 ? { response_headers_to_remove: responseModifier.remove.map((h) => h.toLowerCase()) } : {}),
        };
        candidates.push({ order: candidates.length, match, json });
      });
    });
  }
  return candidates.sort(compareCandidates).map((c) => c.json);
}

/** HTTPRoutes of a service that apply to `port` (a parentRef without a port applies to all). */
export function routesForPort(snapshot: MeshSnapshot, service: Service, port: ServicePort): HttpRoute[] {
  return snapshot
    .routesFor(service)
    .filter((route) =>
      route.parentRefs.some(
        (ref) => ref.kind === 'Service' && ref.name === service.name && (ref.namespace ?? route.namespace) === service.namespace && (ref.port === undefined || ref.port === port.port),
      ),
    );
}

/** The RouteConfiguration (RDS) named after the service port's chain. */
export function routeConfiguration(snapshot: MeshSnapshot, service: Service, port: ServicePort): EnvoyResource {
  const name = inboundVipName(service, port, 'http');
  const own = inboundVipName(service, port);
  const attached = routesForPort(snapshot, service, port);
  const routes =
    attached.length > 0
      ? routesOf(attached, serviceBackendResolver(snapshot, port))
      : [{ name: 'default', match: { prefix: '/' }, route: { cluster: own, timeout: '0s' } }];
  return {
    '@type': typeUrl(WAYPOINT_TYPE.routeConfiguration),
    name,
    virtual_hosts: [{ name: `${service.name}.${service.namespace}:${port.port}`, domains: ['*'], routes }],
    validate_clusters: false,
  };
}
