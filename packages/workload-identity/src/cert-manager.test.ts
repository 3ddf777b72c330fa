import { describe, expect, it, onTestFinished } from 'vitest';
import { hasCode } from '@mesh/errors';
import { waitFor } from '@mesh/testing';
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
    onTestFinished(() => certs.close());
    certs.setIdentities([ID]);
    await certs.secureContext(ID);
    const first = certs.credentials(ID);
    expect(first?.rootCertPem).toBe(ca.rootPem);
    expect(certs.status()[0]).toMatchObject({ identity: ID, state: 'ready' });
    const second = await waitFor(() => certs.credentials(ID) !== first && certs.credentials(ID), { what: 'the renewed credentials' });
    expect(log.length).toBeGreaterThanOrEqual(2);
    expect(second).not.toBe(first);
    expect(second?.certChainPem).not.toBe(first?.certChainPem);
  });

  it('renews at half the lifetime left on arrival, not of a backdated notBefore (short lifetimes do not renew in a loop)', async () => {
    const { generateKeyAndCsr } = await import('@mesh/pki');
    const kc = await generateKeyAndCsr(parseSpiffeUri(ID));
    // 4 s left, notBefore a minute back (the CA's clock-skew backdate): half of notBefore..notAfter is long past.
    const sign = async ({ identity, csrPem }: { identity: string; csrPem: string }) => [
      ca.ca.issueWorkloadCert({ csrPem, identity: parseSpiffeUri(identity), ttlMs: 64_000, notBefore: new Date(Date.now() - 60_000) }).certPem,
      ca.rootPem,
    ];
    const certs = new CertManager({ sign, generateKeyAndCsr: async () => kc });
    onTestFinished(() => certs.close());
    certs.setIdentities([ID]);
    await certs.secureContext(ID);
    const renewIn = Date.parse(certs.status()[0]!.renewAt!) - Date.now();
    expect(renewIn).toBeGreaterThan(1_000);
    expect(renewIn).toBeLessThanOrEqual(2_000);
  });

  it('refuses new connections with a certificate that expired while renewal failed, saying why', async () => {
    const { generateKeyAndCsr } = await import('@mesh/pki');
    const kc = await generateKeyAndCsr(parseSpiffeUri(ID));
    let calls = 0;
    const certs = new CertManager({
      sign: async (req) => {
        if (++calls > 1) throw new Error('14 UNAVAILABLE: connect ECONNREFUSED 10.77.0.2:15012');
        // 4 s from a notBefore 1 s back, truncated to the second: valid 2–3 s from now (with 2 s it
        // was 0–1 s, and on a busy machine it had expired before the first check below).
        return signer(4_000, [])(req);
      },
      generateKeyAndCsr: async () => kc,
    });
    onTestFinished(() => certs.close());
    certs.setIdentities([ID]);
    await certs.secureContext(ID);
    expect(() => certs.assertUsable(ID)).not.toThrow();
    // Refused once expired; on a busy machine the first refusal may come before the failed renewal's
    // reason is known ("no answer from the CA yet"), so wait for the refusal that names it.
    const error = await waitFor(
      () => certs.secureContext(ID).then(() => undefined, (err: unknown) => (/could not be renewed: 14 UNAVAILABLE/.test(String(err)) ? err : undefined)),
      { timeoutMs: 30_000, what: 'the certificate to expire, refused with the renewal failure' },
    );
    expect(hasCode(error, 'IDENTITY_ERR_CERT_EXPIRED')).toBe(true);
    expect(String(error)).toMatch(new RegExp(`workload certificate of ${ID} expired at .* could not be renewed: 14 UNAVAILABLE`));
    expect(() => certs.assertUsable(ID)).toThrow(/expired/);
  });

  /**
   * A CertManager holding a first certificate of `ttlMs` from a notBefore 1 s back (so valid for
   * `ttlMs` − 1 s at most, the second truncated: keep it ≥ 3 s) for ID, whose CA can be switched off
   * (`ca.up = false`: it then fails as an unreachable istiod-lite does); `ca.calls` counts signings.
   */
  async function withSwitchableCa(ttlMs: number, retryInitialMs: number) {
    const { generateKeyAndCsr } = await import('@mesh/pki');
    const kc = await generateKeyAndCsr(parseSpiffeUri(ID));
    const ca = { up: true, calls: 0 };
    const certs = new CertManager({
      sign: async (req) => {
        ca.calls++;
        if (!ca.up) throw new Error('14 UNAVAILABLE: connect ECONNREFUSED 10.77.0.2:15012');
        return signer(ttlMs, [])(req);
      },
      retryInitialMs,
      generateKeyAndCsr: async () => kc,
    });
    onTestFinished(() => certs.close());
    const retries: Array<{ retryInMs: number }> = [];
    certs.on('error-retry', (e: { retryInMs: number }) => retries.push(e));
    certs.setIdentities([ID]);
    await certs.secureContext(ID);
    return { certs, ca, retries, first: certs.credentials(ID) };
  }

  it('asks the CA again at once when a connection is refused for an expired certificate, ahead of a long backoff', async () => {
    // A backoff that, once the CA has failed, waits longer than the test allows for renewal.
    const { certs, ca, first } = await withSwitchableCa(3_000, 20_000);
    ca.up = false;
    // Expired while the CA is away: renewal failures pile up and the backoff grows.
    await waitFor(() => certs.secureContext(ID).then(() => false, (err: unknown) => hasCode(err, 'IDENTITY_ERR_CERT_EXPIRED')), { what: 'the certificate to expire' });
    const failedSoFar = ca.calls;
    ca.up = true;
    // The next refused connection asks again, so the certificate is back within seconds,
    // not after the 20 s backoff runs out.
    const renewed = await waitFor(
      () => certs.secureContext(ID).then(() => certs.credentials(ID) !== first && certs.credentials(ID), () => false),
      { timeoutMs: 10_000, what: 'a certificate renewed on demand' },
    );
    expect(renewed).toBeTruthy();
    expect(ca.calls).toBeGreaterThan(failedSoFar);
    expect(() => certs.assertUsable(ID)).not.toThrow();
  });

  it('asks the CA again at once when the control plane is back (retryFailedNow), ahead of a long backoff', async () => {
    // Once the CA has failed, the next attempt is further away than the test waits.
    const { certs, ca, retries, first } = await withSwitchableCa(3_000, 60_000);
    ca.up = false;
    await waitFor(() => retries.length > 0, { what: 'a renewal to fail while the CA is away' });
    ca.up = true;
    certs.retryFailedNow();
    const renewed = await waitFor(() => certs.credentials(ID) !== first && certs.credentials(ID), { timeoutMs: 10_000, what: 'a certificate once the control plane is back' });
    expect(renewed).toBeTruthy();
    // Nothing failing is asked for again: a second call while all is well starts no signing.
    const before = retries.length;
    certs.retryFailedNow();
    expect(retries.length).toBe(before);
  });

  it('when the control plane is back, a retry that still fails (the CA channel not yet reconnected) is followed soon, not after the grown backoff', async () => {
    const { certs, ca, retries, first } = await withSwitchableCa(60_000, 100);
    ca.up = false;
    // A renewal fails and its backoff grows: 100, 200, 400, 800 ms, the next 1.6 s away.
    certs.setIdentities([]);
    certs.setIdentities([ID]);
    await waitFor(() => retries.length >= 4, { what: 'four failed signings' });
    expect(retries[3]!.retryInMs).toBe(800);
    // The control plane is back but the CA's channel is not yet: the at-once attempt fails too...
    certs.retryFailedNow();
    await waitFor(() => retries.length >= 5, { what: 'the at-once attempt to fail' });
    // ...and the one after it comes at the initial backoff again.
    expect(retries[4]!.retryInMs).toBe(100);
    ca.up = true;
    await waitFor(() => certs.credentials(ID) !== undefined && certs.credentials(ID) !== first, { timeoutMs: 2_000, what: 'the certificate soon after' });
  }, 20_000);

  it('serving an expired certificate asks the CA again at once, so an identity that only accepts connections recovers too', async () => {
    // Once the CA has failed, the next attempt is further away than the test waits.
    const { certs, ca, first } = await withSwitchableCa(3_000, 60_000);
    expect(certs.serverCredentials(ID)).toBe(first);
    ca.up = false;
    await waitFor(() => Date.parse(certs.status()[0]!.notAfter!) < Date.now(), { timeoutMs: 10_000, what: 'the certificate to expire' });
    const failedSoFar = ca.calls;
    ca.up = true;
    // The expired one is still presented (the client names the expiry when it refuses it)...
    expect(certs.serverCredentials(ID)).toBe(first);
    // ...and the CA is asked again (at most once a second), ahead of the 60 s backoff: connections
    // keep arriving, each presenting the expired certificate until the renewed one is there.
    const renewed = await waitFor(() => certs.serverCredentials(ID) !== first && certs.credentials(ID), { timeoutMs: 5_000, what: 'a certificate renewed on demand' });
    expect(ca.calls).toBeGreaterThan(failedSoFar);
    expect(certs.serverCredentials(ID)).toBe(renewed);
  }, 20_000);

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
    onTestFinished(() => certs.close());
    certs.setIdentities([ID]);
    await expect(certs.secureContext(ID)).resolves.toBeDefined();
    expect(calls).toBe(2);
    certs.setIdentities([]);
    expect(certs.status()).toEqual([]);
    expect(certs.credentials(ID)).toBeUndefined();
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
