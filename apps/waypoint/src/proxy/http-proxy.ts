/**
 * One HTTP request through the waypoint (the chain's HCM): `planRequest` (plan.ts) decides what
 * happens; this file does it. A local answer is written at once; a forward reads the body
 * (buffered, so retries and mirrors can resend it), copies it to the mirrors, then makes
 * attempts against endpoints of the chosen cluster under the retry policy, each attempt under
 * its per-try timeout and all of them under the route timeout (504 UT). Works for HTTP/1.1 and
 * HTTP/2 (compat API) downstreams; upstream speaks the cluster's protocol inside the tunnel.
 * An HTTP/1.1 Upgrade (WebSocket) is relayed as bytes once the upstream has the request.
 * Writes one access-log line and the request metrics per request.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Duplex, Readable } from 'node:stream';
import type { RbacShadowStats } from '@mesh/envoy-config';
import { relay } from '@mesh/hbone-core';
import type { ClusterModel, Endpoint, HttpChain } from '../config/model.js';
import type { WaypointModel } from '../config/store.js';
import type { ProxyLogger as Logger } from '@mesh/log';
import type { RequestMetrics } from '../metrics/metrics.js';
import { backoffDelayMs, remainingMs, shouldRetry, type AttemptOutcome } from '../routing/policy.js';
import { recordAuthorization } from './authorize.js';
import { applyMutation, forwardableHeaders, planRequest, type ForwardPlan, type PlannedRequest, type RequestPlan } from './plan.js';
import { ExchangeCancel, UpstreamFailure, openUpstream, sendUpstream, tunnelDestination, type UpstreamContext, type UpstreamResponse } from './upstream.js';

/** What the waypoint knows about the connection a request arrived on. */
export interface DownstreamContext {
  readonly peerIdentity: string;
  readonly sourceAddress: string;
  readonly sourceWorkload: string;
  readonly destinationIp: string;
  readonly destinationPort: number;
  /** `echo.echo.svc.cluster.local`. */
  readonly service: string;
  readonly chain: HttpChain;
  readonly protocol: 'HTTP/1.1' | 'HTTP/2';
  readonly baggage: Record<string, string>;
}

export interface ProxyDeps {
  readonly model: WaypointModel;
  readonly upstream: () => UpstreamContext | undefined;
  readonly logger: Logger;
  readonly metrics: RequestMetrics;
  /** Dry-run (shadow rules) results, as Istio's Prometheus names them. */
  readonly rbacStats: RbacShadowStats;
  readonly random: () => number;
  readonly pickEndpoint: (cluster: string, endpoints: readonly Endpoint[]) => Endpoint | undefined;
}

/** Request body larger than this is refused (it is buffered so retries can resend it). */
export const MAX_BUFFERED_BODY_BYTES = 16 * 1024 * 1024;

/** Envoy appends this to the Host of a mirrored request, so a backend can tell copies apart. */
export const MIRROR_HOST_SUFFIX = '-shadow';

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

/**
 * `res.writeHead(status, headers)` for either response: both take it, but since @types/node 24
 * the two overload sets no longer unify into a signature the union can be called with.
 */
export function writeHead(res: Res, status: number, headers?: OutgoingHttpHeaders): void {
  (res as ServerResponse).writeHead(status, headers);
}

/** The body of a request that has none; never written to. */
const NO_BODY = Buffer.alloc(0);

/**
 * True when the request carries no body, known from its head: HTTP/1.1 without Transfer-Encoding
 * and without a Content-Length above 0 (RFC 9112 §6.3), HTTP/2 whose HEADERS ended the stream.
 */
function hasNoBody(req: Req): boolean {
  if ('stream' in req) return req.stream.endAfterHeaders;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0');
}

/** The whole body (undefined when over MAX_BUFFERED_BODY_BYTES); no buffering work for a request without one. */
function readBody(req: Req): Promise<Buffer | undefined> {
  if (hasNoBody(req)) {
    req.resume();
    return Promise.resolve(NO_BODY);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BUFFERED_BODY_BYTES) {
        req.off('data', onData);
        req.destroy();
        resolve(undefined);
      } else chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
    // A downstream gone before the end: nothing to forward (the response cannot reach it).
    req.once('close', () => (req.readableEnded ? undefined : reject(new Error('downstream closed before the request body ended'))));
  });
}

function plannedRequest(ctx: DownstreamContext, req: Req): PlannedRequest {
  const authority = (req.headers[':authority'] as string | undefined) ?? req.headers.host ?? `${ctx.destinationIp}:${ctx.destinationPort}`;
  const upgrade = req.headers['upgrade'];
  return {
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    authority,
    headers: req.headers as Record<string, string | string[] | undefined>,
    ...(typeof upgrade === 'string' && ctx.protocol === 'HTTP/1.1' ? { upgrade: upgrade.toLowerCase() } : {}),
  };
}

/** The chain as it is now, not as it was when the connection came: a policy change applies to the next request on a kept-alive connection. */
function currentChain(deps: ProxyDeps, ctx: DownstreamContext): HttpChain {
  const current = deps.model.listeners?.chains.get(ctx.chain.name);
  return current?.kind === 'http' ? current : ctx.chain;
}

function plan(deps: ProxyDeps, ctx: DownstreamContext, request: PlannedRequest): RequestPlan {
  const chain = currentChain(deps, ctx);
  const planned = planRequest({
    chain,
    routes: deps.model.routes,
    clusters: deps.model.clusters?.clusters,
    request,
    // The connection's context is the downstream the plan needs (no copy per request).
    downstream: ctx,
    random: deps.random,
    requestId: randomUUID,
  });
  recordAuthorization(deps, `http.${chain.statPrefix}`, planned.authorization);
  return planned;
}

/** Access log and metrics of one request. */
class RequestRecord {
  readonly startedAt = performance.now();
  readonly log: Record<string, unknown>;
  flags = '-';
  destinationWorkload = 'unknown';
  bytesSent = 0;

  constructor(
    private readonly deps: ProxyDeps,
    private readonly ctx: DownstreamContext,
    request: PlannedRequest,
    protocol: string,
  ) {
    this.log = {
      'src.addr': ctx.sourceAddress,
      'src.identity': ctx.peerIdentity,
      'src.workload': ctx.sourceWorkload,
      'dst.service': ctx.service,
      // The CONNECT :authority the source ztunnel sent (the Service VIP:port, not an endpoint: docs/model.md, routing rule 5).
      'dst.vip': `${ctx.destinationIp}:${ctx.destinationPort}`,
      direction: 'inbound',
      protocol,
      method: request.method,
      path: request.path,
      authority: request.authority,
      chain: ctx.chain.name,
    };
  }

  endpoint(endpoint: Endpoint, upstream: UpstreamContext): void {
    this.log['dst.addr'] = endpoint.destination;
    this.log['dst.hbone_addr'] = tunnelDestination(endpoint, upstream.originate) ?? null;
    this.log['dst.identity'] = endpoint.identity ?? null;
    this.destinationWorkload = endpoint.workload ?? 'unknown';
  }

  finish(status: number, extra?: Record<string, unknown>): void {
    const duration = performance.now() - this.startedAt;
    this.deps.metrics.record(
      {
        reporter: 'waypoint',
        source_workload: this.ctx.sourceWorkload,
        source_principal: this.ctx.peerIdentity,
        destination_workload: this.destinationWorkload,
        destination_service: this.ctx.service,
        response_code: String(status),
        response_flags: this.flags,
      },
      duration,
    );
    if (!this.deps.logger.enabled('access', 'info')) return;
    // The record is this request's own: its fields are completed in place, not copied (same
    // keys in the same order as a spread would give).
    const log = this.log;
    if (extra) Object.assign(log, extra);
    log['response_code'] = status;
    log['response_flags'] = this.flags;
    log['bytes_sent'] = this.bytesSent;
    log['duration'] = Number(duration.toFixed(3));
    this.deps.logger.log('access', 'info', 'request', log);
  }
}

export async function handleRequest(deps: ProxyDeps, ctx: DownstreamContext, req: Req, res: Res): Promise<void> {
  const request = plannedRequest(ctx, req);
  const record = new RequestRecord(deps, ctx, request, ctx.protocol);
  const local = (status: number, body: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}) => {
    if (!res.headersSent) {
      writeHead(res, status, { ...headers, 'content-length': Buffer.byteLength(body) });
      res.end(body);
      record.bytesSent = Buffer.byteLength(body);
    } else res.destroy();
    record.finish(status, extra);
  };

  const planned = plan(deps, ctx, request);
  Object.assign(record.log, planned.log);
  if (planned.kind === 'respond') {
    record.flags = planned.flags;
    req.resume();
    return local(planned.status, planned.body, { ...planned.headers });
  }

  const body = await readBody(req);
  if (!body) return local(413, 'request body too large to buffer\n', { 'content-type': 'text/plain' });
  const upstream = deps.upstream();
  if (!upstream) {
    record.flags = 'UH';
    return local(503, 'no healthy upstream\n', { 'content-type': 'text/plain' });
  }
  for (const mirror of planned.mirrors) sendMirror(deps, ctx, upstream, planned, mirror, body);

  const outcome = await attempts(deps, ctx, upstream, planned, body, record);
  if ('local' in outcome) {
    record.flags = outcome.local.flags;
    return local(outcome.local.status, outcome.local.body, { 'content-type': 'text/plain' }, outcome.extra);
  }
  const response = outcome.response;
  const headers = forwardableHeaders(response.headers);
  for (const m of planned.responseMutations) applyMutation(headers, m);
  Object.assign(headers, planned.responseHeaders);
  const length = response.headers['content-length'];
  if (length !== undefined) headers['content-length'] = length;
  writeHead(res, response.status, headers);
  await forwardBody(response.body, res, length === undefined ? -1 : Number(length), record);
  outcome.extra['bytes_recv'] = body.length;
  record.finish(response.status, outcome.extra);
}

/**
 * The upstream's body to the client, with backpressure. The chunk that completes the length the
 * head announced goes out with `res.end(chunk)`: node:http then writes head, body and end as one
 * batch (a `write` and an `end` add an empty chunk to it), and no pipe's listeners are set up and
 * taken down per request (docs/performance.md, "The waypoint: where the time goes").
 */
function forwardBody(body: Readable, res: Res, expectedLength: number, record: RequestRecord): Promise<void> {
  return new Promise<void>((resolve) => {
    const out = res as ServerResponse;
    let closed = false;
    body.on('data', (chunk: Buffer) => {
      // The client is gone: nothing more is written (as pipe stops on the destination's close).
      if (closed) return;
      record.bytesSent += chunk.length;
      if (record.bytesSent === expectedLength) out.end(chunk);
      else if (!out.write(chunk)) {
        body.pause();
        out.once('drain', () => body.resume());
      }
    });
    body.once('end', () => {
      if (!out.writableEnded) out.end();
      resolve();
    });
    body.once('error', () => {
      res.destroy();
      resolve();
    });
    res.once('close', () => {
      closed = true;
      if (!body.readableEnded) body.pause();
      resolve();
    });
  });
}

type AttemptsResult =
  | { readonly response: UpstreamResponse; readonly extra: Record<string, unknown> }
  | { readonly local: { status: number; body: string; flags: string }; readonly extra: Record<string, unknown> };

/** Attempts under the retry policy; each under its per-try timeout, all under the route timeout. */
async function attempts(deps: ProxyDeps, ctx: DownstreamContext, upstream: UpstreamContext, planned: ForwardPlan, body: Buffer, record: RequestRecord): Promise<AttemptsResult> {
  // No route timeout (0, as istiod-lite sets for waypoint routes by default) and no per-try
  // timeout: no timer and no cancel per request. With one: one timer, and an ExchangeCancel per
  // attempt or backoff that the timer ends (AbortSignals showed in the profile:
  // docs/performance.md, "The waypoint: where the time goes").
  const timeLeft = remainingMs(planned.timeoutMs, record.startedAt, performance.now());
  let routeExpired = false;
  /** What the route timeout ends now: the attempt or the backoff in progress. */
  let current: ExchangeCancel | undefined;
  const timer = Number.isFinite(timeLeft)
    ? setTimeout(() => {
        routeExpired = true;
        current?.cancel(new Error('route timeout'));
      }, timeLeft)
    : undefined;
  const timedOut = (attempt: number) => ({ local: { status: 504, body: 'upstream request timeout\n', flags: 'UT' }, extra: { attempts: attempt } });
  const perTryMs = planned.retry?.perTryTimeoutMs;
  const cancellable = timer !== undefined || perTryMs !== undefined;
  const source = { host: ctx.service, baggage: ctx.baggage };
  try {
    for (let attempt = 1; ; attempt++) {
      const endpoint = deps.pickEndpoint(planned.cluster.name, deps.model.endpoints.get(planned.cluster.name) ?? []);
      if (!endpoint) return { local: { status: 503, body: 'no healthy upstream\n', flags: 'UH' }, extra: { attempts: attempt } };
      record.endpoint(endpoint, upstream);
      const cancel = cancellable ? (current = new ExchangeCancel()) : undefined;
      let tryExpired = false;
      const perTryTimer = perTryMs
        ? setTimeout(() => {
            tryExpired = true;
            cancel?.cancel(new Error('per-try timeout'));
          }, perTryMs)
        : undefined;
      let outcome: AttemptOutcome;
      let response: UpstreamResponse | undefined;
      let error: string | undefined;
      try {
        response = await sendUpstream(upstream, endpoint, source, planned.cluster.protocol, {
          method: planned.method,
          path: planned.path,
          headers: { ...planned.headers, 'x-envoy-attempt-count': String(attempt) },
          body,
          ...(cancel ? { cancel } : {}),
        });
        outcome = { status: response.status };
      } catch (err) {
        if (routeExpired) return timedOut(attempt);
        outcome = { failure: tryExpired ? 'timeout' : err instanceof UpstreamFailure ? err.failure : 'reset' };
        error = (err as Error).message;
      } finally {
        if (perTryTimer) clearTimeout(perTryTimer);
      }
      if (!shouldRetry(planned.retry, outcome, attempt)) {
        if (response) return { response, extra: { attempts: attempt } };
        if ('failure' in outcome && outcome.failure === 'timeout') return timedOut(attempt);
        const flags = 'failure' in outcome && outcome.failure === 'connect' ? 'UF' : 'UC';
        return { local: { status: 503, body: 'upstream connect error or disconnect/reset before headers\n', flags }, extra: { attempts: attempt, error } };
      }
      response?.body.resume();
      response?.body.destroy();
      const retry = planned.retry;
      if (retry) await backoff(backoffDelayMs(retry, attempt, deps.random()), timer ? (current = new ExchangeCancel()) : undefined);
      if (routeExpired) return timedOut(attempt);
    }
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** Waits `ms`, or less when `cancel` ends the wait (the route timeout). */
function backoff(ms: number, cancel: ExchangeCancel | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    cancel?.onCancel(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A copy of the request to a mirror cluster; its answer is dropped and never delays the request. */
function sendMirror(deps: ProxyDeps, ctx: DownstreamContext, upstream: UpstreamContext, planned: ForwardPlan, mirror: ClusterModel, body: Buffer): void {
  const endpoint = deps.pickEndpoint(mirror.name, deps.model.endpoints.get(mirror.name) ?? []);
  if (!endpoint) return;
  const host = `${String(planned.headers['host'] ?? '')}${MIRROR_HOST_SUFFIX}`;
  // The mirror's exchange, its answer's body included, ends at the route timeout (60 s without one).
  const cancel = new ExchangeCancel();
  const timer = setTimeout(() => cancel.cancel(new Error('mirror timeout')), planned.timeoutMs > 0 ? planned.timeoutMs : 60_000);
  timer.unref();
  sendUpstream(upstream, endpoint, { host: ctx.service, baggage: ctx.baggage }, mirror.protocol, {
    method: planned.method,
    path: planned.path,
    headers: { ...planned.headers, host },
    body,
    cancel,
  }).then(
    (response) => {
      response.body.once('close', () => clearTimeout(timer));
      response.body.resume();
    },
    (err: unknown) => {
      clearTimeout(timer);
      deps.logger.log('proxy', 'debug', 'mirror failed', { cluster: mirror.name, error: (err as Error).message });
    },
  );
}

/**
 * An HTTP/1.1 Upgrade (WebSocket): planned like any request; when forwarded, the request head
 * goes to one endpoint over a fresh tunnel and from then on bytes are relayed both ways.
 */
export async function handleUpgrade(deps: ProxyDeps, ctx: DownstreamContext, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const request = plannedRequest(ctx, req);
  const record = new RequestRecord(deps, ctx, request, 'websocket');
  const planned = plan(deps, ctx, request);
  Object.assign(record.log, planned.log);
  const answer = (status: number, body: string, headers: Record<string, string> = {}, flags = '-') => {
    record.flags = flags;
    const lines = [`HTTP/1.1 ${status} ${status === 403 ? 'Forbidden' : status === 404 ? 'Not Found' : 'Error'}`, ...Object.entries({ ...headers, 'content-length': String(Buffer.byteLength(body)), connection: 'close' }).map(([k, v]) => `${k}: ${v}`)];
    socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
    record.finish(status);
  };
  if (planned.kind === 'respond') return answer(planned.status, planned.body, { ...planned.headers }, planned.flags);
  const upstream = deps.upstream();
  const endpoint = upstream && deps.pickEndpoint(planned.cluster.name, deps.model.endpoints.get(planned.cluster.name) ?? []);
  if (!upstream || !endpoint) return answer(503, 'no healthy upstream\n', {}, 'UH');
  record.endpoint(endpoint, upstream);
  let tunnel: Duplex;
  try {
    tunnel = await openUpstream(upstream, endpoint, { host: ctx.service, baggage: ctx.baggage });
  } catch (err) {
    return answer(503, 'upstream connect error\n', {}, 'UF');
  }
  const headLines = [`${planned.method} ${planned.path} HTTP/1.1`];
  for (const [name, value] of Object.entries(planned.headers)) for (const v of Array.isArray(value) ? value : [value]) headLines.push(`${name}: ${v}`);
  tunnel.write(`${headLines.join('\r\n')}\r\n\r\n`);
  if (head.length > 0) tunnel.write(head);
  // The upstream's status line, for the log; the bytes themselves go to the client unchanged.
  let status = 0;
  tunnel.once('data', (chunk: Buffer) => (status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(chunk.toString('latin1', 0, 16))?.[1] ?? 0)));
  const result = await relay(socket, tunnel);
  record.bytesSent = result.bytesBToA;
  record.finish(status, { bytes_recv: result.bytesAToB, ...(result.error ? { error: result.error.message } : {}) });
}
