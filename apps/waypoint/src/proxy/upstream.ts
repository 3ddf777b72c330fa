/**
 * Reaching a backend endpoint (connect_originate): HBONE to pod:15008 under the waypoint's
 * identity with `:authority` = pod:targetPort and the pod's identity as expected SAN, or plain
 * TCP for an endpoint outside the mesh. The waypoint's own traffic goes straight to the pod's
 * ztunnel, never back through a waypoint (it is not captured).
 *
 * Inside the tunnel the waypoint speaks what the cluster says: HTTP/1.1 over keep-alive
 * connections (one tunnel each), or HTTP/2 without TLS (h2c) over one session per endpoint and
 * client, many streams on it.
 */
import { connect as tcpConnect } from 'node:net';
import { Agent, request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { connect as h2connect, constants as h2constants, type ClientHttp2Session } from 'node:http2';
import type { Duplex, Readable } from 'node:stream';
import { MeshError } from '@mesh/errors';
import { parseAuthority, type HbonePool } from '@mesh/hbone-core';
import type { Endpoint, OriginateModel } from '../config/model.js';
import type { AttemptFailure } from '../routing/policy.js';
import { asByteStream, asHttpSocket } from './byte-stream.js';

export interface UpstreamContext {
  readonly pool: HbonePool;
  readonly originate: OriginateModel;
  readonly trustDomain: string;
  readonly agents: UpstreamAgents;
}

/** Idle upstream connections close before a backend's usual keep-alive timeout (Node: 5 s). */
export const UPSTREAM_IDLE_TIMEOUT_MS = 4_000;
export const UPSTREAM_MAX_CONNECTIONS_PER_ENDPOINT = 128;

/**
 * What a tunnel to a backend says about the request it carries. Not the client's address: the
 * tunnel comes from the waypoint itself (its address and identity, as with Istio's waypoint),
 * and a `forwarded: for=` naming the client would be refused by the destination ztunnel (the
 * client is not a workload of the waypoint's identity).
 */
export interface TunnelSource {
  /** The service the client addressed (`echo.echo.svc.cluster.local`), for `forwarded: host=`. */
  readonly host?: string;
  readonly baggage?: Record<string, string>;
}

/** A failure to get an answer from the upstream, and of which kind (the retry policy asks). */
export class UpstreamFailure extends MeshError {
  constructor(
    readonly failure: AttemptFailure,
    message: string,
    cause?: unknown,
  ) {
    super(failure === 'connect' ? 'WAYPOINT_ERR_UPSTREAM_CONNECT' : 'WAYPOINT_ERR_UPSTREAM_RESET', message, cause === undefined ? {} : { cause });
  }
}

function connectFailure(cause: unknown, endpoint: Endpoint): UpstreamFailure {
  return new UpstreamFailure('connect', `cannot reach ${endpoint.destination}: ${(cause as Error).message}`, cause);
}

function keyOf(endpoint: Endpoint): string {
  return `${endpoint.tunnelAddress ?? ''}|${endpoint.destination}|${endpoint.identity ?? ''}`;
}

/**
 * Pooled upstream connections, keyed by endpoint (tunnels name no client, see TunnelSource):
 * keep-alive HTTP/1.1 agents (Envoy's connection pool) and h2c sessions.
 */
export class UpstreamAgents {
  readonly #agents = new Map<string, Agent>();
  readonly #sessions = new Map<string, Promise<ClientHttp2Session>>();

  agentFor(ctx: UpstreamContext, endpoint: Endpoint, source: TunnelSource): Agent {
    const key = keyOf(endpoint);
    let agent = this.#agents.get(key);
    if (!agent) {
      agent = new Agent({ keepAlive: true, maxSockets: UPSTREAM_MAX_CONNECTIONS_PER_ENDPOINT, timeout: UPSTREAM_IDLE_TIMEOUT_MS });
      // The agent's connections are tunnels (or plain TCP to an endpoint outside the mesh).
      (agent as unknown as { createConnection: unknown }).createConnection = (_opts: unknown, done: (err: Error | null, stream?: Duplex) => void) => {
        openUpstream(ctx, endpoint, source).then(
          (stream) => done(null, asHttpSocket(stream)),
          (err: unknown) => done(connectFailure(err, endpoint)),
        );
        return undefined;
      };
      this.#agents.set(key, agent);
    }
    return agent;
  }

  /** An h2c session to the endpoint (one tunnel, many streams); a closed one is replaced. */
  sessionFor(ctx: UpstreamContext, endpoint: Endpoint, source: TunnelSource): Promise<ClientHttp2Session> {
    const key = keyOf(endpoint);
    let session = this.#sessions.get(key);
    if (!session) {
      session = openUpstream(ctx, endpoint, source).then(
        (stream) =>
          new Promise<ClientHttp2Session>((resolve, reject) => {
            const s = h2connect(`http://${endpoint.destination}`, { createConnection: () => asByteStream(stream) as never });
            const forget = () => {
              if (this.#sessions.get(key) === session) this.#sessions.delete(key);
            };
            s.once('connect', () => resolve(s));
            s.once('error', (err) => {
              forget();
              reject(connectFailure(err, endpoint));
            });
            s.once('close', forget);
            s.once('goaway', forget);
            s.setTimeout(UPSTREAM_IDLE_TIMEOUT_MS, () => s.close());
          }),
        (err: unknown) => {
          this.#sessions.delete(key);
          throw connectFailure(err, endpoint);
        },
      );
      this.#sessions.set(key, session);
    }
    return session;
  }

  /** Closes every pooled connection (config change of the endpoints, shutdown). */
  destroy(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
    for (const session of this.#sessions.values()) session.then((s) => s.destroy(), () => undefined);
    this.#sessions.clear();
  }
}

/** Where a tunnelled endpoint's HBONE goes: its tunnel address with the cluster's port override. */
export function tunnelDestination(endpoint: Endpoint, originate: OriginateModel): string | undefined {
  if (!endpoint.tunnelAddress) return undefined;
  const { host } = parseAuthority(endpoint.tunnelAddress);
  return host.includes(':') ? `[${host}]:${originate.tunnelPort}` : `${host}:${originate.tunnelPort}`;
}

/** Opens a byte stream to the endpoint; rejects when it cannot be reached. */
export async function openUpstream(ctx: UpstreamContext, endpoint: Endpoint, source: TunnelSource): Promise<Duplex> {
  const destination = tunnelDestination(endpoint, ctx.originate);
  if (destination) {
    return ctx.pool.open({
      sourceIdentity: ctx.originate.identity,
      destination,
      // No identity in the endpoint's metadata: fail closed (istiod-lite always names it).
      expectedIdentities: endpoint.identity ? [endpoint.identity] : [],
      authority: endpoint.destination,
      ...(source.host ? { host: source.host } : {}),
      ...(source.baggage ? { baggage: source.baggage } : {}),
    });
  }
  const { host, port } = parseAuthority(endpoint.destination);
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host, port });
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

export interface UpstreamRequest {
  readonly method: string;
  readonly path: string;
  /** `host` included; hop-by-hop headers already removed. */
  readonly headers: OutgoingHttpHeaders;
  readonly body: Buffer;
  /** Ends the exchange (timeouts); none when the route has no timeout. */
  readonly cancel?: ExchangeCancel;
}

/**
 * How the caller's timers (route, per-try, mirror timeout) end an exchange early: the exchange
 * says how it is ended (`onCancel`), the timer calls `cancel`. A plain object per attempt instead
 * of an AbortController, an `AbortSignal.any` and the signal listener node:http adds per request
 * (docs/performance.md, "The waypoint: where the time goes").
 */
export class ExchangeCancel {
  #end: ((reason: Error) => void) | undefined;
  #reason: Error | undefined;

  /** Ends the exchange (once); one registered later is ended as it registers. */
  cancel(reason: Error): void {
    if (this.#reason) return;
    this.#reason = reason;
    const end = this.#end;
    this.#end = undefined;
    end?.(reason);
  }

  /** Called by the exchange: `end` runs on cancel, at once when cancelled already. */
  onCancel(end: (reason: Error) => void): void {
    if (this.#reason) end(this.#reason);
    else this.#end = end;
  }
}

export interface UpstreamResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Readable;
}

/**
 * One exchange with the endpoint in the cluster's protocol. Resolves with the response head; the
 * body streams from it. Rejects with UpstreamFailure saying how it failed (the caller's
 * `cancel` ends it too; the caller knows why).
 */
export function sendUpstream(ctx: UpstreamContext, endpoint: Endpoint, source: TunnelSource, protocol: 'http1' | 'h2c', req: UpstreamRequest): Promise<UpstreamResponse> {
  return protocol === 'h2c' ? sendH2c(ctx, endpoint, source, req) : sendHttp1(ctx, endpoint, source, req);
}

function sendHttp1(ctx: UpstreamContext, endpoint: Endpoint, source: TunnelSource, req: UpstreamRequest): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    let sent = false;
    const outgoing = httpRequest({
      method: req.method,
      path: req.path,
      headers: { ...req.headers, 'content-length': String(req.body.length) },
      agent: ctx.agents.agentFor(ctx, endpoint, source),
    });
    req.cancel?.onCancel((reason) => outgoing.destroy(reason));
    outgoing.once('finish', () => (sent = true));
    outgoing.once('response', (res) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: res }));
    outgoing.once('error', (err) => {
      if (err instanceof UpstreamFailure) return reject(err);
      reject(new UpstreamFailure(sent ? 'reset' : 'reset-before-request', `${endpoint.destination}: ${err.message}`, err));
    });
    outgoing.end(req.body);
  });
}

async function sendH2c(ctx: UpstreamContext, endpoint: Endpoint, source: TunnelSource, req: UpstreamRequest): Promise<UpstreamResponse> {
  const session = await ctx.agents.sessionFor(ctx, endpoint, source);
  return new Promise((resolve, reject) => {
    const { host, ...rest } = req.headers;
    // No body: the HEADERS frame ends the stream (Node would do so itself for a GET).
    const empty = req.body.length === 0;
    const stream = session.request({ ...rest, ':method': req.method, ':path': req.path, ':authority': String(host ?? endpoint.destination) }, { endStream: empty });
    req.cancel?.onCancel((reason) => stream.destroy(reason));
    let sent = empty;
    stream.once('finish', () => (sent = true));
    stream.once('response', (headers) => {
      const status = Number(headers[':status'] ?? 502);
      const plain: IncomingHttpHeaders = {};
      for (const [k, v] of Object.entries(headers)) if (!k.startsWith(':')) plain[k] = v as string | string[];
      resolve({ status, headers: plain, body: stream });
    });
    const fail = (why: string, err?: unknown) => {
      const refused = stream.rstCode === h2constants.NGHTTP2_REFUSED_STREAM;
      reject(new UpstreamFailure(refused ? 'refused' : sent ? 'reset' : 'reset-before-request', `${endpoint.destination}: ${why}`, err));
    };
    stream.once('error', (err) => fail(err.message, err));
    // Closed without an answer (a reset with NO_ERROR): settled already if the response came.
    stream.once('close', () => fail(`stream closed before a response (code ${stream.rstCode})`));
    if (!empty) stream.end(req.body);
  });
}
