/**
 * ztunnel's L4 interpreter (docs/model.md): the runtime model compiled from xDS in either dialect,
 * and the pure planners that decide what a connection does. ztunnel runs the plans (its socket
 * code calls them and moves bytes); meshctl `x explain` runs the same planners on a config dump
 * and prints their decision trace, so the two cannot disagree.
 */
export {
  compileClusters,
  compileEndpoints,
  compileListeners,
  emptyModel,
  identityOfIp,
  inboundChainFor,
  localIdentities,
  localWorkloads,
  serviceOfChain,
  serviceVipOf,
  withPart,
  workloadOfIp,
} from './config/model.js';
export type { ClusterModel, Endpoint, EndpointModel, SocketEndpoint, TunnelEndpoint, InboundChain, InboundListener, ListenerModel, LocalWorkload, RuntimeModel, TcpProxyRoute } from './config/model.js';
export { compileWorkloadModel, EMPTY_WORKLOAD_STATE, isCapturedWorkload } from './config/workload.js';
export type { CompiledWorkloadModel, WorkloadState } from './config/workload.js';
export { FIRST_ENDPOINT, planOutbound } from './proxy/outbound-plan.js';
export type { ConnectionAddresses, EndpointPicker, OutboundPlan, ResponseFlag } from './proxy/outbound-plan.js';
export { planInboundPlaintext, planInboundTunnel, recheck } from './proxy/inbound-plan.js';
export type { InboundPlan, InboundTunnelFacts, PlaintextFacts } from './proxy/inbound-plan.js';
export type { OutboundStep, OutboundTrace } from './proxy/outbound-plan.js';
export type { InboundStep, InboundTrace } from './proxy/inbound-plan.js';
export type { MatchBranch } from './config/matcher.js';
export { BoundedCache } from './bounded-cache.js';
export { compileEnvoyModel } from './config/compile.js';
export type { EnvoyResources } from './config/compile.js';
