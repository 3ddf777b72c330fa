export { TYPE_URL, TYPE_URL_PREFIX, messageNameOfTypeUrl, shortTypeName } from './type-urls.js';
export type { XdsTypeUrl } from './type-urls.js';
export { ENVOY_PROTO_FILES, ISTIO_WORKLOAD_PROTO_FILES, envoyProtoRoot, envoyProtoLoadTimeMs } from './protos.js';
export {
  encodeResource,
  decodeResource,
  encodeResourceResult,
  decodeResourceResult,
  encodeMessage,
  decodeMessage,
  canonicalResource,
} from './codec.js';
export type { EncodedAny, JsonObject, ResourceJson, CodecResult } from './codec.js';
export {
  ADS_SERVICE_NAME,
  ADS_STREAM_METHOD_PATH,
  ADS_DELTA_METHOD_PATH,
  GRPC_CODE_INVALID_ARGUMENT,
  WILDCARD_RESOURCE_NAME,
  aggregatedDiscoveryServiceDefinition,
  serializeDiscoveryRequest,
  deserializeDiscoveryRequest,
  serializeDiscoveryResponse,
  deserializeDiscoveryResponse,
  serializeDeltaDiscoveryRequest,
  deserializeDeltaDiscoveryRequest,
  serializeDeltaDiscoveryResponse,
  deserializeDeltaDiscoveryResponse,
  resourceNameOf,
} from './ads.js';
export type { XdsNode, DiscoveryRequest, DiscoveryResponse, DeltaDiscoveryRequest, DeltaDiscoveryResponse, DeltaResource } from './ads.js';
export {
  XdsClient,
  XDS_CLIENT_CHANNELS,
  DEFAULT_XDS_TYPE_URLS,
  XDS_INITIAL_BACKOFF_MS,
  XDS_MAX_BACKOFF_MS,
  XDS_MAX_RECEIVE_MESSAGE_BYTES,
} from './xds-client.js';
export type { XdsClientOptions, XdsResourcesUpdate, XdsNack, XdsValidator, XdsTypeState, XdsProtocol } from './xds-client.js';
export { buildConfigDump, configDumpInputFromTypeStates, CONFIG_DUMP_TYPE_URL } from './config-dump.js';
export type { ConfigDumpInput, ConfigDumpTypeState, ConfigDumpSecret } from './config-dump.js';
export { CaClient, caServiceDefinition, structStringField, IMPERSONATED_IDENTITY_KEY } from './ca-service.js';
export type { IstioCertificateRequest, IstioCertificateResponse, CreateCertificateOptions } from './ca-service.js';
