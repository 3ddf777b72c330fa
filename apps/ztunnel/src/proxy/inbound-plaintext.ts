/**
 * Plaintext inbound (15006, transparent mode): TCP to a local pod that did not come through
 * HBONE (a client outside the mesh). The pod's plaintext chain decides — under STRICT
 * PeerAuthentication a deny-all RBAC refuses it — and allowed connections go on to the pod.
 */
import type { Socket } from 'node:net';
import { relay } from '@mesh/hbone-core';
import { formatAddress, normalizeIp, splitAddress } from '@mesh/envoy-config';
import type { ProxyContext } from './context.js';
import { reportAuthorization } from './authz-report.js';
import { planInboundPlaintext } from '@mesh/ztunnel-plan';
import { describe } from './outbound.js';

export function handleInboundPlaintext(ctx: ProxyContext, socket: Socket): void {
  socket.on('error', () => undefined);
  const src = { ip: normalizeIp(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 };
  // Under TPROXY the accepted socket's local address is the original destination.
  const dst = { ip: normalizeIp(socket.localAddress ?? ''), port: socket.localPort ?? 0 };
  const plan = planInboundPlaintext(ctx.model(), { src, dst });
  const base = { direction: 'inbound' as const, protocol: 'tcp' as const, src: { addr: formatAddress(src.ip, src.port) } };
  const rbac = reportAuthorization(ctx, plan.decision);
  if (plan.kind === 'reject') {
    ctx.tracker.refuse({ ...base, dst: { addr: formatAddress(dst.ip, dst.port) }, chain: plan.chain, policy: plan.policy, rbac }, plan.reason, plan.status === 401 ? 'RBAC' : 'NR');
    socket.resetAndDestroy();
    return;
  }
  const target = splitAddress(plan.target, 'target');
  const upstream = ctx.connectTcp(target.ip, target.port);
  const init = {
    ...base,
    dst: { addr: plan.target },
    chain: plan.chain,
    policy: plan.decision.policy,
    rbac,
    authz: { target: plan.target, peerIdentity: undefined, sourceIp: src.ip, plaintext: true },
  };
  const onConnectError = (err: Error) => {
    socket.off('close', onClientGone);
    ctx.tracker.refuse(init, describe(err), 'UF');
    if (!socket.destroyed) socket.resetAndDestroy();
  };
  // The client left while the pod was being connected: drop that attempt (Envoy's DC).
  const onClientGone = () => {
    upstream.off('error', onConnectError);
    upstream.on('error', () => undefined);
    upstream.destroy();
    ctx.tracker.refuse(init, 'the client closed the connection before the upstream was ready', 'DC');
  };
  socket.once('close', onClientGone);
  upstream.once('error', onConnectError);
  upstream.once('connect', () => {
    // From here on relay() owns errors on both sides.
    socket.off('close', onClientGone);
    upstream.off('error', onConnectError);
    const tracked = ctx.tracker.open(init, (reason) => upstream.destroy(new Error(reason)));
    void relay(socket, upstream, { counters: tracked.bytes }).then((result) =>
      tracked.finish({ error: result.error ? describe(result.error) : undefined }),
    );
  });
}
