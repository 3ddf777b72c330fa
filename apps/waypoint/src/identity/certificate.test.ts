import { describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import { parseSpiffeUri } from '@mesh/pki';
import { createTestCa } from '@mesh/pki/testing';
import { WaypointCertificate, type CertificateSigner } from './certificate.js';

const WAYPOINT = 'spiffe://cluster.local/ns/echo/sa/waypoint';
const ca = createTestCa();
const signer =
  (ttlMs: number, calls: string[] = []): CertificateSigner =>
  async ({ identity, csrPem }) => {
    calls.push(identity);
    const issued = ca.ca.issueWorkloadCert({ csrPem, identity: parseSpiffeUri(identity), ttlMs });
    return [issued.certPem, ca.rootPem];
  };
const until = async (check: () => boolean, ms = 10_000) => {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('WaypointCertificate', () => {
  it('fetches the identity from LDS and serves the TLS context once signed', async () => {
    const cert = new WaypointCertificate(signer(3_600_000));
    const context = cert.secureContext();
    cert.setIdentity(WAYPOINT);
    await context;
    expect(cert.credentials?.rootCertPem).toBe(ca.rootPem);
    expect(cert.status()).toMatchObject({ identity: WAYPOINT, state: 'ready' });
    cert.close();
  });

  it('renews at half-life with a new credentials object (live TLS state keeps the old one)', async () => {
    const calls: string[] = [];
    const cert = new WaypointCertificate(signer(2_000, calls));
    cert.setIdentity(WAYPOINT);
    await until(() => cert.credentials !== undefined);
    const first = cert.credentials;
    await until(() => cert.credentials !== first, 5_000);
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(cert.status()?.serialNumber).toBeDefined();
    cert.close();
  });

  it('retries a failed signing and keeps reporting the error meanwhile', async () => {
    let failures = 1;
    const flaky: CertificateSigner = async (req) => {
      if (failures-- > 0) throw new Error('CA unavailable');
      return signer(3_600_000)(req);
    };
    const cert = new WaypointCertificate(flaky);
    cert.setIdentity(WAYPOINT);
    await until(() => cert.status()?.state === 'error');
    expect(cert.status()?.error).toBe('CA unavailable');
    await until(() => cert.status()?.state === 'ready', 5_000);
    cert.close();
  });

  it('close() fails waiters with WAYPOINT_ERR_CLOSED and is idempotent', async () => {
    const cert = new WaypointCertificate(() => new Promise(() => undefined));
    const waiting = cert.secureContext();
    cert.close();
    cert.close();
    await expect(waiting).rejects.toSatisfy((err: unknown) => hasCode(err, 'WAYPOINT_ERR_CLOSED'));
  });
});
