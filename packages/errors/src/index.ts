export { MeshError, isMeshError, hasCode } from './mesh-error.js';
export type { MeshErrorOptions } from './mesh-error.js';
