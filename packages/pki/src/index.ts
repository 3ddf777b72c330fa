export { DEFAULT_TRUST_DOMAIN, spiffeUri, parseSpiffeUri, isValidTrustDomain } from './spiffe.js';
export type { SpiffeId } from './spiffe.js';
export {
  RootCa,
  requestedUrisOfCsr,
  DEFAULT_WORKLOAD_CERT_TTL_MS,
  DEFAULT_ROOT_CERT_VALIDITY_MS,
  CLOCK_SKEW_BACKDATE_MS,
  ROOT_CERT_FILE,
  ROOT_KEY_FILE,
} from './root-ca.js';
export type { RootCaOptions, IssuedCert, WorkloadCertRequest, CertRequest } from './root-ca.js';
export { generateKeyAndCsr } from './csr.js';
export type { KeyAndCsr, CsrSubject } from './csr.js';
export { verifyChain, identityFromCertificate, certificateInfo, subjectAltNameUris, spiffeServerIdentityCheck } from './verify.js';
export type { CertificateInfo } from './verify.js';
export { renewalTime, shouldRenew, DEFAULT_RENEWAL_FRACTION } from './rotation.js';
export type { ValidityWindow } from './rotation.js';
export type { PkiErrorCode } from './errors.js';
