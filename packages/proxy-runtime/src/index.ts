export {
  configDumpSecrets,
  listenProxySurfaces,
  PROMETHEUS_CONTENT_TYPE,
  readOnlyHandler,
  sendJson,
  sendText,
  serveLogging,
  type Handler,
  type ProxySurfaceAddresses,
  type ProxySurfaces,
  type ProxySurfacesOptions,
} from './admin.js';
export { SwapModelStore, type Candidate, type ModelChange, type XdsModelStore } from './model-store.js';
export { counterLines, escapeLabelValue, formatLabels, sumMatching } from './prometheus.js';
export { RoundRobin } from './round-robin.js';
export { startProxyXds, type ProxyXdsOptions } from './xds.js';
