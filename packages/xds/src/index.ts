export { TYPE_URL, TYPE_URL_PREFIX, messageNameOfTypeUrl, shortTypeName } from './type-urls.js';
export type { XdsTypeUrl } from './type-urls.js';
export { ENVOY_PROTO_FILES, envoyProtoRoot, envoyProtoLoadTimeMs } from './protos.js';
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
  GRPC_CODE_INVALID_ARGUMENT,
  aggregatedDiscoveryServiceDefinition,
  serializeDiscoveryRequest,
  deserializeDiscoveryRequest,
  serializeDiscoveryResponse,
  deserializeDiscoveryResponse,
  resourceNameOf,
} from './ads.js';
export type { XdsNode, DiscoveryRequest, DiscoveryResponse } from './ads.js';
export { XdsClient, XDS_CLIENT_CHANNELS, DEFAULT_XDS_TYPE_URLS, XDS_INITIAL_BACKOFF_MS, XDS_MAX_BACKOFF_MS, resourcesByName } from './xds-client.js';
export type { XdsClientOptions, XdsResourcesUpdate, XdsNack, XdsValidator, XdsTypeState } from './xds-client.js';
export { buildConfigDump, configDumpInputFromTypeStates, CONFIG_DUMP_TYPE_URL } from './config-dump.js';
export type { ConfigDumpInput, ConfigDumpTypeState, ConfigDumpSecret } from './config-dump.js';
export { CaClient, caServiceDefinition, structStringField, CA_SERVICE_NAME, IMPERSONATED_IDENTITY_KEY } from './ca-service.js';
export type { IstioCertificateRequest, IstioCertificateResponse, CreateCertificateOptions } from './ca-service.js';
