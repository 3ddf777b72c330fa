import { generateKeyPair } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { pkiError } from './errors.js';
import type { ForgeCsr } from './forge-x509.js';
import { forge, forgePublicKey, GENERAL_NAME_URI, nodeRsaSigner, sha256 } from './forge-x509.js';
import { spiffeUri } from './spiffe.js';
import type { SpiffeId } from './spiffe.js';

/** RSA 2048, as Istio's default workload key (`WORKLOAD_RSA_KEY_SIZE`). */
export const RSA_KEY_BITS = 2048;

/** A fresh private key (PKCS#8 PEM) and a CSR for it (PKCS#10 PEM). */
export interface KeyAndCsr {
  keyPem: string;
  csrPem: string;
}

/** What a non-workload principal asks for: arbitrary URI SANs (e.g. a ztunnel node identity). */
export interface CsrSubject {
  uris: string[];
  commonName?: string;
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** Generates an RSA key pair with OpenSSL, asynchronously (off the event loop), PKCS#8 PEM. */
export async function generateRsaKey(): Promise<KeyObject> {
  const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: RSA_KEY_BITS });
  return privateKey;
}

function isSpiffeId(subject: SpiffeId | CsrSubject): subject is SpiffeId {
  return 'trustDomain' in subject;
}

/** The URI SANs a CSR for `subject` asks for; throws on an invalid SPIFFE ID or URI. */
function requestedUris(subject: SpiffeId | CsrSubject): string[] {
  if (isSpiffeId(subject)) return [spiffeUri(subject)];
  for (const uri of subject.uris) assertUri(uri);
  return subject.uris;
}

/** Builds and signs (SHA-256) a CSR for `privateKey` requesting the subject's URI SANs. */
export function buildCsrPem(privateKey: KeyObject, subject: SpiffeId | CsrSubject): string {
  const uris = requestedUris(subject);
  const csr: ForgeCsr = forge.pki.createCertificationRequest();
  csr.publicKey = forgePublicKey(privateKey);
  if (isSpiffeId(subject)) {
    // Istio's CSRs carry the trust domain as the organisation; the CA ignores the subject anyway.
    csr.setSubject([{ shortName: 'O', value: subject.trustDomain }]);
  } else {
    csr.setSubject(subject.commonName === undefined ? [] : [{ shortName: 'CN', value: subject.commonName }]);
  }
  if (uris.length > 0) {
    csr.setAttributes([
      {
        name: 'extensionRequest',
        extensions: [{ name: 'subjectAltName', altNames: uris.map((value) => ({ type: GENERAL_NAME_URI, value })) }],
      },
    ]);
  }
  csr.sign(nodeRsaSigner(privateKey), sha256());
  return forge.pki.certificationRequestToPem(csr);
}

/** Checks that `uri` is an absolute URI, so a typo cannot end up in a certificate. */
export function assertUri(uri: string): void {
  if (typeof uri !== 'string' || !URL.canParse(uri)) {
    throw pkiError('PKI_ERR_INVALID_ARGUMENT', `"${String(uri)}" is not an absolute URI`, { context: { uri } });
  }
}

/**
 * A new RSA key and a CSR asking for the identity's SPIFFE URI (or the given URIs). The key never
 * leaves the caller: only the CSR goes to the CA.
 */
export async function generateKeyAndCsr(identity: SpiffeId | CsrSubject): Promise<KeyAndCsr> {
  requestedUris(identity); // fail on a bad identity before spending time on a key
  const privateKey = await generateRsaKey();
  const csrPem = buildCsrPem(privateKey, identity);
  return { keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), csrPem };
}
