/**
 * Test fixtures: a throw-away root CA that issues SVIDs synchronously, and plugged-in CAs in
 * Istio's `cacerts` layout (a root, or a root and an intermediate). Exported as
 * `@mesh/pki/testing`; never use it outside tests.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCsrPem, RSA_KEY_BITS } from './csr.js';
import { forge, forgePublicKey, nodeRsaSigner, randomSerialNumber, sha256, toPem } from './forge-x509.js';
import { RootCa } from './root-ca.js';
import { parseSpiffeUri, spiffeUri } from './spiffe.js';
import type { SpiffeId } from './spiffe.js';

export interface TestIssueOptions {
  ttlMs?: number;
  notBefore?: Date;
  /** Replace the SANs (e.g. none, two, or a non-SPIFFE URI) to test rejection paths. */
  uris?: string[];
}

export interface TestCa {
  ca: RootCa;
  rootPem: string;
  /** Key + certificate (+ chain: leaf then root) for an identity, synchronously. */
  issue(identity: SpiffeId | string, opts?: TestIssueOptions): { keyPem: string; certPem: string; chainPem: string };
}

/**
 * A fresh root CA for one test file. For speed, every certificate from one TestCa shares one RSA key
 * (generated on first `issue()`): keys take ~50–200 ms to generate, signing ~1 ms. Tests that need
 * distinct keys must use `generateKeyAndCsr` and `ca.issueWorkloadCert`.
 */
export interface TestCaOptions {
  trustDomain?: string;
  /** Plug the CA in as Istio's cacerts would (see `writeTestCacerts`) instead of a self-signed root. */
  cacerts?: Omit<TestCacertsOptions, 'trustDomain'>;
}

export function createTestCa(opts: TestCaOptions = {}): TestCa {
  const ca = opts.cacerts ? loadTestCacerts({ ...opts.cacerts, ...(opts.trustDomain ? { trustDomain: opts.trustDomain } : {}) }) : RootCa.create(opts);
  let shared: { key: KeyObject; keyPem: string; csrPem: string } | undefined;
  const sharedKey = () => {
    if (shared === undefined) {
      const { privateKey: key } = generateKeyPairSync('rsa', { modulusLength: RSA_KEY_BITS });
      // A CSR without SANs: the CA then grants whatever identity the test asks for.
      shared = { key, keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(), csrPem: buildCsrPem(key, { uris: [] }) };
    }
    return shared;
  };
  return {
    ca,
    rootPem: ca.rootCertPem,
    issue(identity, issueOpts = {}) {
      const id = typeof identity === 'string' ? parseSpiffeUri(identity) : identity;
      const { keyPem, csrPem } = sharedKey();
      const { ttlMs, notBefore } = issueOpts;
      // Identities of another trust domain (or replaced SANs) bypass the workload checks on purpose,
      // so tests can build the certificates a verifier must reject.
      const issued =
        issueOpts.uris === undefined && id.trustDomain === ca.trustDomain
          ? ca.issueWorkloadCert({ csrPem, identity: id, ttlMs, notBefore })
          : ca.issueCert({ csrPem, uris: issueOpts.uris ?? [spiffeUri(id)], ttlMs, notBefore });
      return { keyPem, certPem: issued.certPem, chainPem: issued.chainPem };
    },
  };
}

export interface TestCacertsOptions {
  trustDomain?: string;
  /**
   * The root's subject; default `O=<trust domain>`, exactly what Istio's own self-signed root
   * carries (a leaf with that subject would look self-signed to OpenSSL).
   */
  rootSubject?: Array<{ shortName: string; value: string }>;
  /** Sign with an intermediate under the root (the usual plug-in CA) instead of the root itself. */
  intermediate?: boolean;
}

/**
 * Writes Istio's plug-in CA files into `dir`: `root-cert.pem`, `ca-cert.pem` + `ca-key.pem` (the
 * intermediate, or the root itself), `cert-chain.pem` (the signing certificate up to the root).
 */
export function writeTestCacerts(dir: string, opts: TestCacertsOptions = {}): void {
  const trustDomain = opts.trustDomain ?? 'cluster.local';
  const rootKey = generateKeyPairSync('rsa', { modulusLength: RSA_KEY_BITS }).privateKey;
  const rootSubject = opts.rootSubject ?? [{ shortName: 'O', value: trustDomain }];
  const root = caCertificate(rootKey, rootSubject, rootKey, rootSubject);
  let signingKey = rootKey;
  let signing = root;
  if (opts.intermediate) {
    signingKey = generateKeyPairSync('rsa', { modulusLength: RSA_KEY_BITS }).privateKey;
    signing = caCertificate(signingKey, [{ shortName: 'O', value: trustDomain }, { shortName: 'CN', value: 'Intermediate CA' }], rootKey, rootSubject, root);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'root-cert.pem'), root);
  writeFileSync(join(dir, 'ca-cert.pem'), signing);
  writeFileSync(join(dir, 'ca-key.pem'), signingKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
  writeFileSync(join(dir, 'cert-chain.pem'), opts.intermediate ? signing + root : root);
}

function loadTestCacerts(opts: TestCacertsOptions): RootCa {
  const dir = mkdtempSync(join(tmpdir(), 'test-cacerts-'));
  try {
    writeTestCacerts(dir, opts);
    return RootCa.loadPluggedIn(dir, { trustDomain: opts.trustDomain ?? 'cluster.local' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function caCertificate(
  key: KeyObject,
  subject: Array<{ shortName: string; value: string }>,
  issuerKey: KeyObject,
  issuerSubject: Array<{ shortName: string; value: string }>,
  issuerPem?: string,
): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forgePublicKey(key);
  cert.serialNumber = randomSerialNumber();
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 365 * 24 * 3600_000);
  cert.setSubject(subject);
  cert.setIssuer(issuerSubject);
  const issuerKeyId = issuerPem ? (forge.pki.certificateFromPem(issuerPem).getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier: string }).subjectKeyIdentifier : undefined;
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true, ...(issuerPem ? { pathLenConstraint: 0 } : {}) },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    ...(issuerKeyId ? [{ name: 'authorityKeyIdentifier', keyIdentifier: forge.util.hexToBytes(issuerKeyId) }] : []),
  ]);
  cert.sign(nodeRsaSigner(issuerKey), sha256());
  return toPem(forge.pki.certificateToPem(cert));
}
