export {
  ADMIN_ADDRESS_METADATA_KEY,
  ADMIN_SOCKET_METADATA_KEY,
  ADMIN_NETNS_METADATA_KEY,
  adminEndpointMetadata,
  adminEndpointFromMetadata,
  isLoopbackAddress,
  type AdminEndpoint,
} from './endpoint.js';
export { currentNetworkNamespace, findNetworkNamespace, NAMED_NETNS_DIR } from './netns.js';
export {
  listenOperatorHttp,
  listenReadOnlyHttp,
  MAX_UNIX_SOCKET_PATH_BYTES,
  READ_ONLY_HEADERS_TIMEOUT_MS,
  READ_ONLY_REQUEST_TIMEOUT_MS,
  READ_ONLY_KEEP_ALIVE_TIMEOUT_MS,
  READ_ONLY_MAX_CONNECTIONS,
  type OperatorHttpOptions,
  type OperatorHttpServer,
  type ReadOnlyHttpServer,
} from './serve.js';
