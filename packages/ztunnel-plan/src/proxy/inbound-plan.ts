/**
 * What to do with an inbound HBONE tunnel or plaintext connection: pure decisions on the runtime
 * model (docs/model.md, `ztunnel_inbound`): find the local pod's chain, take the target from
 * `x-envoy-original-dst-host` when virtual_inbound says `use_http_header` (else `:authority`),
 * require the target to be a local pod, then authorize (rbac/).
 */
import { evaluateRbac, formatAddress, type RbacDecision, splitAddress, UnsupportedConfig } from '@mesh/envoy-config';
import { inboundChainFor, type InboundChain, type InboundListener, type RuntimeModel } from '../config/model.js';

export type InboundPlan =
  | { readonly kind: 'accept'; readonly chain: string; readonly target: string; readonly identity: string | undefined; readonly decision: RbacDecision }
  | { readonly kind: 'reject'; readonly status: 400 | 401 | 503; readonly reason: string; readonly chain?: string; readonly policy?: string; readonly decision?: RbacDecision };

export interface InboundTunnelFacts {
  /** Address the HBONE connection arrived on (the destination pod's IP under TPROXY). */
  readonly localIp: string;
  readonly authority: string;
  /** `x-envoy-original-dst-host`, if sent. */
  readonly originalDstHeader: string | undefined;
  readonly peerIdentity: string;
  /** The source to authorize: the connection's peer, or a `forwarded` address vouched for by identity (hbone-core resolveTunnelSource). */
  readonly sourceIp: string;
}

/**
 * The inbound decisions, for explanations: the chain the tunnel arrived on (by local IP), the
 * target it names, and the chain and RBAC decision that authorized it. Recorded only when asked.
 */
export type InboundStep =
  | { readonly kind: 'arrival'; readonly listener: string; readonly chain: InboundChain }
  | { readonly kind: 'target'; readonly cluster: string; readonly target: string; readonly from: 'x-envoy-original-dst-host' | ':authority' }
  | { readonly kind: 'authorize'; readonly chain: InboundChain; readonly decision: RbacDecision };

export type InboundTrace = (step: InboundStep) => void;

export function planInboundTunnel(model: RuntimeModel, facts: InboundTunnelFacts, trace?: InboundTrace): InboundPlan {
  const listener = model.listeners.inbound;
  const arrival = inboundChainFor(listener, facts.localIp);
  if (!arrival) return { kind: 'reject', status: 400, reason: `${facts.localIp} is not a pod on this node` };
  if (listener) trace?.({ kind: 'arrival', listener: listener.name, chain: arrival });
  const cluster = model.clusters.get(arrival.cluster);
  if (!cluster) return { kind: 'reject', status: 503, reason: `cluster ${arrival.cluster} is not known (yet)`, chain: arrival.name };
  if (cluster.kind !== 'original_dst') return { kind: 'reject', status: 503, reason: `${cluster.name} is not an ORIGINAL_DST cluster`, chain: arrival.name };
  const header = cluster.useHttpHeader ? facts.originalDstHeader : undefined;
  const targetText = header ?? facts.authority;
  trace?.({ kind: 'target', cluster: cluster.name, target: targetText, from: header === undefined ? ':authority' : 'x-envoy-original-dst-host' });
  let target: { ip: string; port: number };
  try {
    target = splitAddress(targetText, ':authority');
  } catch (err) {
    return { kind: 'reject', status: 400, reason: err instanceof UnsupportedConfig ? err.message : `bad destination ${targetText}`, chain: arrival.name };
  }
  return authorize(listener, target, { peerIdentity: facts.peerIdentity, sourceIp: facts.sourceIp }, 'HBONE', trace);
}

export interface PlaintextFacts {
  readonly src: { readonly ip: string; readonly port: number };
  readonly dst: { readonly ip: string; readonly port: number };
}

/** Plaintext to a local pod (15006): the pod's plaintext chain decides; STRICT is a deny-all RBAC there. */
export function planInboundPlaintext(model: RuntimeModel, facts: PlaintextFacts): InboundPlan {
  const listener = model.listeners.inboundPlaintext;
  if (!listener) return { kind: 'reject', status: 503, reason: 'plaintext inbound is not configured' };
  return authorize(listener, facts.dst, { peerIdentity: undefined, sourceIp: facts.src.ip }, 'plaintext');
}

function authorize(
  listener: InboundListener | undefined,
  target: { ip: string; port: number },
  peer: { peerIdentity: string | undefined; sourceIp: string },
  what: string,
  trace?: InboundTrace,
): InboundPlan {
  const chain: InboundChain | undefined = inboundChainFor(listener, target.ip);
  if (!chain) return { kind: 'reject', status: 400, reason: `${what} destination ${formatAddress(target.ip, target.port)} is not a pod on this node` };
  const decision = evaluateRbac(chain.rbac, { ...peer, destinationIp: target.ip, destinationPort: target.port });
  trace?.({ kind: 'authorize', chain, decision });
  if (!decision.allowed) {
    return { kind: 'reject', status: 401, reason: decision.reason, chain: chain.name, ...(decision.policy ? { policy: decision.policy } : {}), decision };
  }
  return { kind: 'accept', chain: chain.name, target: formatAddress(target.ip, target.port), identity: chain.identity, decision };
}

/** Re-checks a live connection against a new model (policy change): the RBAC decision for it now. */
export function recheck(model: RuntimeModel, conn: { target: string; peerIdentity: string | undefined; sourceIp: string; plaintext: boolean }): RbacDecision {
  const listener = conn.plaintext ? model.listeners.inboundPlaintext : model.listeners.inbound;
  const target = splitAddress(conn.target, 'target');
  const chain = inboundChainFor(listener, target.ip);
  if (!chain) return { allowed: false, reason: `${target.ip} is no longer a pod on this node` };
  return evaluateRbac(chain.rbac, { peerIdentity: conn.peerIdentity, sourceIp: conn.sourceIp, destinationIp: target.ip, destinationPort: target.port });
}
