/**
 * What the waypoint does with one HTTP request, decided without I/O (the chain's HCM as Envoy
 * runs it): HTTP RBAC (403 naming the policy), the route (404 NR), the route's CORS policy (a
 * preflight from an allowed origin is answered here), then the route's action: a direct answer,
 * a redirect, or forwarding to one weighted cluster (chosen once per request, as Envoy does;
 * retries pick another endpoint of it) with the header changes, rewrites, mirrors and
 * timeouts to apply. `http-proxy.ts` carries the plan out.
 */
import { evaluateRbac, type RbacDecision } from '@mesh/envoy-config';
import { authorizationLog, httpAuthorizationFacts, type AuthorizationDownstream } from './authorize.js';
import type { ClusterModel, HttpChain } from '../config/model.js';
import { AUTHN_METADATA, matchRoute, splitPath, type CompiledRouteConfig, type CorsPolicy, type HeaderMutation, type RedirectAction, type RetryPolicy } from '../routing/routes.js';
import { mirrors, pickWeighted } from '../routing/policy.js';

/** Headers that describe one hop, not the request (RFC 9110 §7.6.1), plus what the proxy sets itself. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'http2-settings', 'host', 'content-length']);

export type Headers = Record<string, string | string[]>;

export interface PlannedRequest {
  readonly method: string;
  /** Path with query string. */
  readonly path: string;
  readonly authority: string;
  /** Lower-case names, as the server parsed them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** `websocket` for an HTTP/1.1 Upgrade request. */
  readonly upgrade?: string;
}

export type Downstream = AuthorizationDownstream;

export interface PlanInput {
  readonly chain: HttpChain;
  readonly routes: ReadonlyMap<string, CompiledRouteConfig>;
  readonly clusters: ReadonlyMap<string, ClusterModel> | undefined;
  readonly request: PlannedRequest;
  readonly downstream: Downstream;
  /** Uniform [0, 1). */
  readonly random: () => number;
  readonly requestId: () => string;
}

/** Answer the client here. */
export interface RespondPlan {
  readonly kind: 'respond';
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** Envoy response flag (`RBAC`, `NR`, `NC`, `UPE`) or `-`. */
  readonly flags: string;
  readonly log: Readonly<Record<string, unknown>>;
}

/** Send to a cluster. */
export interface ForwardPlan {
  readonly kind: 'forward';
  readonly route: string;
  readonly cluster: ClusterModel;
  readonly method: string;
  /** After any rewrite. */
  readonly path: string;
  /** Everything the upstream gets, `host` included. */
  readonly headers: Readonly<Headers>;
  /** 0: none; covers every attempt and backoff. */
  readonly timeoutMs: number;
  readonly retry?: RetryPolicy;
  /** Clusters that get a copy of this request. */
  readonly mirrors: readonly ClusterModel[];
  /** Applied to the upstream's response headers, in order. */
  readonly responseMutations: readonly HeaderMutation[];
  /** Added to the response (CORS). */
  readonly responseHeaders: Readonly<Record<string, string>>;
  readonly upgrade?: string;
  readonly log: Readonly<Record<string, unknown>>;
}

export type RequestPlan = RespondPlan | ForwardPlan;

export function applyMutation(headers: Headers, m: HeaderMutation): void {
  for (const name of m.remove) delete headers[name];
  for (const { name, value } of m.set) headers[name] = value;
  for (const { name, value } of m.append) {
    const prev = headers[name];
    headers[name] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
  }
}

/** The request's own headers, without the hop-by-hop ones and HTTP/2 pseudo-headers. */
export function forwardableHeaders(incoming: Readonly<Record<string, string | string[] | undefined>>): Headers {
  const out: Headers = {};
  for (const [k, v] of Object.entries(incoming)) {
    if (v === undefined || k.startsWith(':') || HOP_BY_HOP.has(k)) continue;
    out[k] = v;
  }
  return out;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** `spiffe://td/ns/<ns>/sa/<sa>` → `<ns>`. */
function namespaceOf(identity: string): string | undefined {
  return /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/[^/]+$/.exec(identity)?.[1];
}

function respond(status: number, body: string, flags: string, log: Record<string, unknown> = {}, headers: Record<string, string> = {}): RespondPlan {
  return { kind: 'respond', status, headers: body ? { 'content-type': 'text/plain', ...headers } : headers, body, flags, log };
}

/** Location of a redirect: the request's scheme, host and port unless the route changes them; the default port is left out. */
export function redirectLocation(redirect: RedirectAction, request: PlannedRequest): string {
  const scheme = redirect.scheme ?? 'http';
  const authority = request.authority;
  const portMatch = /:(\d+)$/.exec(authority);
  const host = redirect.host ?? (portMatch ? authority.slice(0, -portMatch[0].length) : authority);
  const port = redirect.port ?? (portMatch ? Number(portMatch[1]) : undefined);
  const defaultPort = scheme === 'https' ? 443 : scheme === 'http' ? 80 : undefined;
  const { path, query } = splitPath(request.path);
  const newPath = redirect.path ? redirect.path(path) : path;
  return `${scheme}://${host}${port !== undefined && port !== defaultPort ? `:${port}` : ''}${newPath || '/'}${redirect.stripQuery ? '' : query}`;
}

/**
 * CORS (Envoy's cors filter): for an allowed Origin, a preflight (OPTIONS with
 * Access-Control-Request-Method) is answered here; any other request gets the allow-origin
 * headers on its response. `*` in methods or headers echoes what the preflight asks for, so it
 * also works with credentials (Gateway API). A disallowed origin gets no CORS headers.
 */
function corsDecision(cors: CorsPolicy, request: PlannedRequest): { preflight?: Record<string, string>; response?: Record<string, string> } {
  const origin = first(request.headers['origin']);
  if (!origin || !cors.allowsOrigin(origin)) return {};
  const common: Record<string, string> = { 'access-control-allow-origin': origin, ...(cors.allowCredentials ? { 'access-control-allow-credentials': 'true' } : {}) };
  if (cors.exposeHeaders) common['access-control-expose-headers'] = cors.exposeHeaders;
  const requestedMethod = first(request.headers['access-control-request-method']);
  if (request.method !== 'OPTIONS' || !requestedMethod) return { response: common };
  const requestedHeaders = first(request.headers['access-control-request-headers']);
  const methods = cors.allowMethods === '*' ? requestedMethod : cors.allowMethods;
  const headers = cors.allowHeaders === '*' ? (requestedHeaders ?? '*') : cors.allowHeaders;
  return {
    preflight: {
      ...common,
      ...(methods ? { 'access-control-allow-methods': methods } : {}),
      ...(headers ? { 'access-control-allow-headers': headers } : {}),
      ...(cors.maxAge ? { 'access-control-max-age': cors.maxAge } : {}),
    },
  };
}

/** The plan, with the authorization decision it started from (its dry-run results are counted by the caller). */
export function planRequest(input: PlanInput): RequestPlan & { readonly authorization: RbacDecision } {
  // L7 authorization (HTTP RBAC), before anything else: policy is decided before anything is forwarded.
  const decision = evaluateRbac(input.chain.rbac, httpAuthorizationFacts(input.downstream, input.request));
  return { ...planAuthorized(input, decision), authorization: decision };
}

function planAuthorized(input: PlanInput, decision: RbacDecision): RequestPlan {
  const { chain, request, downstream } = input;
  const authz = authorizationLog(decision);
  if (!decision.allowed) return respond(403, 'RBAC: access denied\n', 'RBAC', { ...authz, rbac_policy: decision.policy ?? null, error: decision.reason });
  const log: Record<string, unknown> = { ...authz, ...(decision.policy ? { rbac_policy: decision.policy } : {}) };

  const routeConfig = input.routes.get(chain.routeConfigName);
  const sourceNamespace = namespaceOf(downstream.peerIdentity);
  const metadata = { [AUTHN_METADATA.filter]: { 'source.principal': downstream.peerIdentity, ...(sourceNamespace ? { 'source.namespace': sourceNamespace } : {}) } };
  const route = routeConfig && matchRoute(routeConfig, { method: request.method, path: request.path, authority: request.authority, headers: request.headers, metadata });
  if (!route) return respond(404, 'no route\n', 'NR', log);
  log['route'] = route.name;

  const cors = chain.cors && route.cors ? corsDecision(route.cors, request) : {};
  if (cors.preflight) return respond(200, '', '-', { ...log, cors: 'preflight' }, cors.preflight);

  const action = route.action;
  if (action.kind === 'direct') return respond(action.status, '', '-', log);
  if (action.kind === 'redirect') return respond(action.redirect.status, '', '-', log, { location: redirectLocation(action.redirect, request) });

  if (request.upgrade && !chain.upgrades.has(request.upgrade)) return respond(403, `upgrade to ${request.upgrade} is not allowed\n`, 'UPE', log);
  const picked = pickWeighted(action.clusters, input.random());
  const cluster = picked && input.clusters?.get(picked.name);
  if (!picked || !cluster) return respond(action.clusterNotFoundStatus, '', 'NC', { ...log, cluster: picked?.name ?? null });

  const headers = forwardableHeaders(request.headers);
  applyMutation(headers, picked.requestHeaders);
  applyMutation(headers, route.requestHeaders);
  headers['x-request-id'] ??= input.requestId();
  headers['x-forwarded-proto'] ??= 'http';
  headers['host'] = picked.hostRewrite ?? action.hostRewrite ?? request.authority;
  if (request.upgrade) {
    headers['connection'] = 'upgrade';
    headers['upgrade'] = request.upgrade;
  }
  const mirrorClusters = action.mirrors.flatMap((m) => {
    const target = mirrors(m, input.random()) ? input.clusters?.get(m.cluster) : undefined;
    return target ? [target] : [];
  });
  return {
    kind: 'forward',
    route: route.name,
    cluster,
    method: request.method,
    path: action.rewritePath ? action.rewritePath(request.path) : request.path,
    headers,
    timeoutMs: action.timeoutMs,
    ...(action.retry ? { retry: action.retry } : {}),
    mirrors: mirrorClusters,
    responseMutations: [picked.responseHeaders, route.responseHeaders],
    responseHeaders: cors.response ?? {},
    ...(request.upgrade ? { upgrade: request.upgrade } : {}),
    log: { ...log, cluster: cluster.name },
  };
}
