/**
 * One HTTP request through the waypoint (the chain's HCM): RBAC (DENY then ALLOW; 403 naming the
 * policy), route lookup (404 NR), direct responses, weighted cluster choice, round-robin endpoint,
 * header mutation and rewrites, then attempts against the upstream with the route's retry policy
 * under the route timeout (504 UT). Works for HTTP/1.1 and HTTP/2 (compat API) downstreams; the
 * upstream speaks HTTP/1.1 inside the tunnel. Writes one access-log line and the request metrics.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Chain, Endpoint } from '../config/model.js';
import type { WaypointModel } from '../config/store.js';
import type { Logger } from '../log.js';
import type { RequestMetrics } from '../metrics/metrics.js';
import { evaluateRbac } from '@mesh/envoy-config';
import { backoffDelayMs, pickWeighted, remainingMs, shouldRetry, type AttemptOutcome } from '../routing/policy.js';
import { matchRoute, type HeaderMutation } from '../routing/routes.js';
import { UpstreamConnectError, sendUpstream, tunnelDestination, type UpstreamContext } from './upstream.js';

/** What the waypoint knows about the connection a request arrived on. */
export interface DownstreamContext {
  readonly peerIdentity: string;
  readonly sourceAddress: string;
  readonly sourceWorkload: string;
  readonly destinationIp: string;
  readonly destinationPort: number;
  /** `echo.echo.svc.cluster.local`. */
  readonly service: string;
  readonly chain: Extract<Chain, { kind: 'http' }>;
  readonly protocol: 'HTTP/1.1' | 'HTTP/2';
  readonly baggage: Record<string, string>;
}

export interface ProxyDeps {
  readonly model: WaypointModel;
  readonly upstream: () => UpstreamContext | undefined;
  readonly logger: Logger;
  readonly metrics: RequestMetrics;
  readonly random: () => number;
  readonly pickEndpoint: (cluster: string, endpoints: readonly Endpoint[]) => Endpoint | undefined;
}

/** Request body larger than this is refused (it is buffered so retries can resend it). */
export const MAX_BUFFERED_BODY_BYTES = 16 * 1024 * 1024;

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'http2-settings', 'host', 'content-length']);

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function applyMutation(headers: Record<string, string | string[]>, m: HeaderMutation): void {
  for (const name of m.remove) delete headers[name];
  for (const { name, value } of m.set) headers[name] = value;
  for (const { name, value } of m.append) {
    const prev = headers[name];
    headers[name] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
  }
}

function forwardableHeaders(incoming: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(incoming)) {
    if (v === undefined || k.startsWith(':') || HOP_BY_HOP.has(k)) continue;
    out[k] = v;
  }
  return out;
}

async function readBody(req: Req): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BUFFERED_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export async function handleRequest(deps: ProxyDeps, ctx: DownstreamContext, req: Req, res: Res): Promise<void> {
  const startedAt = performance.now();
  const method = req.method ?? 'GET';
  const path = req.url ?? '/';
  const authority = firstHeader(req.headers[':authority'] as string | undefined) ?? req.headers.host ?? `${ctx.destinationIp}:${ctx.destinationPort}`;
  const headers = req.headers as Record<string, string | string[] | undefined>;
  const log: Record<string, unknown> = {
    'src.addr': ctx.sourceAddress,
    'src.identity': ctx.peerIdentity,
    'src.workload': ctx.sourceWorkload,
    'dst.service': ctx.service,
    // The CONNECT :authority the source ztunnel sent (seed 003: the Service, not an endpoint).
    'dst.vip': `${ctx.destinationIp}:${ctx.destinationPort}`,
    direction: 'inbound',
    protocol: ctx.protocol,
    method,
    path,
    authority,
    chain: ctx.chain.name,
  };
  let flags = '-';
  let destinationWorkload = 'unknown';
  let bytesSent = 0;

  const finish = (status: number, extra: Record<string, unknown> = {}) => {
    const duration = performance.now() - startedAt;
    deps.metrics.record(
      {
        reporter: 'waypoint',
        source_workload: ctx.sourceWorkload,
        source_principal: ctx.peerIdentity,
        destination_workload: destinationWorkload,
        destination_service: ctx.service,
        response_code: String(status),
        response_flags: flags,
      },
      duration,
    );
    deps.logger.log('access', 'info', 'request', { ...log, ...extra, response_code: status, response_flags: flags, bytes_sent: bytesSent, duration: Number(duration.toFixed(3)) });
  };
  const local = (status: number, body: string, extra: Record<string, unknown> = {}) => {
    if (!res.headersSent) {
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      bytesSent = Buffer.byteLength(body);
    } else res.destroy();
    finish(status, extra);
  };

  // The chain as it is now, not as it was when the connection came: a policy change applies to
  // the next request on a kept-alive connection (architecture: policy changes re-check live
  // connections).
  const current = deps.model.listeners?.chains.get(ctx.chain.name);
  const chain = current?.kind === 'http' ? current : ctx.chain;
  // L7 authorization (HTTP RBAC), before anything else (seed 003: policy before forwarding).
  const decision = evaluateRbac(chain.rbac, {
    peerIdentity: ctx.peerIdentity,
    sourceIp: ctx.sourceAddress,
    destinationPort: ctx.destinationPort,
    method,
    path,
    authority,
    headers,
  });
  if (!decision.allowed) {
    flags = 'RBAC';
    req.resume();
    return local(403, 'RBAC: access denied\n', { rbac_policy: decision.policy ?? null, error: decision.reason });
  }
  if (decision.policy) log['rbac_policy'] = decision.policy;

  const routeConfig = deps.model.routes.get(chain.routeConfigName);
  const route = routeConfig && matchRoute(routeConfig, { method, path, authority, headers });
  if (!route) {
    flags = 'NR';
    req.resume();
    return local(404, 'no route\n');
  }
  log['route'] = route.name;
  if (route.action.kind === 'direct') {
    req.resume();
    return local(route.action.status, '');
  }
  const action = route.action;

  const body = await readBody(req);
  if (!body) return local(413, 'request body too large to buffer\n');

  const upstreamHeaders = forwardableHeaders(req.headers);
  applyMutation(upstreamHeaders, route.requestHeaders);
  upstreamHeaders['x-request-id'] ??= randomUUID();
  upstreamHeaders['x-forwarded-proto'] ??= 'http';
  const outHeaders: OutgoingHttpHeaders = { ...upstreamHeaders, host: action.hostRewrite ?? authority };
  const upstreamPath = action.rewritePath ? action.rewritePath(path) : path;

  const upstream = deps.upstream();
  if (!upstream) {
    flags = 'UH';
    return local(503, 'no healthy upstream\n');
  }

  const timeout = new AbortController();
  const timeLeft = remainingMs(action.timeoutMs, startedAt, performance.now());
  const timer = Number.isFinite(timeLeft) ? setTimeout(() => timeout.abort(), timeLeft) : undefined;
  let attempt = 0;
  try {
    for (;;) {
      attempt++;
      const cluster = pickWeighted(action.clusters, deps.random());
      const endpoint = cluster === undefined ? undefined : deps.pickEndpoint(cluster, deps.model.endpoints.get(cluster) ?? []);
      log['cluster'] = cluster;
      if (!endpoint) {
        flags = 'UH';
        return local(503, 'no healthy upstream\n', { attempts: attempt });
      }
      log['dst.addr'] = endpoint.destination;
      log['dst.hbone_addr'] = tunnelDestination(endpoint, upstream.originate) ?? null;
      log['dst.identity'] = endpoint.identity ?? null;
      destinationWorkload = endpoint.workload ?? 'unknown';
      let outcome: AttemptOutcome;
      let response: IncomingMessage | undefined;
      try {
        response = await sendUpstream(upstream, endpoint, { sourceAddress: ctx.sourceAddress, host: ctx.service, baggage: ctx.baggage }, {
          method,
          path: upstreamPath,
          headers: { ...outHeaders, 'x-envoy-attempt-count': String(attempt) },
          body,
          signal: timeout.signal,
        });
        outcome = { status: response.statusCode ?? 502 };
      } catch (err) {
        if (timeout.signal.aborted) {
          flags = 'UT';
          return local(504, 'upstream request timeout\n', { attempts: attempt });
        }
        outcome = { failure: err instanceof UpstreamConnectError ? 'connect' : 'reset' };
        if (!shouldRetry(action.retry, outcome, attempt)) {
          flags = err instanceof UpstreamConnectError ? 'UF' : 'UC';
          return local(503, 'upstream connect error or disconnect/reset before headers\n', { attempts: attempt, error: (err as Error).message });
        }
      }
      if (response && !shouldRetry(action.retry, outcome, attempt)) {
        if (timer) clearTimeout(timer);
        const status = response.statusCode ?? 502;
        const responseHeaders = forwardableHeaders(response.headers);
        applyMutation(responseHeaders, route.responseHeaders);
        const length = response.headers['content-length'];
        if (length !== undefined) responseHeaders['content-length'] = length;
        res.writeHead(status, responseHeaders);
        response.on('data', (chunk: Buffer) => (bytesSent += chunk.length));
        await new Promise<void>((resolve) => {
          response.pipe(res as NodeJS.WritableStream);
          response.once('end', resolve);
          response.once('error', () => {
            res.destroy();
            resolve();
          });
          res.once('close', resolve);
        });
        return finish(status, { attempts: attempt, bytes_recv: body.length });
      }
      response?.resume();
      response?.destroy();
      const retry = action.retry;
      if (retry) await sleep(backoffDelayMs(retry, attempt, deps.random()), undefined, { signal: timeout.signal }).catch(() => undefined);
      if (timeout.signal.aborted) {
        flags = 'UT';
        return local(504, 'upstream request timeout\n', { attempts: attempt });
      }
    }
  } finally {
    if (timer) clearTimeout(timer);
  }
}
