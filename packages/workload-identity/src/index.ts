export { CertManager, CERT_RETRY_INITIAL_MS, CERT_RETRY_MAX_MS } from './cert-manager.js';
export type { CertManagerOptions, CertificateSigner, CertificateStatus } from './cert-manager.js';
export { BOOTSTRAP_FILES, CA_REQUEST_DEADLINE_MS, caSigner, controlPlaneCredentials, controlPlaneToken } from './control-plane.js';
export type { TokenCredentialOptions } from './control-plane.js';
