import { describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import { parseSpiffeUri } from '@mesh/pki';
import { createTestCa } from '@mesh/pki/testing';
import { CertManager } from './cert-manager.js';

const ID = 'spiffe://cluster.local/ns/default/sa/sleep';

describe('CertManager', () => {
  const ca = createTestCa();

  function signer(ttlMs: number, log: string[]) {
    return async ({ identity, csrPem }: { identity: string; csrPem: string }) => {
      log.push(identity);
      const issued = ca.ca.issueWorkloadCert({ csrPem, identity: parseSpiffeUri(identity), ttlMs, notBefore: new Date(Date.now() - 1_000) });
      return [issued.certPem, ca.rootPem];
    };
  }

  it('fetches a certificate per identity and renews it at half-life with a new credentials object', async () => {
    const { generateKeyAndCsr } = await import('@mesh/pki');
    const kc = await generateKeyAndCsr(parseSpiffeUri(ID));
    const log: string[] = [];
    // 4 s lifetime → renewal after ~1.5 s (notBefore is 1 s in the past).
    const certs = new CertManager({ sign: signer(4_000, log), generateKeyAndCsr: async () => kc });
    certs.setIdentities([ID]);
    await certs.secureContext(ID);
    const first = certs.credentials(ID);
    expect(first?.rootCertPem).toBe(ca.rootPem);
    expect(certs.status()[0]).toMatchObject({ identity: ID, state: 'ready' });
    await new Promise((r) => setTimeout(r, 2_500));
    const second = certs.credentials(ID);
    expect(log.length).toBeGreaterThanOrEqual(2);
    expect(second).not.toBe(first);
    expect(second?.certChainPem).not.toBe(first?.certChainPem);
    certs.close();
  });

  it('retries a failed signing and forgets identities no longer needed', async () => {
    const { generateKeyAndCsr } = await import('@mesh/pki');
    const kc = await generateKeyAndCsr(parseSpiffeUri(ID));
    let calls = 0;
    const certs = new CertManager({
      sign: async (req) => {
        calls++;
        if (calls === 1) throw new Error('CA unavailable');
        return signer(60_000, [])(req);
      },
      generateKeyAndCsr: async () => kc,
    });
    certs.setIdentities([ID]);
    await expect(certs.secureContext(ID)).resolves.toBeDefined();
    expect(calls).toBe(2);
    certs.setIdentities([]);
    expect(certs.status()).toEqual([]);
    expect(certs.credentials(ID)).toBeUndefined();
    certs.close();
  });
});

describe('CertManager lifecycle', () => {
  it('close() fails waiting secureContext() calls with IDENTITY_ERR_CLOSED and is idempotent', async () => {
    const certs = new CertManager({ sign: () => new Promise(() => undefined), generateKeyAndCsr: async () => ({ keyPem: 'k', csrPem: 'c' }) });
    const identity = 'spiffe://cluster.local/ns/echo/sa/waypoint';
    certs.setIdentities([identity]);
    const waiting = certs.secureContext(identity);
    certs.close();
    certs.close();
    await expect(waiting).rejects.toSatisfy((err: unknown) => hasCode(err, 'IDENTITY_ERR_CLOSED'));
    await expect(certs.secureContext(identity)).rejects.toSatisfy((err: unknown) => hasCode(err, 'IDENTITY_ERR_CLOSED'));
  });
});
