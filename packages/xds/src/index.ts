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
