/**
 * Reaching a backend endpoint (connect_originate): HBONE to pod:15008 under the waypoint's
 * identity with `:authority` = pod:targetPort and the pod's identity as expected SAN, or plain
 * TCP for an endpoint outside the mesh. The waypoint's own traffic goes straight to the pod's
 * ztunnel, never back through a waypoint (it is not captured).
 */
import { connect as tcpConnect } from 'node:net';
import { Agent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { MeshError } from '@mesh/errors';
import { parseAuthority, type HbonePool } from '@mesh/hbone-core';
import type { Endpoint, OriginateModel } from '../config/model.js';
import { asByteStream } from './byte-stream.js';

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
 * Keep-alive HTTP/1.1 connections to each endpoint, each one an HBONE tunnel (Envoy's upstream
 * connection pool). Keyed by endpoint and client address too, because a tunnel's `forwarded`
 * header names one client: requests of different clients never share a tunnel.
 */
export class UpstreamAgents {
  readonly #agents = new Map<string, Agent>();

  agentFor(ctx: UpstreamContext, endpoint: Endpoint, source: TunnelSource): Agent {
    const key = `${endpoint.tunnelAddress ?? ''}|${endpoint.destination}|${endpoint.identity ?? ''}|${source.sourceAddress ?? ''}`;
    let agent = this.#agents.get(key);
    if (!agent) {
      agent = new Agent({ keepAlive: true, maxSockets: UPSTREAM_MAX_CONNECTIONS_PER_ENDPOINT, timeout: UPSTREAM_IDLE_TIMEOUT_MS });
      // The agent's connections are tunnels (or plain TCP to an endpoint outside the mesh).
      (agent as unknown as { createConnection: unknown }).createConnection = (_opts: unknown, done: (err: Error | null, stream?: Duplex) => void) => {
        openUpstream(ctx, endpoint, source).then(
          (stream) => done(null, asByteStream(stream)),
          (err: unknown) => done(new UpstreamConnectError(err, endpoint)),
        );
        return undefined;
      };
      this.#agents.set(key, agent);
    }
    return agent;
  }

  /** Closes every pooled connection (config change of the endpoints, shutdown). */
  destroy(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }
}

export interface TunnelSource {
  /** The client's address (for `forwarded: for=`). */
  readonly sourceAddress?: string;
  /** The service the client addressed (`echo.echo.svc.cluster.local`). */
  readonly host?: string;
  readonly baggage?: Record<string, string>;
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
      ...(source.sourceAddress ? { sourceAddress: source.sourceAddress } : {}),
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
  readonly headers: OutgoingHttpHeaders;
  readonly body: Buffer;
  readonly signal: AbortSignal;
}

/** Marks a failure to reach the upstream (as opposed to an HTTP answer). */
export class UpstreamConnectError extends MeshError {
  constructor(cause: unknown, endpoint: Endpoint) {
    super('WAYPOINT_ERR_UPSTREAM_CONNECT', `cannot reach ${endpoint.destination}: ${(cause as Error).message}`, { cause });
  }
}

/**
 * One HTTP/1.1 exchange with the endpoint over a pooled keep-alive tunnel. Resolves with the
 * response head; the body streams from it. Failing to open the tunnel rejects with
 * UpstreamConnectError; a reset afterwards with the socket's error.
 */
export function sendUpstream(ctx: UpstreamContext, endpoint: Endpoint, source: TunnelSource, req: UpstreamRequest): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest({
      method: req.method,
      path: req.path,
      headers: { ...req.headers, 'content-length': String(req.body.length) },
      agent: ctx.agents.agentFor(ctx, endpoint, source),
      signal: req.signal,
    });
    outgoing.once('response', resolve);
    outgoing.once('error', reject);
    outgoing.end(req.body);
  });
}
