export { parseManifests, parseManifestFiles, resourceKey, keepLastGood } from './parse.js';
export { ANNOTATION_DRY_RUN } from './security-kinds.js';
export { SOURCE_FIELDS, OPERATION_FIELDS, DOCUMENTED_CONDITION_KEYS, conditionKey, reaches } from './authz-attributes.js';
export type { EnforcementPoint, SourceField, OperationField, ConditionKey, ConditionValueKind } from './authz-attributes.js';
export { checkSnapshot } from './check.js';
export type { SnapshotCheckCode } from './check.js';
export { analyzePolicies, unevaluableAttributes } from './enforcement.js';
export type { PolicyFinding, FindingLevel } from './enforcement.js';
export { httpRouteStatus, resolveBackendRef, attachedHttpRoutes, GATEWAY_API_GROUP } from './route-status.js';
export type { HttpRouteStatus, RouteParentStatus, RouteCondition, RouteConditionType, RouteRefProblem, BackendResolution, BackendProblemReason, AttachedRoutes } from './route-status.js';
export { gatewayDurationMs } from './schema.js';
export {
  buildSnapshot,
  objectKey,
  spiffeUri,
  serviceHostname,
  matchesSelector,
  DEFAULT_ROOT_NAMESPACE,
  CLUSTER_DOMAIN,
  LABEL_DATAPLANE_MODE,
  DATAPLANE_MODE_AMBIENT,
  DATAPLANE_MODE_NONE,
  LABEL_USE_WAYPOINT,
  LABEL_USE_WAYPOINT_NAMESPACE,
  LABEL_WAYPOINT_FOR,
  WAYPOINT_FOR_VALUES,
  LABEL_GATEWAY_NAME,
  WAYPOINT_GATEWAY_CLASS,
  podChangesOf,
} from './snapshot.js';
export type { WaypointFor, MeshSnapshot, GrantSubject, GrantTarget, Identity, ServiceEndpoint, PodPolicies, EffectiveMtlsMode, SnapshotOptions, SliceEndpoint, PodChanges, ResourceChanges } from './snapshot.js';
export { patchMap } from './patched-map.js';
export type {
  ManifestError,
  ParseResult,
  MeshResource,
  MeshResourceKind,
  SourceRef,
  Labels,
  Namespace,
  ServiceAccount,
  Node,
  Pod,
  Container,
  ContainerPort,
  Protocol,
  Service,
  ServicePort,
  LabelSelector,
  PolicyTargetRef,
  AuthorizationPolicy,
  AuthorizationAction,
  AuthorizationRule,
  AuthorizationSource,
  AuthorizationOperation,
  AuthorizationCondition,
  PeerAuthentication,
  MtlsMode,
  Gateway,
  GatewayListener,
  GatewayAddress,
  HttpRoute,
  HttpRouteRule,
  HttpRouteMatch,
  HttpRouteFilter,
  HttpRouteFilterType,
  HeaderModifier,
  HttpPathModifier,
  UrlRewrite,
  RequestRedirect,
  RedirectStatusCode,
  RequestMirror,
  CorsPolicy,
  BackendObjectRef,
  BackendRef,
  ReferenceGrant,
  ParentRef,
  PathMatchType,
  ValueMatchType,
} from './types.js';
