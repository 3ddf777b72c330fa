/**
 * Workload certificates for a proxy's identities (ztunnel's SecretManager: one per local pod
 * identity; a waypoint: its own): a key and CSR per identity, signed by istiod-lite's CA,
 * renewed at half-life.
 *
 * Invariants:
 * - `credentials(id)` returns the same object until the certificate is renewed, then a new one:
 *   the HBONE server caches TLS state per object, so new connections use the new certificate and
 *   live connections keep theirs (no connection is dropped by a renewal).
 * - A failed signing is retried with backoff; the previous certificate (if any) stays in use
 *   until it expires. An expired certificate is never used for a new connection:
 *   `secureContext()` and `assertUsable()` refuse with IDENTITY_ERR_CERT_EXPIRED, naming the
 *   identity, the expiry and why renewal failed. Such a refusal also asks the CA again at once
 *   (at most once per CERT_DEMAND_RETRY_MS), so a proxy whose backoff grew long while the CA was
 *   away recovers on the first connection after the CA is back, not at the next backoff tick.
 *   The serving side does the same: `serverCredentials()` still hands out an expired certificate
 *   (the client then refuses it, saying it expired) and asks the CA again, so an identity that
 *   only ever accepts connections recovers as quickly as one that opens them.
 * - The control plane back (`retryFailedNow()`) starts every failed identity's backoff over: the
 *   CA's own channel may still be waiting out its reconnect backoff when the xDS stream is back,
 *   and an attempt failing then must not leave the next one many seconds away.
 * - Renewal is due after `renewalFraction` of the lifetime left when the certificate arrived
 *   (not of notBefore..notAfter: the CA backdates notBefore for clock skew, which for a short
 *   lifetime would put the renewal in the past and renew in a loop).
 * - Identities no longer needed are forgotten; their timers are cleared.
 * - `close()` stops every timer; idempotent.
 */
import { EventEmitter } from 'node:events';
import type { SecureContext } from 'node:tls';
import { MeshError } from '@mesh/errors';
import { createHboneSecureContext, type HboneCredentials } from '@mesh/hbone-core';
import { certificateInfo, generateKeyAndCsr, parseSpiffeUri, renewalTime } from '@mesh/pki';

/** Signs a CSR for an identity; resolves with the PEM chain, leaf first, root last. */
export type CertificateSigner = (request: { identity: string; csrPem: string }) => Promise<string[]>;

export const CERT_RETRY_INITIAL_MS = 500;
export const CERT_RETRY_MAX_MS = 30_000;
/** How often a refused connection with an expired certificate may ask the CA ahead of the backoff. */
export const CERT_DEMAND_RETRY_MS = 1_000;
/** Never wait longer than this for a renewal timer (setTimeout overflows above 2^31-1 ms). */
const MAX_TIMER_MS = 2_147_483_647;

export interface CertManagerOptions {
  sign: CertificateSigner;
  /** Fraction of the lifetime after which to renew (default 0.5, Istio's). */
  renewalFraction?: number;
  /** First retry delay after a failed signing, doubled per failure up to CERT_RETRY_MAX_MS (default CERT_RETRY_INITIAL_MS). */
  retryInitialMs?: number;
  /** Key + CSR generation; replaceable in tests (RSA keys take 50–200 ms). */
  generateKeyAndCsr?: (identity: string) => Promise<{ keyPem: string; csrPem: string }>;
}

export interface CertificateStatus {
  identity: string;
  state: 'pending' | 'ready' | 'error';
  serialNumber?: string;
  notBefore?: string;
  notAfter?: string;
  renewAt?: string;
  error?: string;
  /** The certificate chain in use (leaf first), PEM; no key. */
  certChainPem?: string;
}

interface Entry {
  identity: string;
  credentials?: HboneCredentials;
  secureContext?: SecureContext;
  info?: { serialNumber: string; notBefore: Date; notAfter: Date; renewAt: Date };
  timer?: NodeJS.Timeout;
  inflight?: Promise<void>;
  /** When the last signing attempt started (ms since the epoch). */
  lastAttemptAt?: number;
  waiters: Array<{ resolve: () => void; reject: (err: Error) => void }>;
  failures: number;
  lastError?: string;
}

export class CertManager extends EventEmitter {
  readonly #options: CertManagerOptions;
  readonly #entries = new Map<string, Entry>();
  #closed = false;

  constructor(options: CertManagerOptions) {
    super();
    this.#options = options;
  }

  /** Makes the held set exactly `identities`: fetches new ones, forgets the rest. */
  setIdentities(identities: Iterable<string>): void {
    if (this.#closed) return;
    const wanted = new Set(identities);
    for (const [id, entry] of this.#entries) {
      if (wanted.has(id)) continue;
      clearTimeout(entry.timer);
      for (const w of entry.waiters) w.reject(new MeshError('ZTUNNEL_ERR_IDENTITY_GONE', `${id} is no longer a local identity`));
      this.#entries.delete(id);
    }
    for (const id of wanted) if (!this.#entries.has(id)) this.#start(id);
  }

  /**
   * Throws IDENTITY_ERR_CERT_EXPIRED when the certificate held for `identity` has expired (its
   * renewal failing): a proxy must not open new mTLS connections with it. No-op otherwise.
   */
  assertUsable(identity: string, now = Date.now()): void {
    const entry = this.#entries.get(identity);
    if (!entry?.info || entry.info.notAfter.getTime() > now) return;
    this.#askAgainOnDemand(entry, now);
    throw new MeshError(
      'IDENTITY_ERR_CERT_EXPIRED',
      `the workload certificate of ${identity} expired at ${entry.info.notAfter.toISOString()} and could not be renewed: ${entry.lastError ?? 'no answer from the CA yet'}`,
      { context: { identity, notAfter: entry.info.notAfter.toISOString(), lastError: entry.lastError }, hint: 'new connections of this identity are refused until istiod-lite (the CA) answers again' },
    );
  }

  /**
   * The control plane is reachable again (its xDS stream reconnected): every identity whose last
   * signing failed asks the CA now, not at its next backoff tick, which after a long outage can be
   * many seconds away while its certificate has already expired.
   */
  retryFailedNow(): void {
    if (this.#closed) return;
    for (const entry of this.#entries.values()) {
      if (entry.failures === 0) continue;
      // Backoff from the start: should this attempt (or one in flight) fail too, the next follows soon.
      entry.failures = 0;
      if (entry.inflight) continue;
      clearTimeout(entry.timer);
      void this.#fetch(entry);
    }
  }

  /** Current credentials of an identity; undefined until the first certificate arrived. */
  credentials(identity: string): HboneCredentials | undefined {
    return this.#entries.get(identity)?.credentials;
  }

  /**
   * The credentials to present as the server of `identity`'s connections. An expired certificate
   * is still returned (the client refuses it and says why) and the CA is asked again at once.
   */
  serverCredentials(identity: string, now = Date.now()): HboneCredentials | undefined {
    const entry = this.#entries.get(identity);
    if (entry?.info && entry.info.notAfter.getTime() <= now) this.#askAgainOnDemand(entry, now);
    return entry?.credentials;
  }

  /** The TLS context for outbound HBONE as `identity`, waiting for the first certificate. */
  async secureContext(identity: string): Promise<SecureContext> {
    if (this.#closed) throw new MeshError('IDENTITY_ERR_CLOSED', 'certificate manager is closed');
    let entry = this.#entries.get(identity);
    if (!entry) entry = this.#start(identity);
    if (entry.secureContext) {
      this.assertUsable(identity);
      return entry.secureContext;
    }
    const current = entry;
    await new Promise<void>((resolve, reject) => current.waiters.push({ resolve, reject }));
    return current.secureContext as SecureContext;
  }

  status(): CertificateStatus[] {
    return [...this.#entries.values()]
      .map((e): CertificateStatus => ({
        identity: e.identity,
        state: e.credentials ? 'ready' : e.lastError ? 'error' : 'pending',
        ...(e.info
          ? { serialNumber: e.info.serialNumber, notBefore: e.info.notBefore.toISOString(), notAfter: e.info.notAfter.toISOString(), renewAt: e.info.renewAt.toISOString() }
          : {}),
        ...(e.lastError ? { error: e.lastError } : {}),
        ...(e.credentials ? { certChainPem: e.credentials.certChainPem } : {}),
      }))
      .sort((a, b) => (a.identity < b.identity ? -1 : 1));
  }

  /** The mesh root the CA returned (last element of its chains), once any certificate arrived. */
  rootCertPem(): string | undefined {
    for (const e of this.#entries.values()) if (e.credentials) return e.credentials.rootCertPem;
    return undefined;
  }

  /** True when every held identity has a certificate. */
  get ready(): boolean {
    return [...this.#entries.values()].every((e) => e.credentials !== undefined);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const entry of this.#entries.values()) {
      clearTimeout(entry.timer);
      for (const w of entry.waiters) w.reject(new MeshError('IDENTITY_ERR_CLOSED', 'certificate manager is closed'));
    }
    this.#entries.clear();
  }

  destroy(): void {
    this.close();
  }

  #start(identity: string): Entry {
    parseSpiffeUri(identity);
    const entry: Entry = { identity, waiters: [], failures: 0 };
    this.#entries.set(identity, entry);
    void this.#fetch(entry);
    return entry;
  }

  /** An expired certificate was needed: ask the CA now, at most once per CERT_DEMAND_RETRY_MS. */
  #askAgainOnDemand(entry: Entry, now: number): void {
    if (!entry.inflight && !this.#closed && now - (entry.lastAttemptAt ?? 0) >= CERT_DEMAND_RETRY_MS) void this.#fetch(entry);
  }

  #fetch(entry: Entry): Promise<void> {
    if (entry.inflight) return entry.inflight;
    entry.lastAttemptAt = Date.now();
    entry.inflight = (async () => {
      try {
        const generate = this.#options.generateKeyAndCsr ?? ((id: string) => generateKeyAndCsr(parseSpiffeUri(id)));
        const { keyPem, csrPem } = await generate(entry.identity);
        const chain = await this.#options.sign({ identity: entry.identity, csrPem });
        if (chain.length < 1) throw new MeshError('ZTUNNEL_ERR_CERT', 'the CA returned an empty chain');
        if (this.#entries.get(entry.identity) !== entry) return;
        const leaf = chain[0] as string;
        const info = certificateInfo(leaf);
        const receivedAt = Date.now();
        const renewAt = renewalTime({ notBefore: new Date(Math.max(info.notBefore.getTime(), receivedAt)), notAfter: info.notAfter }, this.#options.renewalFraction);
        // Chain as TLS sends it: leaf then intermediates; the last element is the root we trust.
        const credentials: HboneCredentials = {
          keyPem,
          certChainPem: chain.length > 1 ? chain.slice(0, -1).join('') : leaf,
          rootCertPem: chain[chain.length - 1] as string,
        };
        entry.credentials = credentials;
        entry.secureContext = createHboneSecureContext(credentials);
        entry.info = { serialNumber: info.serialNumber, notBefore: info.notBefore, notAfter: info.notAfter, renewAt };
        entry.failures = 0;
        delete entry.lastError;
        for (const w of entry.waiters.splice(0)) w.resolve();
        this.emit('certificate', { identity: entry.identity, serialNumber: info.serialNumber, notAfter: info.notAfter.toISOString() });
        this.#schedule(entry, Math.max(0, renewAt.getTime() - Date.now()));
      } catch (err) {
        if (this.#entries.get(entry.identity) !== entry) return;
        entry.failures++;
        entry.lastError = (err as Error).message;
        const delay = Math.min(CERT_RETRY_MAX_MS, (this.#options.retryInitialMs ?? CERT_RETRY_INITIAL_MS) * 2 ** (entry.failures - 1));
        this.emit('error-retry', { identity: entry.identity, error: entry.lastError, retryInMs: delay });
        this.#schedule(entry, delay);
      } finally {
        delete entry.inflight;
      }
    })();
    return entry.inflight;
  }

  #schedule(entry: Entry, delayMs: number): void {
    clearTimeout(entry.timer);
    if (this.#closed) return;
    entry.timer = setTimeout(() => void this.#fetch(entry), Math.min(delayMs, MAX_TIMER_MS));
    entry.timer.unref();
  }
}
