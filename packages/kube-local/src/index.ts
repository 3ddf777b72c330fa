export { KUBE_TOOLS_DIR, kubeToolPath, kubeToolsMissing, realCrds, type GatewayApiChannel, type KubeTool } from './tools.js';
export { DEFAULT_CONTROLLERS, installCrds, startLocalKube, type LocalKube, type LocalKubeOptions } from './cluster.js';
export { ENDPOINTSLICE_CONTROLLER, NODE_LEASE_DURATION_SECONDS, NODE_LEASE_NAMESPACE, NODE_LEASE_RENEW_MS, readyEndpointAddresses, setNodeStatus, setPodStatus, startNodeLeases, type NodeLeases } from './kubelet.js';
export { kubectl } from './kubectl.js';
export { clusterRoleForUser, deletionsFor, kubectlTarget, manifestsForApply, objectsForApply, parseManifests, PLACEHOLDER_POD_IMAGE, type ManifestObject } from './manifests.js';
export { DEFAULT_TOKEN_EXPIRATION_SECONDS, startProjectedToken, TOKEN_RENEW_FRACTION, tokenRenewDelayMs, writeConfigMapKey, type ProjectedToken, type ProjectedTokenOptions } from './projected.js';
