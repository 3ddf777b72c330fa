export {
  UnsupportedConfig,
  attempt,
  anyType,
  durationMs,
  isRecord,
  list,
  onlyKnown,
  optionalNumber,
  optionalRecord,
  optionalString,
  record,
  string,
  typedConfig,
} from './json.js';
export type { JsonRecord } from './json.js';
export { stringMatcher, fullMatchRegex } from './string-matcher.js';
export { cidrContains, cidrRange, formatAddress, ipToBigint, normalizeIp, parseCidr, splitAddress } from './cidr.js';
export type { Cidr } from './cidr.js';
export { compileRbacFilter, evaluateRbac, traceRbac } from './rbac.js';
export type { RbacAction, RbacDecision, RbacFilter, RbacFilterTrace, RbacLayer, RbacPolicy, RbacRequest, RbacRules, RbacShadowResult } from './rbac.js';
export { RbacShadowStats, rbacMetadata, reportRbac, shadowLogLine } from './rbac-report.js';
export { compileUriTemplate } from './uri-template.js';
export {
  ZTUNNEL_OUTBOUND_PORT,
  ZTUNNEL_INBOUND_PLAINTEXT_PORT,
  OUTBOUND_LISTENER,
  INBOUND_LISTENER,
  INBOUND_PLAINTEXT_LISTENER,
  VIRTUAL_INBOUND_CLUSTER,
  BLACKHOLE_CLUSTER,
  PASSTHROUGH_CLUSTER,
  PASSTHROUGH_FILTER_CHAIN,
  BLACKHOLE_FILTER_CHAIN,
  TUNNEL_LISTENER_PREFIX,
  TUNNEL_CLUSTER_PREFIX,
  ORIGINAL_DST_HEADER,
  CONNECT_TERMINATE,
  MAIN_INTERNAL,
  CONNECT_ORIGINATE,
  CORS_FILTER,
  ROOT_CA_SECRET,
  ISTIO_METADATA_NAMESPACE,
  CHAIN_SERVICE_METADATA_KEY,
  chainServiceMetadata,
  tunnelListenerName,
  tunnelClusterName,
} from './names.js';
export { metadataMatcher } from './metadata-matcher.js';
export type { DynamicMetadata } from './metadata-matcher.js';
