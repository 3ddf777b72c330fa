/**
 * HBONE inbound (15008): the HboneServer terminates mTLS + HTTP/2 and hands each CONNECT here.
 * `planInboundTunnel` decides (local pod? RBAC?); an accepted tunnel is forwarded to the pod
 * with `forwardTunnel` (503 when the pod refuses), a refused one is answered 400/401 and logged
 * with the deciding policy.
 */
import { forwardTunnel, parseBaggage, resolveTunnelSource, type HboneCredentials, type IncomingTunnel } from '@mesh/hbone-core';
import { formatAddress, normalizeIp, splitAddress } from '@mesh/envoy-config';
import { identityOfIp, inboundChainFor, workloadOfIp, planInboundTunnel } from '@mesh/ztunnel-plan';
import type { ProxyContext } from './context.js';
import type { ConnectionInit } from './connections.js';
import { reportAuthorization } from './authz-report.js';
import { ORIGINAL_DST_HEADER } from '@mesh/envoy-config';
import { describe } from './outbound.js';

/** The server certificate for a connection: that of the pod whose IP it arrived on. */
export function serverCredentialsFor(ctx: ProxyContext, local: { address: string }): HboneCredentials | undefined {
  const chain = inboundChainFor(ctx.model().listeners.inbound, normalizeIp(local.address));
  return chain?.identity ? ctx.certs.serverCredentials(chain.identity) : undefined;
}

export function handleInboundTunnel(ctx: ProxyContext, tunnel: IncomingTunnel): void {
  const header = tunnel.headers[ORIGINAL_DST_HEADER];
  const baggage = parseBaggage(typeof tunnel.headers['baggage'] === 'string' ? tunnel.headers['baggage'] : undefined);
  const model = ctx.model();
  // The source a policy sees is the connection's peer (the client pod: ztunnels open tunnels
  // from it); a `forwarded` address only when it is a workload of the peer's own identity.
  const source = resolveTunnelSource(
    { peerAddress: tunnel.remoteAddress, peerIdentity: tunnel.peerIdentity, forwarded: tunnel.headers['forwarded'] },
    (ip) => identityOfIp(model, ip),
  );
  if (!source.ok) {
    tunnel.reject(source.status, source.reason);
    const peer = normalizeIp(tunnel.remoteAddress);
    const hbone = formatAddress(normalizeIp(tunnel.localAddress), tunnel.localPort);
    ctx.tracker.refuse(
      { direction: 'inbound', protocol: 'hbone', src: { addr: peer, identity: tunnel.peerIdentity }, dst: { addr: tunnel.authority, hboneAddr: hbone } },
      source.reason,
      source.status === 401 ? 'RBAC' : 'NR',
    );
    return;
  }
  const sourceIp = normalizeIp(source.ip);
  const plan = planInboundTunnel(model, {
    localIp: normalizeIp(tunnel.localAddress),
    authority: tunnel.authority,
    originalDstHeader: typeof header === 'string' ? header : undefined,
    peerIdentity: tunnel.peerIdentity,
    sourceIp,
  });
  const base = {
    direction: 'inbound' as const,
    protocol: 'hbone' as const,
    src: { addr: source.port !== undefined ? formatAddress(sourceIp, source.port) : sourceIp, identity: tunnel.peerIdentity, workload: baggage['k8s.pod.name'] ?? baggage['service.name'] },
    hbone: formatAddress(normalizeIp(tunnel.localAddress), tunnel.localPort),
  };
  const rbac = reportAuthorization(ctx, plan.decision);
  if (plan.kind === 'reject') {
    tunnel.reject(plan.status, plan.reason);
    ctx.tracker.refuse(
      {
        ...base,
        dst: { addr: tunnel.authority, hboneAddr: base.hbone },
        chain: plan.chain,
        policy: plan.policy,
        rbac,
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
    dst: { addr: plan.target, hboneAddr: base.hbone, identity: plan.identity, workload: workloadOfIp(model, target.ip) },
    chain: plan.chain,
    policy: plan.decision.policy,
    rbac,
    authz: { target: plan.target, peerIdentity: tunnel.peerIdentity, sourceIp, plaintext: false },
  };
  const upstream = ctx.connectToPod(target.ip, target.port, sourceIp);
  // The relay (tunnel = a, pod = b) counts into `bytes`; the record reads them when asked.
  const bytes = { bytesAToB: 0, bytesBToA: 0 };
  let tracked: ReturnType<typeof ctx.tracker.open> | undefined;
  upstream.once('connect', () => {
    tracked = ctx.tracker.open(init, (reason) => upstream.destroy(new Error(reason)), bytes);
  });
  void forwardTunnel(tunnel, { connectUpstream: () => upstream, counters: bytes }).then((result) => {
    switch (result.outcome) {
      case 'refused':
        ctx.tracker.refuse(init, `upstream ${plan.target} refused the connection (${result.reason})`, 'UF');
        return;
      case 'cancelled':
        // Envoy's DC: the downstream went away (here: reset the tunnel before the pod answered).
        ctx.tracker.refuse(init, result.reason, 'DC');
        return;
      case 'relayed':
        tracked?.finish({ error: result.relay.error ? describe(result.relay.error) : undefined });
    }
  });
}
