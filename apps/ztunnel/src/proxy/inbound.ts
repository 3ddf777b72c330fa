/**
 * HBONE inbound (15008): the HboneServer terminates mTLS + HTTP/2 and hands each CONNECT here.
 * `planInboundTunnel` decides (local pod? RBAC?); an accepted tunnel is forwarded to the pod
 * with `forwardTunnel` (503 when the pod refuses), a refused one is answered 400/401 and logged
 * with the deciding policy.
 */
import { forwardTunnel, parseBaggage, parseForwardedFor, type HboneCredentials, type IncomingTunnel } from '@mesh/hbone-core';
import { formatAddress, normalizeIp, splitAddress } from '@mesh/envoy-config';
import { inboundChainFor, workloadOfIp } from '../config/model.js';
import type { ProxyContext } from './context.js';
import type { ConnectionInit } from './connections.js';
import { ORIGINAL_DST_HEADER, planInboundTunnel } from './inbound-plan.js';
import { describe } from './outbound.js';

/** The server certificate for a connection: that of the pod whose IP it arrived on. */
export function serverCredentialsFor(ctx: ProxyContext, local: { address: string }): HboneCredentials | undefined {
  const chain = inboundChainFor(ctx.model().listeners.inbound, normalizeIp(local.address));
  return chain?.identity ? ctx.certs.credentials(chain.identity) : undefined;
}

export function handleInboundTunnel(ctx: ProxyContext, tunnel: IncomingTunnel): void {
  const header = tunnel.headers[ORIGINAL_DST_HEADER];
  const forwarded = tunnel.headers['forwarded'];
  const sourceIp = normalizeIp(parseForwardedFor(Array.isArray(forwarded) ? forwarded[0] : forwarded) ?? tunnel.remoteAddress);
  const baggage = parseBaggage(typeof tunnel.headers['baggage'] === 'string' ? tunnel.headers['baggage'] : undefined);
  const plan = planInboundTunnel(ctx.model(), {
    localIp: normalizeIp(tunnel.localAddress),
    authority: tunnel.authority,
    originalDstHeader: typeof header === 'string' ? header : undefined,
    peerIdentity: tunnel.peerIdentity,
    sourceIp,
  });
  const base = {
    direction: 'inbound' as const,
    protocol: 'hbone' as const,
    src: { addr: sourceIp, identity: tunnel.peerIdentity, workload: baggage['k8s.pod.name'] ?? baggage['service.name'] },
    hbone: formatAddress(normalizeIp(tunnel.localAddress), tunnel.localPort),
  };
  if (plan.kind === 'reject') {
    tunnel.reject(plan.status, plan.reason);
    ctx.tracker.refuse(
      {
        ...base,
        dst: { addr: tunnel.authority, hboneAddr: base.hbone },
        chain: plan.chain,
        policy: plan.policy,
      },
      plan.reason,
      plan.status === 401 ? 'RBAC' : plan.status === 503 ? 'UH' : 'NR',
    );
    return;
  }
  const target = splitAddress(plan.target, 'target');
  const init: ConnectionInit = {
    direction: base.direction,
    protocol: base.protocol,
    src: base.src,
    dst: { addr: plan.target, hboneAddr: base.hbone, identity: plan.identity, workload: workloadOfIp(ctx.model(), target.ip) },
    chain: plan.chain,
    policy: plan.decision.policy,
    authz: { target: plan.target, peerIdentity: tunnel.peerIdentity, sourceIp, plaintext: false },
  };
  const upstream = ctx.connectToPod(target.ip, target.port, sourceIp);
  let tracked: ReturnType<typeof ctx.tracker.open> | undefined;
  upstream.once('connect', () => {
    tracked = ctx.tracker.open(init, (reason) => upstream.destroy(new Error(reason)));
  });
  void forwardTunnel(tunnel, {
    connectUpstream: () => upstream,
    onBytes: (direction, bytes) => tracked?.onBytes(direction === 'aToB' ? 'sent' : 'recv', bytes),
  }).then((result) => {
    if (!result) {
      ctx.tracker.refuse(init, `upstream ${plan.target} refused the connection`, 'UF');
      return;
    }
    tracked?.finish({ error: result.error ? describe(result.error) : undefined });
  });
}
