/**
 * The waypoint's own certificate: one identity (from LDS, `spiffe://<td>/ns/<ns>/sa/<gateway>`),
 * a key and CSR, signed by istiod-lite's CA, renewed at half-life, retried with backoff.
 *
 * Invariants: `credentials` is replaced by a new object on renewal (the HBONE server caches TLS
 * state per object: live connections keep theirs); a failed signing keeps the previous
 * certificate; `close()` stops the timer (idempotent). ztunnel's CertManager does the same for
 * many identities; a shared package would serve both (see README).
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
const MAX_TIMER_MS = 2_147_483_647;

export interface CertificateState {
  identity: string;
  state: 'pending' | 'ready' | 'error';
  serialNumber?: string;
  notBefore?: string;
  notAfter?: string;
  renewAt?: string;
  error?: string;
}

export class WaypointCertificate extends EventEmitter {
  readonly #sign: CertificateSigner;
  #identity: string | undefined;
  #credentials: HboneCredentials | undefined;
  #secureContext: SecureContext | undefined;
  #info: { serialNumber: string; notBefore: Date; notAfter: Date; renewAt: Date } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #lastError: string | undefined;
  #waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  #generation = 0;
  #closed = false;

  constructor(sign: CertificateSigner) {
    super();
    this.#sign = sign;
  }

  /** Sets the identity to hold; a change fetches a new certificate. */
  setIdentity(identity: string): void {
    if (this.#closed || identity === this.#identity) return;
    parseSpiffeUri(identity);
    this.#identity = identity;
    this.#credentials = undefined;
    this.#secureContext = undefined;
    this.#info = undefined;
    this.#generation++;
    void this.#fetch(this.#generation);
  }

  get identity(): string | undefined {
    return this.#identity;
  }

  get credentials(): HboneCredentials | undefined {
    return this.#credentials;
  }

  /** The client TLS context, waiting for the first certificate. */
  async secureContext(): Promise<SecureContext> {
    if (this.#closed) throw new MeshError('WAYPOINT_ERR_CLOSED', 'certificate is closed');
    if (this.#secureContext) return this.#secureContext;
    await new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    return this.#secureContext as unknown as SecureContext;
  }

  status(): CertificateState | undefined {
    if (!this.#identity) return undefined;
    return {
      identity: this.#identity,
      state: this.#credentials ? 'ready' : this.#lastError ? 'error' : 'pending',
      ...(this.#info ? { serialNumber: this.#info.serialNumber, notBefore: this.#info.notBefore.toISOString(), notAfter: this.#info.notAfter.toISOString(), renewAt: this.#info.renewAt.toISOString() } : {}),
      ...(this.#lastError ? { error: this.#lastError } : {}),
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const w of this.#waiters.splice(0)) w.reject(new MeshError('WAYPOINT_ERR_CLOSED', 'certificate is closed'));
  }

  async #fetch(generation: number): Promise<void> {
    const identity = this.#identity as string;
    try {
      const { keyPem, csrPem } = await generateKeyAndCsr(parseSpiffeUri(identity));
      const chain = await this.#sign({ identity, csrPem });
      if (chain.length < 1) throw new MeshError('WAYPOINT_ERR_CERT', 'the CA returned an empty chain');
      if (generation !== this.#generation || this.#closed) return;
      const leaf = chain[0] as string;
      const info = certificateInfo(leaf);
      const renewAt = renewalTime(leaf);
      this.#credentials = { keyPem, certChainPem: chain.length > 1 ? chain.slice(0, -1).join('') : leaf, rootCertPem: chain[chain.length - 1] as string };
      this.#secureContext = createHboneSecureContext(this.#credentials);
      this.#info = { serialNumber: info.serialNumber, notBefore: info.notBefore, notAfter: info.notAfter, renewAt };
      this.#failures = 0;
      this.#lastError = undefined;
      for (const w of this.#waiters.splice(0)) w.resolve();
      this.emit('certificate', { identity, serialNumber: info.serialNumber, notAfter: info.notAfter.toISOString() });
      this.#schedule(generation, renewAt.getTime() - Date.now());
    } catch (err) {
      if (generation !== this.#generation || this.#closed) return;
      this.#failures++;
      this.#lastError = (err as Error).message;
      const delay = Math.min(CERT_RETRY_MAX_MS, CERT_RETRY_INITIAL_MS * 2 ** (this.#failures - 1));
      this.emit('error-retry', { identity, error: this.#lastError, retryInMs: delay });
      this.#schedule(generation, delay);
    }
  }

  #schedule(generation: number, delayMs: number): void {
    clearTimeout(this.#timer);
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.#fetch(generation), Math.min(Math.max(0, delayMs), MAX_TIMER_MS));
    this.#timer.unref();
  }
}
