import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyAndCsr } from './csr.js';
import type { KeyAndCsr } from './csr.js';
import { CLOCK_SKEW_BACKDATE_MS, DEFAULT_WORKLOAD_CERT_TTL_MS, RootCa, ROOT_CERT_FILE, ROOT_KEY_FILE, requestedUrisOfCsr } from './root-ca.js';
import type { SpiffeId } from './spiffe.js';
import { certificateInfo, verifyChain } from './verify.js';
import { writeTestCacerts } from './testing.js';

const sleep: SpiffeId = { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'sleep' };
const httpbin: SpiffeId = { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'httpbin' };

let ca: RootCa;
let sleepCsr: KeyAndCsr;
let dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-pki-'));
  dirs.push(dir);
  return dir;
};

beforeAll(async () => {
  ca = RootCa.create();
  sleepCsr = await generateKeyAndCsr(sleep);
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs = [];
});

describe('RootCa files', () => {
  it('saves and loads the same root, with the key file 0600', async () => {
    const dir = join(tempDir(), 'ca');
    const created = RootCa.loadOrCreate(dir, { trustDomain: 'mesh.example' });
    expect(statSync(join(dir, ROOT_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, ROOT_CERT_FILE)).mode & 0o777).toBe(0o644);

    const loaded = RootCa.loadOrCreate(dir);
    expect(loaded.rootCertPem).toBe(created.rootCertPem);
    expect(loaded.trustDomain).toBe('mesh.example');
    // The loaded key signs: a cert it issues verifies against the root created earlier.
    const { csrPem } = await generateKeyAndCsr({ ...sleep, trustDomain: 'mesh.example' });
    const issued = loaded.issueWorkloadCert({ csrPem, identity: { ...sleep, trustDomain: 'mesh.example' } });
    expect(() => verifyChain(issued.chainPem, created.rootCertPem)).not.toThrow();
  });

  it('refuses a key file readable by group or others', () => {
    const dir = tempDir();
    ca.save(dir);
    chmodSync(join(dir, ROOT_KEY_FILE), 0o644);
    expect(() => RootCa.load(dir)).toThrow(expect.objectContaining({ code: 'PKI_ERR_KEY_PERMISSIONS' }));
    expect(() => RootCa.loadOrCreate(dir)).toThrow(expect.objectContaining({ code: 'PKI_ERR_KEY_PERMISSIONS' }));
  });

  it('reports a missing root, and refuses to replace half of one', () => {
    const dir = tempDir();
    expect(() => RootCa.load(dir)).toThrow(expect.objectContaining({ code: 'PKI_ERR_ROOT_NOT_FOUND' }));
    ca.save(dir);
    unlinkSync(join(dir, ROOT_CERT_FILE));
    expect(() => RootCa.loadOrCreate(dir)).toThrow(expect.objectContaining({ code: 'PKI_ERR_ROOT_INCOMPLETE' }));
  });

  it('refuses a key that does not belong to the certificate', () => {
    const dir = tempDir();
    ca.save(dir);
    const other = tempDir();
    RootCa.create().save(other);
    writeFileSync(join(dir, ROOT_CERT_FILE), RootCa.load(other).rootCertPem);
    expect(() => RootCa.load(dir)).toThrow(expect.objectContaining({ code: 'PKI_ERR_ROOT_INVALID' }));
  });
});

describe('RootCa root certificate', () => {
  it('is a CA certificate Node accepts as an issuer', () => {
    const root = new X509Certificate(ca.rootCertPem);
    expect(root.ca).toBe(true);
    expect(root.subjectAltName).toBe('URI:spiffe://cluster.local');
    expect(ca.trustDomain).toBe('cluster.local');
  });
});

describe('RootCa.issueWorkloadCert', () => {
  it('issues an SVID as Istio does: empty subject, the SPIFFE URI as the only (critical) SAN, key identifiers, for TLS client and server use', () => {
    const issued = ca.issueWorkloadCert({ csrPem: sleepCsr.csrPem, identity: sleep });
    const leaf = new X509Certificate(issued.certPem);
    expect(leaf.subjectAltName).toBe('URI:spiffe://cluster.local/ns/default/sa/sleep');
    expect(leaf.ca).toBe(false);
    expect(leaf.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
    expect(leaf.checkIssued(new X509Certificate(ca.rootCertPem))).toBe(true);
    expect(leaf.subject).toBe('');
    expect(leaf.checkPrivateKey(createPrivateKey(sleepCsr.keyPem))).toBe(true);

    const parsed = forge.pki.certificateFromPem(issued.certPem);
    const san = parsed.getExtension('subjectAltName') as { critical?: boolean; altNames: unknown[] };
    expect(san.critical).toBe(true);
    expect(san.altNames).toEqual([{ type: 6, value: 'spiffe://cluster.local/ns/default/sa/sleep' }]);
    expect(parsed.getExtension('keyUsage')).toMatchObject({ digitalSignature: true, keyEncipherment: true, keyCertSign: false });
    const ski = parsed.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier: string };
    expect(ski.subjectKeyIdentifier).toMatch(/^[0-9a-f]{40}$/);
    const rootSki = (forge.pki.certificateFromPem(ca.rootCertPem).getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier: string }).subjectKeyIdentifier;
    const aki = parsed.getExtension('authorityKeyIdentifier') as { value: string };
    expect(Buffer.from(aki.value, 'binary').toString('hex')).toContain(rootSki);

    expect(issued.chainPem).toBe(issued.certPem + ca.rootCertPem);
    expect(issued.serialNumber).toMatch(/^[0-7][0-9a-f]{31}$/);
    expect(certificateInfo(issued.certPem).serialNumber).toBe(issued.serialNumber);
  });

  it('backdates notBefore for clock skew and lasts the default TTL', () => {
    const before = Date.now();
    const issued = ca.issueWorkloadCert({ csrPem: sleepCsr.csrPem, identity: sleep });
    expect(issued.notBefore.getTime()).toBeLessThanOrEqual(before - CLOCK_SKEW_BACKDATE_MS);
    expect(issued.notBefore.getTime()).toBeGreaterThan(before - CLOCK_SKEW_BACKDATE_MS - 2_000);
    expect(issued.notAfter.getTime() - issued.notBefore.getTime()).toBeGreaterThanOrEqual(DEFAULT_WORKLOAD_CERT_TTL_MS);
    expect(issued.notAfter.getTime() - before).toBeLessThanOrEqual(DEFAULT_WORKLOAD_CERT_TTL_MS);
  });

  it('honours ttlMs and an explicit notBefore', () => {
    const notBefore = new Date('2030-01-01T00:00:00Z');
    const issued = ca.issueWorkloadCert({ csrPem: sleepCsr.csrPem, identity: sleep, ttlMs: 3600_000, notBefore });
    expect(issued.notBefore).toEqual(notBefore);
    expect(issued.notAfter).toEqual(new Date('2030-01-01T01:00:00Z'));
  });

  it('refuses a CSR that asks for another identity', () => {
    expect(() => ca.issueWorkloadCert({ csrPem: sleepCsr.csrPem, identity: httpbin })).toThrow(
      expect.objectContaining({ code: 'PKI_ERR_CSR_IDENTITY_MISMATCH' }),
    );
  });

  it('refuses a CSR or an identity of another trust domain', async () => {
    const foreign = await generateKeyAndCsr({ ...sleep, trustDomain: 'other.example' });
    expect(() => ca.issueWorkloadCert({ csrPem: foreign.csrPem, identity: sleep })).toThrow(
      expect.objectContaining({ code: 'PKI_ERR_TRUST_DOMAIN_MISMATCH' }),
    );
    expect(() => ca.issueWorkloadCert({ csrPem: foreign.csrPem, identity: { ...sleep, trustDomain: 'other.example' } })).toThrow(
      expect.objectContaining({ code: 'PKI_ERR_TRUST_DOMAIN_MISMATCH' }),
    );
  });

  it('refuses a CSR whose signature does not verify', () => {
    expect(() => ca.issueWorkloadCert({ csrPem: tamperWithSignature(sleepCsr.csrPem), identity: sleep })).toThrow(
      expect.objectContaining({ code: 'PKI_ERR_CSR_SIGNATURE' }),
    );
  });

  it('refuses something that is not a CSR', () => {
    expect(() => ca.issueWorkloadCert({ csrPem: ca.rootCertPem, identity: sleep })).toThrow(expect.objectContaining({ code: 'PKI_ERR_BAD_CSR' }));
  });
});

describe('RootCa.issueCert', () => {
  it('issues a certificate with arbitrary URI SANs and a common name', async () => {
    const node = await generateKeyAndCsr({ uris: ['spiffe://cluster.local/node/node-1'], commonName: 'node-1' });
    const issued = ca.issueCert({ csrPem: node.csrPem, uris: ['spiffe://cluster.local/node/node-1'], commonName: 'node-1' });
    expect(certificateInfo(issued.certPem)).toMatchObject({ uris: ['spiffe://cluster.local/node/node-1'], subject: 'CN=node-1' });
    expect(() => ca.issueCert({ csrPem: node.csrPem, uris: ['spiffe://cluster.local/node/node-2'] })).toThrow(
      expect.objectContaining({ code: 'PKI_ERR_CSR_IDENTITY_MISMATCH' }),
    );
  });
});

describe('generateKeyAndCsr', () => {
  it('refuses a bad identity or URI before generating a key', async () => {
    await expect(generateKeyAndCsr({ ...sleep, namespace: '' })).rejects.toMatchObject({ code: 'PKI_ERR_BAD_SPIFFE_ID' });
    await expect(generateKeyAndCsr({ uris: ['not a uri'] })).rejects.toMatchObject({ code: 'PKI_ERR_INVALID_ARGUMENT' });
  });
});

/** Flips one bit of the CSR's signature, which is the last element of the DER encoding. */
function tamperWithSignature(csrPem: string): string {
  const block = forge.pem.decode(csrPem)[0]!;
  const body = Buffer.from(block.body, 'binary');
  body[body.length - 1]! ^= 0x01;
  return forge.pem.encode({ ...block, body: body.toString('binary') });
}

describe('requestedUrisOfCsr', () => {
  it('reads the URI SANs of a CSR whose signature verifies, and refuses a tampered one', async () => {
    const { csrPem } = await generateKeyAndCsr({ trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'sleep' });
    expect(requestedUrisOfCsr(csrPem)).toEqual(['spiffe://cluster.local/ns/default/sa/sleep']);
    const csr = forge.pki.certificationRequestFromPem(csrPem);
    (csr.signature as unknown as string[]) = 'x'.repeat(256) as unknown as string[];
    const tampered = forge.pki.certificationRequestToPem(csr);
    expect(() => requestedUrisOfCsr(tampered)).toThrow(expect.objectContaining({ code: 'PKI_ERR_CSR_SIGNATURE' }));
    expect(() => requestedUrisOfCsr('not a csr')).toThrow(expect.objectContaining({ code: 'PKI_ERR_BAD_CSR' }));
  });
});

describe('RootCa.loadPluggedIn (Istio cacerts)', () => {
  const cacerts = (options: Parameters<typeof writeTestCacerts>[1]) => {
    const dir = tempDir();
    writeTestCacerts(dir, options);
    return dir;
  };

  it('a root whose subject is exactly O=cluster.local (Istio\'s): leaves verify with OpenSSL, never taken for self-signed', () => {
    const ca = RootCa.loadPluggedIn(cacerts({}), { trustDomain: 'cluster.local' });
    expect(new X509Certificate(ca.rootCertPem).subject).toBe('O=cluster.local');
    expect(ca.caChain).toEqual([ca.rootCertPem]);
    const issued = ca.issueWorkloadCert({ csrPem: sleepCsr.csrPem, identity: sleep });
    const leaf = new X509Certificate(issued.certPem);
    // Under the old O=<trust domain> subject, subject = issuer: OpenSSL's DEPTH_ZERO_SELF_SIGNED_CERT.
    expect(leaf.subject).not.toBe(leaf.issuer);
    expect(leaf.verify(new X509Certificate(ca.rootCertPem).publicKey)).toBe(true);
    expect(verifyChain(issued.chainPem, ca.rootCertPem)).toEqual(sleep);
  });

  it('an intermediate with its chain: leaves chain leaf → intermediate → root', () => {
    const ca = RootCa.loadPluggedIn(cacerts({ intermediate: true }), { trustDomain: 'cluster.local' });
    expect(ca.signingCertPem).not.toBe(ca.rootCertPem);
    expect(ca.caChain).toEqual([ca.signingCertPem, ca.rootCertPem]);
    const issued = ca.issueWorkloadCert({ csrPem: sleepCsr.csrPem, identity: sleep });
    expect(issued.chainPem).toBe(issued.certPem + ca.signingCertPem + ca.rootCertPem);
    expect(new X509Certificate(issued.certPem).checkIssued(new X509Certificate(ca.signingCertPem))).toBe(true);
    expect(verifyChain(issued.chainPem, ca.rootCertPem)).toEqual(sleep);
    // Without the intermediate the leaf does not verify against the root.
    expect(() => verifyChain(issued.certPem, ca.rootCertPem)).toThrow(expect.objectContaining({ code: 'PKI_ERR_CHAIN_UNTRUSTED' }));
  });

  it('refuses files that are not one CA, naming what is wrong', () => {
    const a = cacerts({ intermediate: true });
    const b = cacerts({ intermediate: true });
    expect(() => RootCa.loadPluggedIn(tempDir(), { trustDomain: 'cluster.local' })).toThrow(expect.objectContaining({ code: 'PKI_ERR_ROOT_NOT_FOUND' }));
    const incomplete = cacerts({});
    unlinkSync(join(incomplete, 'cert-chain.pem'));
    expect(() => RootCa.loadPluggedIn(incomplete, { trustDomain: 'cluster.local' })).toThrow(expect.objectContaining({ code: 'PKI_ERR_ROOT_INCOMPLETE', message: expect.stringContaining('cert-chain.pem') }));
    // Another root: the intermediate does not chain to it.
    writeFileSync(join(a, 'root-cert.pem'), readFileSync(join(b, 'root-cert.pem')));
    expect(() => RootCa.loadPluggedIn(a, { trustDomain: 'cluster.local' })).toThrow(expect.objectContaining({ code: 'PKI_ERR_ROOT_INVALID', message: expect.stringContaining('is not signed by') }));
    // Another key.
    const c = cacerts({ intermediate: true });
    writeFileSync(join(c, 'ca-key.pem'), readFileSync(join(b, 'ca-key.pem')), { mode: 0o600 });
    expect(() => RootCa.loadPluggedIn(c, { trustDomain: 'cluster.local' })).toThrow(expect.objectContaining({ code: 'PKI_ERR_ROOT_INVALID', message: expect.stringContaining('private key does not belong') }));
    const open = cacerts({});
    chmodSync(join(open, 'ca-key.pem'), 0o644);
    expect(() => RootCa.loadPluggedIn(open, { trustDomain: 'cluster.local' })).toThrow(expect.objectContaining({ code: 'PKI_ERR_KEY_PERMISSIONS' }));
  });
});
