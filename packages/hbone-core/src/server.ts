import { channel } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  createServer as createH2Server,
  constants as h2constants,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { createRequire } from 'node:module';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { CONNECTION_WINDOW_BYTES, HANDSHAKE_TIMEOUT_MS, MAX_FRAME_BYTES, MAX_PENDING_HANDSHAKES, SERVER_MAX_CONCURRENT_STREAMS, STREAM_WINDOW_BYTES } from './constants.js';
import { HboneErrorCode, h2ErrorName, hboneError } from './errors.js';
import { parseAuthority, type Authority } from './headers.js';
import { peerSpiffeIdentity, type HboneCredentials } from './tls.js';

// Not `import { createServer } from 'node:http'`: an ES import of node:http builds a module
// facade of all its exports, whose lazy WebSocket/CloseEvent/MessageEvent getters load Node's
// bundled undici (≈ 13 MiB RSS per process; docs/performance.md). require() reads one export.
const { createServer: createHttpServer } = createRequire(import.meta.url)('node:http') as typeof import('node:http');

/** Statuses a tunnel can be refused with (as Istio's ztunnel refuses them). */
export type RejectStatus = 400 | 401 | 403 | 503;

/** An HBONE CONNECT request waiting for the handler's decision. */
export interface IncomingTunnel {
  /** The raw `:authority` and its parsed form: the original destination `ip:port`. */
  readonly authority: string;
  readonly destination: Authority;
  readonly headers: IncomingHttpHeaders;
  /** The client's SPIFFE identity, from its verified certificate. */
  readonly peerIdentity: string;
  /** Where the tunnel's connection arrived (the destination pod's IP under TPROXY) and came from. */
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /**
   * Aborted when the client gives the tunnel up before it was answered: it reset the stream
   * (RST_STREAM with any code) or its connection closed. The reason is an
   * HBONE_ERR_STREAM_RESET error naming the code. A handler that connects somewhere first must
   * watch it and cancel; `accept()` and `reject()` on an aborted tunnel send nothing.
   */
  readonly signal: AbortSignal;
  /**
   * Answers 200 and returns the tunnel as a byte stream. On an aborted tunnel nothing is sent and
   * the returned stream is already destroyed (`relay()` then ends at once with a reset).
   */
  accept(): Duplex;
  /** Answers `status` and ends the stream; `reason` goes to the `x-hbone-reason` header and logs. */
  reject(status: RejectStatus, reason?: string): void;
}

/**
 * What the server refused or lost, since it started: every peer input that ended a stream,
 * connection or handshake early is counted here (and published on the diagnostics channels),
 * never thrown.
 */
export interface HboneServerStats {
  /** TLS handshakes that failed (no or untrusted client certificate, wrong ALPN, garbage, timeout). */
  tlsFailures: number;
  /** Pending handshakes dropped to make room for a new one (MAX_PENDING_HANDSHAKES). */
  handshakesDropped: number;
  /** Verified connections (TLS + identity) handed to HTTP/2 or HTTP/1.1. */
  connections: number;
  /** HTTP/2 session errors (protocol errors, floods nghttp2 refused, resets of the socket). */
  sessionErrors: number;
  /** Tunnels answered 200. */
  accepted: number;
  /** Tunnels or requests answered with an error status (400 bad request, handler refusals). */
  rejected: number;
  /** Tunnels the client reset or abandoned before they were answered. */
  cancelled: number;
  /** Stream errors after a tunnel was answered (resets by the peer, protocol errors). */
  streamErrors: number;
}

export interface HboneServerOptions {
  /** Trust domain a client's identity must belong to (`cluster.local`). */
  trustDomain: string;
  /**
   * Chooses the server certificate for a connection from the address it arrived on: under
   * TPROXY that is the destination pod's IP, so each pod is served under its own identity.
   * Return the same object for the same identity (the server caches TLS state per object) and a
   * new one after rotation; undefined refuses the connection.
   */
  credentialsFor(local: { address: string; port: number }): HboneCredentials | undefined;
  /** Decides each tunnel: call `accept()` or `reject()` (possibly later, e.g. after connecting upstream). */
  onTunnel(tunnel: IncomingTunnel): void;
  /** `h2` (default): many tunnels per connection. `http1`: one CONNECT per connection (HTTP/1.1 CONNECT). */
  protocol?: 'h2' | 'http1';
}

/** A live client connection, for admin views. */
export interface ServerConnectionInfo {
  peerIdentity: string;
  localAddress: string;
  remoteAddress: string;
  activeStreams: number;
  totalStreams: number;
  createdAt: number;
}

/** What any request other than CONNECT is answered with (400). */
const NOT_CONNECT_REASON = 'HBONE accepts CONNECT only';

/**
 * Diagnostics channels (libraries publish, apps log):
 * - `connection`: a verified client connection `{ peerIdentity, local, remote }`;
 * - `tunnel`: a tunnel's answer `{ authority, peerIdentity, status, reason? }`, status
 *   `'cancelled'` when the client reset it first;
 * - `tls-error`: a handshake or identity failure `{ local?, remote?, error }`;
 * - `session-error`: an HTTP/2 connection that failed `{ peerIdentity, remote, error }`;
 * - `stream-error`: a stream that failed after its answer `{ authority, peerIdentity, error }`.
 */
const diagnostics = {
  connection: channel('mesh:hbone:server:connection'),
  tunnel: channel('mesh:hbone:server:tunnel'),
  tlsError: channel('mesh:hbone:server:tls-error'),
  sessionError: channel('mesh:hbone:server:session-error'),
  streamError: channel('mesh:hbone:server:stream-error'),
};

interface ConnectionState extends ServerConnectionInfo {
  socket: TLSSocket;
  session?: ServerHttp2Session;
}

/**
 * HBONE server: TLS 1.3 with a required client certificate verified against the mesh root, ALPN
 * h2, and CONNECT streams handed to `onTunnel`. Sockets come from `listen()` or from the caller's
 * own (e.g. transparent) listener through `handle()`.
 *
 * Invariants: a connection reaches HTTP/2 only after its client certificate verified and its
 * identity is in the trust domain; non-CONNECT requests get 400 on their stream and the
 * connection lives on; `close()` sends GOAWAY and lets open tunnels finish; `destroy()` cuts
 * everything. Both are idempotent; `handle()` after either destroys the socket.
 */
export class HboneServer {
  readonly #options: HboneServerOptions;
  readonly #h2: Http2Server;
  readonly #http1 = createHttpServer();
  readonly #connections = new Set<ConnectionState>();
  readonly #tlsServers = new WeakMap<HboneCredentials, TlsServer>();
  readonly #stats: HboneServerStats = { tlsFailures: 0, handshakesDropped: 0, connections: 0, sessionErrors: 0, accepted: 0, rejected: 0, cancelled: 0, streamErrors: 0 };
  /** Connections in their TLS handshake, oldest first, by their 4-tuple. */
  readonly #handshaking = new Map<string, Socket>();
  #listener: NetServer | undefined;
  #accepting: ConnectionState | undefined;
  #closed = false;

  constructor(options: HboneServerOptions) {
    this.#options = options;
    this.#h2 = createH2Server({
      settings: {
        initialWindowSize: STREAM_WINDOW_BYTES,
        maxFrameSize: MAX_FRAME_BYTES,
        maxConcurrentStreams: SERVER_MAX_CONCURRENT_STREAMS,
      },
      // nghttp2 accounts buffered frames against this (MB); windows already bound memory.
      maxSessionMemory: 256,
    });
    // 'session' fires synchronously inside emit('connection'), so #accepting names its state.
    // (session.socket is a Proxy, useless as a map key.)
    this.#h2.on('session', (session: ServerHttp2Session) => {
      const state = this.#accepting;
      if (!state) {
        session.destroy();
        return;
      }
      state.session = session;
      sessionStates.set(session, state);
      // A peer's protocol error, flood or reset ends this session only, never the process.
      session.on('error', (error) => {
        this.#stats.sessionErrors++;
        diagnostics.sessionError.publish({ peerIdentity: state.peerIdentity, remote: state.remoteAddress, error });
      });
      session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    });
    this.#h2.on('stream', (stream, headers) => this.#onStream(stream, headers));
    this.#http1.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#onHttp1Connect(req, socket, head));
    this.#http1.on('request', (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`${NOT_CONNECT_REASON}\n`);
    });
  }

  /** Listens on `host:port` (port 0 picks one); resolves with the bound port. */
  async listen(options: { host: string; port: number }): Promise<number> {
    if (this.#closed) throw hboneError(HboneErrorCode.SERVER_CLOSED, 'HBONE server is closed');
    const listener = createNetServer((socket) => this.handle(socket));
    this.#listener = listener;
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(options.port, options.host, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    const address = listener.address();
    return typeof address === 'object' && address ? address.port : options.port;
  }

  /** Serves one accepted TCP connection (from `listen()` or any other listener). */
  handle(socket: Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    const local = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
    // A reset before TLS takes the socket over must not reach an 'error' without a listener.
    socket.on('error', () => socket.destroy());
    // Small frames (WINDOW_UPDATE, SETTINGS ACK, 200 responses) must not wait for Nagle.
    socket.setNoDelay(true);
    let credentials: HboneCredentials | undefined;
    try {
      credentials = this.#options.credentialsFor(local);
    } catch (error) {
      credentials = undefined;
      diagnostics.tlsError.publish({ local, error });
    }
    if (!credentials) {
      this.#stats.tlsFailures++;
      diagnostics.tlsError.publish({ local, error: 'no certificate for this address' });
      socket.destroy();
      return;
    }
    this.#trackHandshake(socket);
    // The TLS server of that identity does the handshake and verifies the client chain.
    this.#tlsServerFor(credentials).emit('connection', socket);
  }

  /** Bounds the handshakes held at once: the oldest is dropped when a new one would exceed it. */
  #trackHandshake(socket: Socket): void {
    const key = connectionKey(socket);
    if (this.#handshaking.size >= MAX_PENDING_HANDSHAKES) {
      const [oldestKey, oldest] = this.#handshaking.entries().next().value as [string, Socket];
      this.#handshaking.delete(oldestKey);
      this.#stats.handshakesDropped++;
      oldest.destroy();
    }
    this.#handshaking.set(key, socket);
    socket.once('close', () => {
      if (this.#handshaking.get(key) === socket) this.#handshaking.delete(key);
    });
  }

  /**
   * One (non-listening) tls.Server per server identity: it is the public way to get a verified
   * client chain (`authorized`) from Node, and it keeps one SecureContext per identity.
   */
  #tlsServerFor(credentials: HboneCredentials): TlsServer {
    let server = this.#tlsServers.get(credentials);
    if (server) return server;
    const protocol = this.#options.protocol ?? 'h2';
    server = createTlsServer({
      key: credentials.keyPem,
      cert: credentials.certChainPem,
      ca: credentials.rootCertPem,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      requestCert: true,
      rejectUnauthorized: true,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      ALPNProtocols: protocol === 'h2' ? ['h2'] : ['http/1.1'],
    });
    server.on('tlsClientError', (error, tlsSocket) => {
      this.#stats.tlsFailures++;
      diagnostics.tlsError.publish({ remote: tlsSocket.remoteAddress, error });
    });
    server.on('secureConnection', (tlsSocket: TLSSocket) => this.#onSecureConnection(tlsSocket, protocol));
    this.#tlsServers.set(credentials, server);
    return server;
  }

  #onSecureConnection(tlsSocket: TLSSocket, protocol: 'h2' | 'http1'): void {
    this.#handshaking.delete(connectionKey(tlsSocket));
    const local = { address: tlsSocket.localAddress ?? '', port: tlsSocket.localPort ?? 0 };
    let peerIdentity: string;
    try {
      peerIdentity = peerSpiffeIdentity(tlsSocket, this.#options.trustDomain);
    } catch (error) {
      this.#stats.tlsFailures++;
      diagnostics.tlsError.publish({ local, remote: tlsSocket.remoteAddress, error });
      tlsSocket.on('error', () => undefined);
      tlsSocket.destroy();
      return;
    }
    tlsSocket.on('error', () => tlsSocket.destroy());
    this.#stats.connections++;
    const state: ConnectionState = {
      socket: tlsSocket,
      peerIdentity,
      localAddress: local.address,
      remoteAddress: tlsSocket.remoteAddress ?? '',
      activeStreams: 0,
      totalStreams: 0,
      createdAt: Date.now(),
    };
    this.#connections.add(state);
    tlsSocket.once('close', () => this.#connections.delete(state));
    http1States.set(tlsSocket, state);
    diagnostics.connection.publish({ peerIdentity, local, remote: state.remoteAddress });
    this.#accepting = state;
    try {
      if (protocol === 'h2') this.#h2.emit('connection', tlsSocket);
      else this.#http1.emit('connection', tlsSocket);
    } finally {
      this.#accepting = undefined;
    }
  }

  /** Counters of what the server answered, refused or lost (a copy). */
  stats(): HboneServerStats {
    return { ...this.#stats };
  }

  /** Live connections, for admin and metrics. */
  connections(): ServerConnectionInfo[] {
    return [...this.#connections].map(({ socket: _s, session: _x, ...info }) => info);
  }

  #onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    // Registered first: a stream the peer resets with an error code emits 'error', and one
    // without a listener would end the process. Shared listeners (`this` is the stream) and the
    // tunnel as a property, not closures per stream: an idle tunnel keeps only what it needs.
    stream.on('error', onTunnelStreamError);
    const state = stream.session ? sessionStates.get(stream.session as ServerHttp2Session) : undefined;
    if (!state) {
      stream.close(h2constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const refuse = (reason: string, body?: string) => {
      this.#stats.rejected++;
      (stream as TunnelStream)[kTunnel] = new AnsweredStream(headers[':authority'], state.peerIdentity, this.#stats);
      respondAndEnd(stream, 400, reason, body);
    };
    if (headers[':method'] !== 'CONNECT') {
      // Other methods get the same plain-text answer as in HTTP/1.1 mode; a client that is not
      // HBONE at all (a browser, a scanner) sees a complete response, not a bare status.
      refuse(NOT_CONNECT_REASON, `${NOT_CONNECT_REASON}\n`);
      return;
    }
    let destination: Authority;
    const authority = headers[':authority'] ?? '';
    try {
      destination = parseAuthority(authority);
    } catch (err) {
      refuse((err as Error).message);
      return;
    }
    state.activeStreams++;
    state.totalStreams++;
    const tunnel = new Http2Tunnel(stream, headers, authority, destination, state, this.#stats);
    (stream as TunnelStream)[kTunnel] = tunnel;
    // `on`, not `once`: a stream emits 'close' once, and `once` adds a wrapper closure per stream.
    stream.on('close', onTunnelStreamClose);
    this.#dispatch(tunnel, () => tunnel.handlerFailed());
  }

  #onHttp1Connect(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const tlsSocket = socket as TLSSocket;
    const state = http1States.get(tlsSocket);
    const authority = req.url ?? '';
    // Nothing is written to a socket the client already closed.
    const writeStatus = (status: number, reason?: string) => {
      if (socket.destroyed || !socket.writable) return;
      if (status === 200) this.#stats.accepted++;
      else this.#stats.rejected++;
      const safeReason = reason?.replace(/[^\x20-\x7e]/g, '?');
      socket.write(`HTTP/1.1 ${status} ${statusText(status)}\r\n${safeReason ? `x-hbone-reason: ${safeReason}\r\n` : ''}\r\n`);
    };
    let destination: Authority;
    try {
      destination = parseAuthority(authority);
    } catch (err) {
      writeStatus(400, (err as Error).message);
      socket.end();
      return;
    }
    if (!state) {
      socket.destroy();
      return;
    }
    let decided = false;
    const decide = () => {
      if (decided) throw new Error('HBONE tunnel already accepted or rejected');
      decided = true;
    };
    const cancel = new AbortController();
    socket.once('close', () => {
      if (decided) return;
      this.#stats.cancelled++;
      cancel.abort(hboneError(HboneErrorCode.STREAM_RESET, `the client closed the connection to ${authority} before it was answered`, { context: { authority } }));
    });
    const tunnel: IncomingTunnel = {
      authority,
      destination,
      headers: req.headers,
      signal: cancel.signal,
      peerIdentity: state.peerIdentity,
      localAddress: state.localAddress,
      localPort: tlsSocket.localPort ?? 0,
      remoteAddress: state.remoteAddress,
      remotePort: tlsSocket.remotePort ?? 0,
      accept: () => {
        decide();
        if (cancel.signal.aborted) {
          socket.destroy();
          return socket;
        }
        writeStatus(200);
        if (head.length > 0) socket.unshift(head);
        return socket;
      },
      reject: (status, reason) => {
        decide();
        if (cancel.signal.aborted) return;
        writeStatus(status, reason);
        socket.end();
      },
    };
    this.#dispatch(tunnel, () => {
      if (cancel.signal.aborted) return;
      writeStatus(503);
      socket.end();
    });
  }

  #dispatch(tunnel: IncomingTunnel, onHandlerError: () => void): void {
    try {
      this.#options.onTunnel(tunnel);
    } catch (error) {
      diagnostics.tunnel.publish({ authority: tunnel.authority, peerIdentity: tunnel.peerIdentity, status: 503, error });
      onHandlerError();
    }
  }

  /** Stops accepting; sends GOAWAY on every connection and lets open tunnels finish. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const listenerClosed = new Promise<void>((resolve) => (this.#listener ? this.#listener.close(() => resolve()) : resolve()));
    const drained = [...this.#connections].map(
      (state) =>
        new Promise<void>((resolve) => {
          state.socket.once('close', () => resolve());
          if (state.session) state.session.close();
          else if (state.activeStreams === 0) state.socket.end();
        }),
    );
    await Promise.all([listenerClosed, ...drained]);
  }

  /** Closes everything at once; open tunnels are reset. */
  destroy(): void {
    this.#closed = true;
    this.#listener?.close();
    for (const socket of this.#handshaking.values()) socket.destroy();
    this.#handshaking.clear();
    for (const state of this.#connections) state.socket.destroy();
    this.#connections.clear();
  }
}

/** A connection's 4-tuple: the same for the accepted TCP socket and the TLS socket over it. */
function connectionKey(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}|${socket.localAddress}|${socket.localPort}`;
}

const sessionStates = new WeakMap<ServerHttp2Session, ConnectionState>();

const kTunnel = Symbol('hbone.tunnel');
/** What a server stream's shared listeners report to. */
interface StreamOwner {
  streamFailed(error: Error): void;
  streamClosed?(): void;
}
type TunnelStream = ServerHttp2Stream & { [kTunnel]?: StreamOwner };

/** A stream answered 400 before it became a tunnel: later errors on it are stream errors. */
class AnsweredStream implements StreamOwner {
  readonly authority: string | undefined;
  readonly peerIdentity: string;
  readonly stats: HboneServerStats;

  constructor(authority: string | undefined, peerIdentity: string, stats: HboneServerStats) {
    this.authority = authority;
    this.peerIdentity = peerIdentity;
    this.stats = stats;
  }

  streamFailed(error: Error): void {
    this.stats.streamErrors++;
    diagnostics.streamError.publish({ authority: this.authority, peerIdentity: this.peerIdentity, error });
  }
}

/** 'error' of a CONNECT stream (`this`); before the answer it is counted as a cancelled tunnel on 'close'. */
function onTunnelStreamError(this: TunnelStream, error: Error): void {
  this[kTunnel]?.streamFailed(error);
}

/** 'close' of a CONNECT stream (`this`). */
function onTunnelStreamClose(this: TunnelStream): void {
  this[kTunnel]?.streamClosed?.();
}

/**
 * An HTTP/2 CONNECT stream waiting for (or past) the handler's decision. A class with its state
 * in fields, not an object of closures: ~0.4 KiB less heap per idle tunnel (docs/performance.md,
 * "HBONE core"). The AbortController is made only when a handler asks for `signal` (a handler that
 * accepts at once never does).
 */
class Http2Tunnel implements IncomingTunnel, StreamOwner {
  readonly authority: string;
  readonly destination: Authority;
  readonly headers: IncomingHttpHeaders;
  readonly #stream: ServerHttp2Stream;
  readonly #state: ConnectionState;
  readonly #stats: HboneServerStats;
  /** A status was sent (or the stream was given to the handler): no longer cancellable. */
  #answered = false;
  #decided = false;
  #cancel: AbortController | undefined;
  /** Set when the client gave the tunnel up before its answer. */
  #cancelReason: Error | undefined;

  constructor(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, authority: string, destination: Authority, state: ConnectionState, stats: HboneServerStats) {
    this.#stream = stream;
    this.#state = state;
    this.#stats = stats;
    this.authority = authority;
    this.destination = destination;
    this.headers = headers;
  }

  // The connection's facts are read from it, not copied into every tunnel.
  get peerIdentity(): string {
    return this.#state.peerIdentity;
  }
  get localAddress(): string {
    return this.#state.localAddress;
  }
  get remoteAddress(): string {
    return this.#state.remoteAddress;
  }
  get localPort(): number {
    return this.#state.socket.localPort ?? 0;
  }
  get remotePort(): number {
    return this.#state.socket.remotePort ?? 0;
  }

  get signal(): AbortSignal {
    if (!this.#cancel) {
      this.#cancel = new AbortController();
      if (this.#cancelReason) this.#cancel.abort(this.#cancelReason);
    }
    return this.#cancel.signal;
  }

  /** Answer only a stream that is still open: responding on a closed one throws. */
  #open(): boolean {
    return this.#cancelReason === undefined && !this.#stream.destroyed && !this.#stream.closed;
  }

  #decide(): void {
    if (this.#decided) throw new Error('HBONE tunnel already accepted or rejected');
    this.#decided = true;
  }

  #refuse(status: number, reason: string): void {
    this.#answered = true;
    this.#stats.rejected++;
    respondAndEnd(this.#stream, status, reason);
  }

  accept(): Duplex {
    this.#decide();
    const stream = this.#stream;
    if (!this.#open()) {
      stream.destroy();
      return stream;
    }
    this.#answered = true;
    this.#stats.accepted++;
    stream.respond(OK_HEADERS);
    diagnostics.tunnel.publish({ authority: this.authority, peerIdentity: this.peerIdentity, status: 200 });
    return stream;
  }

  reject(status: RejectStatus, reason?: string): void {
    this.#decide();
    if (!this.#open()) return;
    diagnostics.tunnel.publish({ authority: this.authority, peerIdentity: this.peerIdentity, status, reason });
    this.#refuse(status, reason ?? '');
  }

  /** The handler threw: 503, unless it answered first. */
  handlerFailed(): void {
    if (this.#open() && !this.#answered) this.#refuse(503, 'tunnel handler failed');
  }

  streamFailed(error: Error): void {
    if (!this.#answered) return; // counted as a cancelled tunnel on 'close'
    this.#stats.streamErrors++;
    diagnostics.streamError.publish({ authority: this.authority, peerIdentity: this.peerIdentity, error });
  }

  streamClosed(): void {
    this.#state.activeStreams--;
    if (this.#answered) return;
    // The client reset the stream (or lost its connection) before the handler answered.
    this.#stats.cancelled++;
    const code = this.#stream.rstCode ?? h2constants.NGHTTP2_NO_ERROR;
    const reason = hboneError(HboneErrorCode.STREAM_RESET, `the client reset the tunnel to ${this.authority} before it was answered (${h2ErrorName(code)})`, {
      context: { authority: this.authority, rstCode: code },
    });
    this.#cancelReason = reason;
    diagnostics.tunnel.publish({ authority: this.authority, peerIdentity: this.peerIdentity, status: 'cancelled', reason: reason.message });
    this.#cancel?.abort(reason);
  }
}

/** The answer to an accepted tunnel; node:http2 only reads a header object (a raw list it would append `date` to). */
const OK_HEADERS = Object.freeze({ ':status': 200 } as const);
const http1States = new WeakMap<Duplex, ConnectionState>();

/** Answers `status` on a stream that is still open, never on one the peer closed or reset. */
function respondAndEnd(stream: ServerHttp2Stream, status: number, reason?: string, body?: string): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  const headers: Record<string, string | number> = { ':status': status };
  if (reason) headers['x-hbone-reason'] = reason.replace(/[^\x20-\x7e]/g, '?');
  if (body === undefined) {
    stream.respond(headers, { endStream: true });
    return;
  }
  headers['content-type'] = 'text/plain';
  stream.respond(headers);
  stream.end(body);
}

function statusText(status: number): string {
  return { 200: 'Connection established', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 503: 'Service Unavailable' }[status] ?? 'Error';
}
