export { Ztunnel } from './ztunnel.js';
export type { ZtunnelOptions } from './ztunnel.js';
export { parseConfig, ZtunnelConfigSchema, HELP_TEXT } from './config.js';
export type { ZtunnelConfig } from './config.js';
export { ModelStore } from './xds/model-store.js';
// The planner the authorization-semantics suite drives directly (e2e/authz-semantics), from its home.
export { planInboundPlaintext, planInboundTunnel, type RuntimeModel } from '@mesh/ztunnel-plan';
export { CertManager } from '@mesh/workload-identity';
export type { CertificateSigner } from '@mesh/workload-identity';
