export { generateZtunnelConfig } from './ztunnel.js';
export type { ZtunnelConfig } from './ztunnel.js';
export { generateZtunnelChanges } from './ztunnel-changes.js';
export type { ZtunnelChanges, TypeChanges as ZtunnelTypeChanges } from './ztunnel-changes.js';
export type { EnvoyResource, Json, JsonObject } from './envoy.js';
export {
  ROOT_CA_SECRET,
  STRICT_MTLS_POLICY_KEY,
  outboundDirectName,
  inboundChainName,
  inboundPlaintextChainName,
  rbacPolicyKey,
  parseRbacPolicyKey,
  protocolOf,
} from './names.js';
export { generateWaypointConfig, waypointGatewayOfPod } from './waypoint/index.js';
