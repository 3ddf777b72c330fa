import { X509Certificate } from 'node:crypto';
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
      subject: 'O=cluster.local',
    });
    expect(info.serialNumber).toBe(new X509Certificate(certPem).serialNumber.toLowerCase());
  });
});
