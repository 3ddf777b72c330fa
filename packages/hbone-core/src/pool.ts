import { channel } from 'node:diagnostics_channel';
import {
  connect as h2connect,
  constants as h2constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
} from 'node:http2';
import type { Socket } from 'node:net';
import { connect as tlsConnect, type SecureContext, type TLSSocket } from 'node:tls';
import {
  CONNECT_TIMEOUT_MS,
  CONNECTION_WINDOW_BYTES,
  KEEPALIVE_INTERVAL_MS,
  KEEPALIVE_TIMEOUT_MS,
  MAX_FRAME_BYTES,
  MAX_STREAMS_PER_CONNECTION,
  POOL_IDLE_TIMEOUT_MS,
  STREAM_WINDOW_BYTES,
} from './constants.js';
import { HboneErrorCode, hboneError } from './errors.js';
import { buildConnectHeaders, parseAuthority, type ConnectHeaderInput } from './headers.js';
import { peerSpiffeIdentity, tlsAlertFailure, tlsFailure } from './tls.js';

/**
 * `expectedIdentities` for a tunnel whose configuration names no server identity (the Envoy dialect's
 * ORIGINAL_DST tunnel cluster validates the chain against the mesh root only, e.g. traffic
 * addressed straight to a pod IP): any identity of the pool's trust domain is accepted.
 */
export const ANY_IDENTITY_IN_TRUST_DOMAIN = 'any-identity-in-trust-domain';

/** What identifies a pooled connection: who we are, where we go, whom we expect to find there. */
export interface PoolKey {
  /** SPIFFE URI of the workload the tunnel is opened for (selects the client certificate). */
  sourceIdentity: string;
  /** HBONE endpoint, `ip:port` (the destination pod's or waypoint's address, port 15008). */
  destination: string;
  /**
   * SPIFFE URIs the server may present; anything else fails with HBONE_ERR_IDENTITY_MISMATCH.
   * ANY_IDENTITY_IN_TRUST_DOMAIN only requires the trust domain (always checked).
   */
  expectedIdentities: readonly string[] | typeof ANY_IDENTITY_IN_TRUST_DOMAIN;
  /**
   * The local address the connection is opened from: the source pod's IP, so the far side
   * authorizes on an address the client cannot forge (Istio's ztunnel keys its pool by it too).
   * Connections from different addresses are never shared. Undefined: the pool's default.
   */
  bindAddress?: string;
}

export interface OpenTunnelRequest extends PoolKey, Omit<ConnectHeaderInput, 'authority'> {
  /** The tunnel's original destination, `ip:port` (the CONNECT `:authority`). */
  authority: string;
  /**
   * true (default): resolve once the server answered 200, reject on any other status.
   * false: resolve as soon as the CONNECT is sent, so the caller can relay bytes a round trip
   * earlier (HTTP/2 allows DATA right after the request HEADERS; the server holds them until it
   * accepts). A refusal then arrives as an 'error' (HBONE_ERR_REJECTED) on the stream, which
   * `relay()` turns into a reset of the other side.
   */
  waitForResponse?: boolean;
}

export interface HbonePoolOptions {
  /** Mesh trust domain; the server's identity must be in it. */
  trustDomain: string;
  /** Client TLS context (key + cert chain + mesh root) of a source identity; called per new connection, so rotated certificates apply to new connections. */
  secureContextFor(sourceIdentity: string): SecureContext | Promise<SecureContext>;
  maxStreamsPerConnection?: number;
  idleTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  keepaliveTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Local address to connect from when a key names none (a node's address). */
  localAddress?: string;
  /**
   * Opens the TCP connection (default `net.connect`): e.g. with IP_TRANSPARENT, so
   * `localAddress` may be a pod's address that is not local to this host.
   */
  createSocket?: (target: { host: string; port: number; localAddress: string | undefined }) => Socket;
}

/** A pooled connection, for admin views (`/tunnels`). */
export interface PoolConnectionInfo extends PoolKey {
  id: number;
  peerIdentity: string | undefined;
  state: 'connecting' | 'ready' | 'draining';
  activeStreams: number;
  totalStreams: number;
  createdAt: number;
}

const diagnostics = {
  connect: channel('mesh:hbone:pool:connect'),
  connectError: channel('mesh:hbone:pool:connect-error'),
  close: channel('mesh:hbone:pool:close'),
};

let nextConnectionId = 1;

class PooledConnection {
  readonly id = nextConnectionId++;
  readonly key: PoolKey;
  readonly createdAt = Date.now();
  session: ClientHttp2Session | undefined;
  peerIdentity: string | undefined;
  /** Streams open or reserved by opens waiting for this connection's handshake. */
  activeStreams = 0;
  totalStreams = 0;
  draining = false;
  ready: Promise<ClientHttp2Session>;
  #idleTimer: NodeJS.Timeout | undefined;
  /** When the last stream closed (Date.now()); read by the idle timer. */
  #idleSince = 0;
  #keepaliveTimer: NodeJS.Timeout | undefined;
  /** When the PING still waiting for its answer was sent (Date.now()); undefined when none waits. */
  #pingSentAt: number | undefined;
  readonly #pool: HbonePool;

  constructor(pool: HbonePool, key: PoolKey, connecting: Promise<{ session: ClientHttp2Session; peerIdentity: string }>) {
    this.#pool = pool;
    this.key = key;
    this.ready = connecting.then(({ session, peerIdentity }) => {
      this.session = session;
      this.peerIdentity = peerIdentity;
      this.#startKeepalive();
      session.once('goaway', () => this.#drain());
      session.once('close', () => this.#forget());
      session.on('error', () => this.#forget());
      return session;
    });
    this.ready.catch(() => this.#forget());
  }

  get state(): PoolConnectionInfo['state'] {
    return this.draining ? 'draining' : this.session ? 'ready' : 'connecting';
  }

  streamOpened(): void {
    this.activeStreams++;
    this.totalStreams++;
  }

  streamClosed(): void {
    this.activeStreams--;
    if (this.activeStreams > 0) return;
    if (this.draining) {
      this.session?.close();
      return;
    }
    // Idle connections are released after a while; a new tunnel within that time reuses it.
    // One timer per idle period, not one set and cleared per tunnel (sequential tunnels make
    // the connection idle between each): it checks, when it fires, how long the connection has
    // been idle.
    this.#idleSince = Date.now();
    if (!this.#idleTimer) this.#armIdleTimer(this.#pool.idleTimeoutMs);
  }

  #armIdleTimer(ms: number): void {
    this.#idleTimer = setTimeout(() => this.#onIdleTimer(), ms);
    this.#idleTimer.unref();
  }

  #onIdleTimer(): void {
    this.#idleTimer = undefined;
    if (this.activeStreams > 0 || this.draining) return; // the next idle period arms it again
    const left = this.#idleSince + this.#pool.idleTimeoutMs - Date.now();
    if (left > 0) this.#armIdleTimer(left);
    else this.#drain();
  }

  #startKeepalive(): void {
    const interval = this.#pool.keepaliveIntervalMs;
    const timeout = this.#pool.keepaliveTimeoutMs;
    // One PING at a time, and the deadline counts from when the waiting one was sent (as hyper's
    // keep-alive timeout does), not from the last answer: counted from the answer, a PING one
    // interval old already failed a deadline of two intervals whenever the timer ran a little late,
    // so a link down for 8 s — whose TCP retransmission backoff delays the answer past 10 s —
    // dropped live tunnels that the 20 s timeout is there to keep.
    this.#keepaliveTimer = setInterval(() => {
      const session = this.session;
      if (!session || session.destroyed) return;
      if (this.#pingSentAt !== undefined) {
        if (Date.now() - this.#pingSentAt >= timeout) {
          session.destroy(hboneError(HboneErrorCode.KEEPALIVE_TIMEOUT, `no PING answer from ${this.key.destination} for ${timeout} ms`));
        }
        return;
      }
      this.#pingSentAt = Date.now();
      session.ping((err) => {
        if (!err) this.#pingSentAt = undefined;
      });
    }, interval);
    this.#keepaliveTimer.unref();
  }

  /** No new streams; close once the open ones finish (GOAWAY from the peer, idle, or pool close). */
  #drain(): void {
    if (this.draining) return;
    this.draining = true;
    this.#pool.forget(this);
    if (this.activeStreams === 0) this.session?.close();
  }

  #forget(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    if (this.#keepaliveTimer) clearInterval(this.#keepaliveTimer);
    this.draining = true;
    this.#pool.forget(this);
  }

  close(): void {
    this.#drain();
  }

  destroy(): void {
    this.#forget();
    this.session?.destroy();
  }
}

/**
 * A pool of HBONE connections (HTTP/2 over mutual TLS 1.3), keyed by source identity,
 * destination and expected destination identities, as Istio's ztunnel pools them.
 *
 * Invariants: a connection carries at most `maxStreamsPerConnection` tunnels, then another
 * connection is opened; concurrent opens for a key with no connection share one handshake; a
 * connection whose server identity is not expected is never used; a connection that received
 * GOAWAY takes no new tunnels while its open ones finish; idle connections close after
 * `idleTimeoutMs`; a PING is sent every `keepaliveIntervalMs` (one at a time) and a connection
 * whose PING has waited `keepaliveTimeoutMs` for its answer is dropped. `close()` drains, `destroy()` resets; both idempotent;
 * `open()` afterwards fails with HBONE_ERR_POOL_CLOSED.
 */
export class HbonePool {
  readonly #options: HbonePoolOptions;
  readonly #byKey = new Map<string, PooledConnection[]>();
  readonly #all = new Set<PooledConnection>();
  #closed = false;
  #lastKey: (PoolKey & { string: string }) | undefined;
  readonly maxStreamsPerConnection: number;
  readonly idleTimeoutMs: number;
  readonly keepaliveIntervalMs: number;
  readonly keepaliveTimeoutMs: number;

  constructor(options: HbonePoolOptions) {
    this.#options = options;
    this.maxStreamsPerConnection = options.maxStreamsPerConnection ?? MAX_STREAMS_PER_CONNECTION;
    this.idleTimeoutMs = options.idleTimeoutMs ?? POOL_IDLE_TIMEOUT_MS;
    this.keepaliveIntervalMs = options.keepaliveIntervalMs ?? KEEPALIVE_INTERVAL_MS;
    this.keepaliveTimeoutMs = options.keepaliveTimeoutMs ?? KEEPALIVE_TIMEOUT_MS;
  }

  /**
   * Opens a tunnel: CONNECT `authority` on a pooled connection to `destination`. Resolves with
   * the stream once the server answered 200; rejects with HBONE_ERR_REJECTED (status in
   * context) or a connection error otherwise.
   */
  async open(request: OpenTunnelRequest): Promise<ClientHttp2Stream> {
    if (this.#closed) throw hboneError(HboneErrorCode.POOL_CLOSED, 'HBONE pool is closed');
    const headers = rawHeaders(buildConnectHeaders(request));
    const connection = this.#reserve(request);
    // A ready connection is used at once: awaiting its settled promise costs a microtask turn.
    let session = connection.session;
    if (!session) {
      try {
        session = await connection.ready;
      } catch (err) {
        connection.streamClosed();
        throw err;
      }
    }
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(headers, REQUEST_OPTIONS);
    } catch (cause) {
      connection.streamClosed();
      throw hboneError(HboneErrorCode.CONNECT_FAILED, `cannot open a stream to ${request.destination}`, { cause });
    }
    // One shared listener and a property instead of a closure per stream: a closure here would
    // keep this call's whole context (request, session, …) alive as long as the tunnel.
    (stream as PooledStream)[kConnection] = connection;
    stream.on('close', onPooledStreamClose);
    if (request.waitForResponse === false) {
      failOnRefusal(stream, request);
      return stream;
    }
    return awaitResponse(stream, request, session);
  }

  /** Finds a connection with a free stream slot for the key, or starts one; reserves the slot. */
  #reserve(key: PoolKey): PooledConnection {
    const mapKey = this.#keyString(key);
    let list = this.#byKey.get(mapKey);
    if (list) {
      for (const c of list) {
        if (c.draining || c.activeStreams >= this.maxStreamsPerConnection) continue;
        c.streamOpened();
        return c;
      }
    }
    const connection = new PooledConnection(this, key, this.#connect(key));
    if (!list) this.#byKey.set(mapKey, (list = []));
    list.push(connection);
    this.#all.add(connection);
    connection.streamOpened();
    return connection;
  }

  /**
   * poolKeyString of the key, remembered for the last key's fields: successive opens on one
   * connection usually pass the same strings, and a fresh key string is a new (cons) string that
   * the map lookup flattens and hashes each time.
   */
  #keyString(key: PoolKey): string {
    const last = this.#lastKey;
    if (
      last &&
      last.sourceIdentity === key.sourceIdentity &&
      last.destination === key.destination &&
      last.bindAddress === key.bindAddress &&
      sameExpected(last.expectedIdentities, key.expectedIdentities)
    ) {
      return last.string;
    }
    const string = poolKeyString(key);
    const expected = key.expectedIdentities;
    this.#lastKey = {
      sourceIdentity: key.sourceIdentity,
      destination: key.destination,
      bindAddress: key.bindAddress,
      // A copy: the caller may change its array afterwards.
      expectedIdentities: expected === ANY_IDENTITY_IN_TRUST_DOMAIN ? expected : [...expected],
      string,
    };
    return string;
  }

  async #connect(key: PoolKey): Promise<{ session: ClientHttp2Session; peerIdentity: string }> {
    const { host, port } = parseAuthority(key.destination);
    const secureContext = await this.#options.secureContextFor(key.sourceIdentity);
    const localAddress = key.bindAddress ?? this.#options.localAddress;
    const tlsSocket = await new Promise<TLSSocket>((resolve, reject) => {
      let tcp: Socket | undefined;
      try {
        tcp = this.#options.createSocket?.({ host, port, localAddress });
      } catch (err) {
        reject(hboneError(HboneErrorCode.CONNECT_FAILED, `cannot open a connection to ${key.destination} from ${localAddress}: ${(err as Error).message}`, { cause: err }));
        return;
      }
      // Errors of a socket we made reach us through the TLS socket wrapping it.
      tcp?.on('error', () => undefined);
      const socket = tlsConnect({
        ...(tcp ? { socket: tcp } : { host, port, ...(localAddress ? { localAddress } : {}) }),
        secureContext,
        ALPNProtocols: ['h2'],
        // We check the SPIFFE URI SAN ourselves; there is no hostname to verify.
        checkServerIdentity: () => undefined,
        rejectUnauthorized: true,
      });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(hboneError(HboneErrorCode.CONNECT_FAILED, `connect to ${key.destination} timed out`, { context: { destination: key.destination } }));
      }, this.#options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        resolve(socket);
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(tlsFailure(err, key.destination));
      });
    });
    let peerIdentity: string;
    try {
      peerIdentity = peerSpiffeIdentity(tlsSocket, this.#options.trustDomain);
    } catch (err) {
      tlsSocket.destroy();
      throw err;
    }
    if (key.expectedIdentities !== ANY_IDENTITY_IN_TRUST_DOMAIN && !key.expectedIdentities.includes(peerIdentity)) {
      tlsSocket.destroy();
      const err = hboneError(
        HboneErrorCode.IDENTITY_MISMATCH,
        `${key.destination} presented ${peerIdentity}, expected ${key.expectedIdentities.join(' or ') || 'no identity at all (empty list)'}`,
        { context: { destination: key.destination, peerIdentity, expected: key.expectedIdentities } },
      );
      diagnostics.connectError.publish({ key, error: err });
      throw err;
    }
    if (tlsSocket.alpnProtocol !== 'h2') {
      tlsSocket.destroy();
      throw hboneError(HboneErrorCode.CONNECT_FAILED, `${key.destination} did not negotiate h2 (ALPN ${String(tlsSocket.alpnProtocol)})`);
    }
    const session = h2connect(`https://${key.destination}`, {
      createConnection: () => tlsSocket,
      settings: { initialWindowSize: STREAM_WINDOW_BYTES, maxFrameSize: MAX_FRAME_BYTES, enablePush: false },
      maxSessionMemory: 256,
    });
    session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    // The error that ends a connection reaches its streams only as a reset (CANCEL): keep it,
    // so a tunnel that fails before its answer can say why (a TLS alert, under TLS 1.3).
    tlsSocket.on('error', (err) => {
      if (!connectionErrors.has(session)) connectionErrors.set(session, err);
    });
    session.once('remoteSettings', () => spokeHttp2.add(session));
    diagnostics.connect.publish({ key, peerIdentity });
    return { session, peerIdentity };
  }

  forget(connection: PooledConnection): void {
    const mapKey = poolKeyString(connection.key);
    const list = this.#byKey.get(mapKey);
    if (list) {
      const remaining = list.filter((c) => c !== connection);
      if (remaining.length > 0) this.#byKey.set(mapKey, remaining);
      else this.#byKey.delete(mapKey);
    }
    if (!connection.session || connection.session.closed || connection.session.destroyed) {
      if (this.#all.delete(connection)) diagnostics.close.publish({ id: connection.id, key: connection.key });
    } else {
      connection.session.once('close', () => this.#all.delete(connection));
    }
  }

  /** Live connections, for admin views. */
  connections(): PoolConnectionInfo[] {
    return [...this.#all].map((c) => ({
      ...c.key,
      id: c.id,
      peerIdentity: c.peerIdentity,
      state: c.state,
      activeStreams: c.activeStreams,
      totalStreams: c.totalStreams,
      createdAt: c.createdAt,
    }));
  }

  /** Drains every connection: no new tunnels, open ones finish. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closing = [...this.#all].map(
      (c) =>
        new Promise<void>((resolve) => {
          c.ready.then(
            (session) => (session.closed || session.destroyed ? resolve() : session.once('close', () => resolve())),
            () => resolve(),
          );
          c.close();
        }),
    );
    await Promise.all(closing);
  }

  destroy(): void {
    this.#closed = true;
    for (const c of [...this.#all]) c.destroy();
    this.#all.clear();
    this.#byKey.clear();
  }
}

function poolKeyString(key: PoolKey): string {
  const ids = key.expectedIdentities;
  // Computed on every open: skip the copy and sort for the usual one identity.
  const expected = ids === ANY_IDENTITY_IN_TRUST_DOMAIN ? '*' : ids.length === 1 ? (ids[0] as string) : [...ids].sort().join(',');
  return `${key.sourceIdentity}\n${key.destination}\n${expected}\n${key.bindAddress ?? ''}`;
}

/** The same expected identities in the same order (another order only misses the memo). */
function sameExpected(a: PoolKey['expectedIdentities'], b: PoolKey['expectedIdentities']): boolean {
  if (a === ANY_IDENTITY_IN_TRUST_DOMAIN || b === ANY_IDENTITY_IN_TRUST_DOMAIN) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function refusal(status: number, reason: unknown, request: OpenTunnelRequest) {
  return hboneError(HboneErrorCode.REJECTED, `tunnel to ${request.authority} refused with ${status}${reason ? `: ${String(reason)}` : ''}`, {
    context: { status, reason, authority: request.authority, destination: request.destination },
  });
}

function ignoreError(): void {}

const kConnection = Symbol('hbone.pooledConnection');
type PooledStream = ClientHttp2Stream & { [kConnection]?: PooledConnection };
/** `this` is the stream (EventEmitter calls listeners with it); 'close' is emitted once. */
function onPooledStreamClose(this: PooledStream): void {
  this[kConnection]?.streamClosed();
  this[kConnection] = undefined;
}

/** CONNECT carries a body (the tunnel's bytes): never end the request with its HEADERS. */
const REQUEST_OPTIONS = { endStream: false } as const;

/**
 * The headers as node:http2's raw list (`[name, value, …]`): it skips the per-request header
 * object Node otherwise builds and keeps on the stream (`sentHeaders`, unused here) for the
 * tunnel's life.
 */
function rawHeaders(headers: Record<string, string>): string[] {
  const raw: string[] = [];
  for (const name in headers) raw.push(name, headers[name] as string);
  return raw;
}

/** The first error of each pooled TLS connection (see `#connect`). */
const connectionErrors = new WeakMap<ClientHttp2Session, Error>();
/** Pooled sessions whose peer sent its SETTINGS: it spoke HTTP/2. */
const spokeHttp2 = new WeakSet<ClientHttp2Session>();

function failOnRefusal(stream: ClientHttp2Stream, request: OpenTunnelRequest): void {
  stream.once('response', (headers: IncomingHttpHeaders) => {
    const status = Number(headers[':status']);
    if (status !== 200) stream.destroy(refusal(status, headers['x-hbone-reason'], request));
  });
}

/**
 * Why a pooled connection failed, when its streams cannot tell: a TLS alert (under TLS 1.3 a
 * peer refusing our certificate says so only after our handshake completed), or a peer that
 * closed without ever speaking HTTP/2 (a TLS server that drops a client it does not trust
 * without an alert, as Node's does).
 */
function connectionFailure(session: ClientHttp2Session, destination: string): Error | undefined {
  const error = connectionErrors.get(session);
  const alerted = tlsAlertFailure(error, destination);
  if (alerted) return alerted;
  if (!session.destroyed && !session.closed) return undefined;
  if (spokeHttp2.has(session)) return undefined;
  return hboneError(
    HboneErrorCode.CONNECT_FAILED,
    `${destination} closed the connection right after the TLS handshake, before any HTTP/2${error ? ` (${(error as { code?: string }).code ?? error.message})` : ''}`,
    { ...(error ? { cause: error } : {}), context: { destination }, hint: 'an HBONE server does this when it does not trust our certificate; check that both sides use the same root-cert.pem' },
  );
}

/**
 * Waits for the CONNECT's answer. A stream that fails first is reported with the reason its
 * connection failed when there is one (connectionFailure), else as HBONE_ERR_STREAM_RESET.
 * Shared listeners (`this` is the stream) and the open's state as a property, not four closures
 * per open.
 */
function awaitResponse(stream: ClientHttp2Stream, request: OpenTunnelRequest, session: ClientHttp2Session): Promise<ClientHttp2Stream> {
  return new Promise((resolve, reject) => {
    (stream as AwaitingStream)[kAwaiting] = { resolve, reject, request, session };
    stream.on('response', onAwaitedResponse);
    stream.on('error', onAwaitedError);
    stream.on('close', onAwaitedClose);
  });
}

interface AwaitingOpen {
  resolve(stream: ClientHttp2Stream): void;
  reject(error: Error): void;
  request: OpenTunnelRequest;
  session: ClientHttp2Session;
}
const kAwaiting = Symbol('hbone.awaitingOpen');
type AwaitingStream = ClientHttp2Stream & { [kAwaiting]?: AwaitingOpen };

/**
 * Ends the wait: removes its listeners and returns its state. A refused or failed stream is the
 * pool's to dispose of: a later error on it (a reset crossing our own) must find a listener. An
 * accepted one is the caller's, errors included.
 */
function settle(stream: AwaitingStream, failed: boolean): AwaitingOpen {
  const open = stream[kAwaiting] as AwaitingOpen;
  stream[kAwaiting] = undefined;
  stream.off('response', onAwaitedResponse);
  stream.off('error', onAwaitedError);
  stream.off('close', onAwaitedClose);
  if (failed) stream.on('error', ignoreError);
  return open;
}

function onAwaitedResponse(this: AwaitingStream, headers: IncomingHttpHeaders): void {
  const status = Number(headers[':status']);
  if (status === 200) {
    settle(this, false).resolve(this);
    return;
  }
  const { request, reject } = settle(this, true);
  this.close(h2constants.NGHTTP2_NO_ERROR);
  this.resume();
  reject(refusal(status, headers['x-hbone-reason'], request));
}

function onAwaitedError(this: AwaitingStream, cause: Error): void {
  const { request, session, reject } = settle(this, true);
  reject(
    connectionFailure(session, request.destination) ??
      tlsAlertFailure(cause, request.destination) ??
      hboneError(HboneErrorCode.STREAM_RESET, `tunnel to ${request.authority} via ${request.destination} failed before the response`, { cause }),
  );
}

function onAwaitedClose(this: AwaitingStream): void {
  const { request, session, reject } = settle(this, true);
  reject(
    connectionFailure(session, request.destination) ??
      hboneError(HboneErrorCode.STREAM_RESET, `tunnel to ${request.authority} via ${request.destination} closed before the response (rst ${this.rstCode})`),
  );
}
