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
export type { RbacDecision, RbacFilter, RbacFilterTrace, RbacLayer, RbacPolicy, RbacRequest } from './rbac.js';
