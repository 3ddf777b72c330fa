import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestCa } from './testing.js';
import type { TestCa } from './testing.js';
import { certificateInfo, identityFromCertificate, subjectAltNameUris, verifyChain } from './verify.js';

const SLEEP_URI = 'spiffe://cluster.local/ns/default/sa/sleep';
const sleep = { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'sleep' };
const HOUR_MS = 3600_000;

let mesh: TestCa;
let otherMesh: TestCa;
beforeAll(() => {
  mesh = createTestCa();
  otherMesh = createTestCa();
});

describe('verifyChain', () => {
  it('accepts a chain issued by the root and returns the identity', () => {
    const { chainPem, certPem } = mesh.issue(SLEEP_URI);
    expect(verifyChain(chainPem, mesh.rootPem)).toEqual(sleep);
    // The leaf alone is enough when the verifier already trusts the root.
    expect(verifyChain(certPem, mesh.rootPem)).toEqual(sleep);
  });

  it('refuses a chain from another root, even when it carries that root along', () => {
    const { chainPem } = otherMesh.issue(SLEEP_URI);
    expect(() => verifyChain(chainPem, mesh.rootPem)).toThrow(expect.objectContaining({ code: 'PKI_ERR_CHAIN_UNTRUSTED' }));
  });

  it('refuses an expired certificate, and one not yet valid', () => {
    const expired = mesh.issue(SLEEP_URI, { notBefore: new Date(Date.now() - 2 * HOUR_MS), ttlMs: HOUR_MS });
    expect(() => verifyChain(expired.chainPem, mesh.rootPem)).toThrow(expect.objectContaining({ code: 'PKI_ERR_CERT_EXPIRED' }));
    const future = mesh.issue(SLEEP_URI, { notBefore: new Date(Date.now() + HOUR_MS) });
    expect(() => verifyChain(future.chainPem, mesh.rootPem)).toThrow(expect.objectContaining({ code: 'PKI_ERR_CERT_NOT_YET_VALID' }));
    // `at` moves the verification time: the future certificate is fine two hours from now.
    expect(verifyChain(future.chainPem, mesh.rootPem, new Date(Date.now() + 2 * HOUR_MS))).toEqual(sleep);
  });

  it('refuses a leaf without exactly one workload SPIFFE ID', () => {
    for (const uris of [[], [SLEEP_URI, 'spiffe://cluster.local/ns/default/sa/other'], ['https://example.com/x']]) {
      const { chainPem } = mesh.issue(SLEEP_URI, { uris });
      expect(() => verifyChain(chainPem, mesh.rootPem)).toThrow(expect.objectContaining({ code: 'PKI_ERR_BAD_SPIFFE_ID' }));
    }
  });

  it('refuses a leaf of another trust domain signed by this root', () => {
    const { chainPem } = mesh.issue('spiffe://other.example/ns/default/sa/sleep');
    expect(() => verifyChain(chainPem, mesh.rootPem)).toThrow(expect.objectContaining({ code: 'PKI_ERR_TRUST_DOMAIN_MISMATCH' }));
  });

  it('follows an intermediate CA carried in the chain', () => {
    const { intermediatePem, leafPem } = leafUnderIntermediate(mesh);
    expect(verifyChain(leafPem + intermediatePem + mesh.rootPem, mesh.rootPem)).toEqual(sleep);
    expect(() => verifyChain(leafPem + mesh.rootPem, mesh.rootPem)).toThrow(expect.objectContaining({ code: 'PKI_ERR_CHAIN_UNTRUSTED' }));
  });

  it('reports garbage as a bad certificate', () => {
    expect(() => verifyChain('not a pem', mesh.rootPem)).toThrow(expect.objectContaining({ code: 'PKI_ERR_BAD_CERTIFICATE' }));
  });
});

describe('identityFromCertificate', () => {
  it('reads the SPIFFE ID from PEM and from a Node X509Certificate', () => {
    const { certPem } = mesh.issue(SLEEP_URI);
    expect(identityFromCertificate(certPem)).toEqual(sleep);
    expect(identityFromCertificate(new X509Certificate(certPem))).toEqual(sleep);
  });

  it('refuses a certificate without a SPIFFE ID', () => {
    const { certPem } = mesh.issue(SLEEP_URI, { uris: [] });
    expect(() => identityFromCertificate(certPem)).toThrow(expect.objectContaining({ code: 'PKI_ERR_BAD_SPIFFE_ID' }));
  });

  it('parses Node subjectAltName strings, including quoted values', () => {
    expect(subjectAltNameUris('DNS:a.example, URI:spiffe://td/ns/a/sa/b, IP Address:10.0.0.1')).toEqual(['spiffe://td/ns/a/sa/b']);
    expect(subjectAltNameUris('URI:"https://x/a, b", URI:spiffe://td/ns/a/sa/b')).toEqual(['https://x/a, b', 'spiffe://td/ns/a/sa/b']);
    expect(subjectAltNameUris(undefined)).toEqual([]);
  });
});

describe('certificateInfo', () => {
  it('shows serial, validity, URIs, issuer and subject', () => {
    const notBefore = new Date('2030-05-01T10:00:00Z');
    const { certPem } = mesh.issue(SLEEP_URI, { notBefore, ttlMs: HOUR_MS });
    const info = certificateInfo(certPem);
    expect(info).toMatchObject({
      notBefore,
      notAfter: new Date('2030-05-01T11:00:00Z'),
      uris: [SLEEP_URI],
      issuer: 'O=cluster.local, CN=Mesh Root CA',
      subject: '',
    });
    expect(info.serialNumber).toBe(new X509Certificate(certPem).serialNumber.toLowerCase());
  });
});

/**
 * Root → intermediate CA → leaf for SLEEP_URI, built with forge directly: RootCa only issues leafs,
 * but verifyChain must also accept chains from a plugged-in intermediate (Istio's cacerts).
 */
function leafUnderIntermediate(testCa: TestCa): { intermediatePem: string; leafPem: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-pki-'));
  let rootKey: forge.pki.rsa.PrivateKey;
  try {
    testCa.ca.save(dir);
    rootKey = forge.pki.privateKeyFromPem(readFileSync(join(dir, 'root-key.pem'), 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const root = forge.pki.certificateFromPem(testCa.rootPem);
  const newKey = () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    return forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  };
  const build = (opts: { subject: string; issuer: forge.pki.Certificate; ca: boolean; key: forge.pki.rsa.PrivateKey; signer: forge.pki.rsa.PrivateKey; uri: string }) => {
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.setRsaPublicKey(opts.key.n, opts.key.e);
    cert.serialNumber = '01' + Math.floor(Math.random() * 1e8).toString(16).padStart(8, '0');
    cert.validity.notBefore = new Date(Date.now() - HOUR_MS);
    cert.validity.notAfter = new Date(Date.now() + HOUR_MS);
    cert.setSubject([{ shortName: 'O', value: 'cluster.local' }, { shortName: 'CN', value: opts.subject }]);
    cert.setIssuer(opts.issuer.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: opts.ca, critical: true },
      { name: 'subjectAltName', altNames: [{ type: 6, value: opts.uri }] },
    ]);
    cert.sign(opts.signer, forge.md.sha256.create());
    return cert;
  };
  const intermediateKey = newKey();
  const intermediate = build({ subject: 'Intermediate CA', issuer: root, ca: true, key: intermediateKey, signer: rootKey, uri: 'spiffe://cluster.local' });
  const leaf = build({ subject: 'sleep', issuer: intermediate, ca: false, key: newKey(), signer: intermediateKey, uri: SLEEP_URI });
  return { intermediatePem: forge.pki.certificateToPem(intermediate), leafPem: forge.pki.certificateToPem(leaf) };
}
