/**
 * Outbound: a connection from a local pod (transparent 15001, or SOCKS5 15080) is planned by
 * `planOutbound` and carried in an HBONE tunnel (or plain TCP for passthrough); bytes move with
 * hbone-core's `relay` (half-close, resets, backpressure).
 */
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { ANY_IDENTITY_IN_TRUST_DOMAIN, HboneErrorCode, relay } from '@mesh/hbone-core';
import { hasCode } from '@mesh/errors';
import { formatAddress } from '@mesh/envoy-config';
import { BoundedCache, workloadOfIp, planOutbound, type ConnectionAddresses, type OutboundPlan } from '@mesh/ztunnel-plan';
import type { ProxyContext } from './context.js';
import type { ConnectionInit } from './connections.js';

export interface OutboundFailure {
  kind: 'blackhole' | 'reject' | 'connect';
  reason: string;
  /** The HBONE response status when the far side refused the tunnel (400, 401, 503). */
  status?: number;
}

export interface OutboundHooks {
  /** Upstream is ready; bytes start flowing after this returns (SOCKS5 sends its reply here). */
  onEstablished?(): void;
  /** Nothing will flow; default resets the client socket. */
  onRefused?(failure: OutboundFailure): void;
}

/** Serves one outbound connection to completion. Never throws. */
export async function handleOutbound(ctx: ProxyContext, socket: Socket, addrs: ConnectionAddresses, hooks: OutboundHooks = {}): Promise<void> {
  socket.on('error', () => undefined);
  const model = ctx.model();
  const plan = planOutbound(model, addrs, ctx.endpoints);
  const sourceWorkload = workloadOfIp(model, addrs.src.ip);
  const init = connectionInit(plan, addrs, sourceWorkload);
  const refuse = (failure: OutboundFailure, responseFlag: string) => {
    ctx.tracker.refuse(init, failure.reason, responseFlag);
    if (hooks.onRefused) hooks.onRefused(failure);
    else if (!socket.destroyed) socket.resetAndDestroy();
  };
  if (plan.kind === 'blackhole') return refuse({ kind: 'blackhole', reason: plan.reason }, 'BH');
  if (plan.kind === 'reject') return refuse({ kind: 'reject', reason: plan.reason }, plan.responseFlag);

  let upstream: Duplex;
  try {
    // Without a handshake to answer (transparent capture), bytes may follow the CONNECT at once,
    // saving a round trip per connection; a refusal then arrives as an error on the stream and
    // the relay resets the client, which is what it would have seen anyway.
    const early = hooks.onEstablished === undefined;
    upstream = plan.kind === 'hbone' ? await openTunnel(ctx, plan, addrs, sourceWorkload, early) : await connectPlain(ctx, plan.destination);
  } catch (err) {
    const status = statusOf(err);
    const failure: OutboundFailure = { kind: 'connect', reason: describe(err), ...(status !== undefined ? { status } : {}) };
    return refuse(failure, responseFlagOf(status));
  }
  if (socket.destroyed) {
    // The client left while the upstream was being opened: drop it, and say so (Envoy's DC).
    upstream.on('error', () => undefined);
    upstream.destroy();
    ctx.tracker.refuse(init, 'the client closed the connection before the upstream was ready', 'DC');
    return;
  }
  const tracked = ctx.tracker.open(init, (reason) => upstream.destroy(new Error(reason)));
  hooks.onEstablished?.();
  const result = await relay(socket, upstream, { counters: tracked.bytes });
  const status = statusOf(result.error);
  tracked.finish({
    error: result.error ? describe(result.error) : undefined,
    ...(status !== undefined ? { responseFlag: responseFlagOf(status) } : {}),
  });
}

/** Envoy's response flag for a refused tunnel: RBAC for 401/403, else upstream failure. */
function responseFlagOf(status: number | undefined): string {
  return status === 401 || status === 403 ? 'RBAC' : 'UF';
}

/** The HBONE status of a refused tunnel: an HBONE_ERR_REJECTED from the pool carries it in its context. */
function statusOf(err: unknown): number | undefined {
  if (!hasCode(err, HboneErrorCode.REJECTED)) return undefined;
  const status = err.context['status'];
  return typeof status === 'number' ? status : undefined;
}

function connectionInit(plan: OutboundPlan, addrs: ConnectionAddresses, workload: string | undefined): ConnectionInit {
  const src = { addr: formatAddress(addrs.src.ip, addrs.src.port), identity: plan.kind === 'hbone' ? plan.sourceIdentity : undefined, workload };
  const dstAddr = formatAddress(addrs.dst.ip, addrs.dst.port);
  switch (plan.kind) {
    case 'hbone':
      return {
        direction: 'outbound',
        protocol: 'hbone',
        src,
        dst: {
          addr: plan.authority,
          hboneAddr: plan.destination,
          service: plan.service,
          identity: plan.expectedIdentities?.length === 1 ? plan.expectedIdentities[0] : undefined,
          workload: plan.workload,
        },
        chain: plan.chain,
      };
    case 'passthrough':
      return { direction: 'outbound', protocol: 'tcp', src, dst: { addr: plan.destination, service: plan.service }, chain: plan.chain };
    default:
      return { direction: 'outbound', protocol: 'tcp', src, dst: { addr: dstAddr }, chain: plan.chain ?? undefined };
  }
}

/** W3C baggage with the source's workload metadata, for the destination's telemetry (docs/model.md, "HBONE"). */
function sourceBaggage(identity: string, workload: string | undefined): Record<string, string> {
  // The same few (identity, workload) pairs on every connection: parse each once. Bounded, since
  // pods come and go; buildConnectHeaders only reads the object.
  const key = workload === undefined ? identity : `${identity}\n${workload}`;
  let baggage = baggageCache.get(key);
  if (baggage) return baggage;
  const m = /\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(identity);
  baggage = {
    ...(m ? { 'k8s.namespace.name': m[1] as string, 'k8s.serviceaccount.name': m[2] as string } : {}),
    ...(workload ? { 'k8s.pod.name': workload } : {}),
  };
  baggageCache.set(key, baggage);
  return baggage;
}

const BAGGAGE_CACHE_ENTRIES = 4096;
const baggageCache = new BoundedCache<string, Record<string, string>>(BAGGAGE_CACHE_ENTRIES);

async function openTunnel(
  ctx: ProxyContext,
  plan: Extract<OutboundPlan, { kind: 'hbone' }>,
  addrs: ConnectionAddresses,
  workload: string | undefined,
  early: boolean,
): Promise<Duplex> {
  // An expired certificate (renewal failing while istiod-lite is away) opens nothing, not even a
  // stream on a connection made before it expired: the access log says why.
  ctx.certs.assertUsable(plan.sourceIdentity);
  const bindAddress = ctx.sourceBinding.bindAddress(addrs.src.ip);
  return ctx.pool.open({
    sourceIdentity: plan.sourceIdentity,
    destination: plan.destination,
    // The direct-to-pod chain names no server identity (the Envoy dialect's ORIGINAL_DST tunnel cluster):
    // then any identity of the trust domain is accepted.
    expectedIdentities: plan.expectedIdentities ?? ANY_IDENTITY_IN_TRUST_DOMAIN,
    authority: plan.authority,
    // Opened from the pod's own address where possible (source-bind.ts); `forwarded` names it
    // either way, with the port, as Istio's ztunnel sends it.
    ...(bindAddress !== undefined ? { bindAddress } : {}),
    sourceAddress: addrs.src.ip,
    sourcePort: addrs.src.port,
    ...(plan.service ? { host: plan.service } : {}),
    baggage: sourceBaggage(plan.sourceIdentity, workload),
    // The plan's own object, made for this connection; buildConnectHeaders only reads it.
    extra: plan.headers,
    waitForResponse: !early,
  });
}

function connectPlain(ctx: ProxyContext, destination: string): Promise<Socket> {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(destination);
  const socket = ctx.connectTcp(m?.[1] ?? destination, Number(m?.[2]));
  return new Promise((resolve, reject) => {
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

export function describe(err: unknown): string {
  const e = err as { code?: string; message?: string; context?: { status?: number } };
  return e.code && e.message ? `${e.code}: ${e.message}` : String(e.message ?? err);
}
