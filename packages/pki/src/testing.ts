/**
 * Test fixtures: a throw-away root CA that issues SVIDs synchronously. Exported as `@mesh/pki/testing`;
 * never use it outside tests.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { buildCsrPem, RSA_KEY_BITS } from './csr.js';
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
export function createTestCa(opts: { trustDomain?: string } = {}): TestCa {
  const ca = RootCa.create(opts);
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
    rootPem: ca.certPem,
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
