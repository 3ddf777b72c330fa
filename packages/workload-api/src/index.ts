export { ipToBytes, ipToBase64, ipFromBytes, ipFromBase64, networkAddress, splitNetworkAddress } from './address.js';
export { policyKey, serviceKey, workloadIdentity, isZtunnelDump } from './dump.js';
export type {
  ZtunnelDump,
  ZtunnelWorkload,
  ZtunnelService,
  ZtunnelEndpoint,
  ZtunnelPolicy,
  ZtunnelPolicyMatch,
  ZtunnelPolicyScope,
  ZtunnelPolicyAction,
  ZtunnelStringMatch,
  ZtunnelServiceAccountMatch,
  ZtunnelGatewayAddress,
  ZtunnelCertificate,
  ZtunnelPorts,
  ZtunnelProtocol,
  ZtunnelWorkloadStatus,
} from './dump.js';
export {
  addressFromXds,
  addressResourceName,
  workloadFromXds,
  serviceFromXds,
  authorizationFromXds,
  authorizationResourceName,
  DEFAULT_CLUSTER_ID,
  DEFAULT_SERVICE_ACCOUNT,
} from './from-xds.js';
export type { AddressRecord, ConvertOptions } from './from-xds.js';
export { joinEndpoints, endpointTargetPort } from './endpoints.js';
export { groupPolicyName, policyRbacPolicies, policiesFor, workloadRbacFilters } from './rbac.js';
