export { generateZtunnelConfig } from './ztunnel.js';
export type { ZtunnelConfig } from './ztunnel.js';
export type { EnvoyResource, Json, JsonObject } from './envoy.js';
export {
  OUTBOUND_LISTENER,
  INBOUND_LISTENER,
  INBOUND_PLAINTEXT_LISTENER,
  VIRTUAL_INBOUND_CLUSTER,
  BLACKHOLE_CLUSTER,
  PASSTHROUGH_CLUSTER,
  PASSTHROUGH_FILTER_CHAIN,
  ROOT_CA_SECRET,
  STRICT_MTLS_POLICY_KEY,
  ZTUNNEL_OUTBOUND_PORT,
  ZTUNNEL_INBOUND_PLAINTEXT_PORT,
  HBONE_PORT,
  outboundInternalName,
  outboundDirectName,
  tunnelListenerName,
  tunnelClusterName,
  inboundChainName,
  inboundPlaintextChainName,
  rbacPolicyKey,
  parseRbacPolicyKey,
  protocolOf,
} from './names.js';
export { generateWaypointConfig, waypointGatewayOfPod } from './waypoint/index.js';
