import { channel } from 'node:diagnostics_channel';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  createServer as createH2Server,
  constants as h2constants,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { CONNECTION_WINDOW_BYTES, MAX_FRAME_BYTES, SERVER_MAX_CONCURRENT_STREAMS, STREAM_WINDOW_BYTES } from './constants.js';
import { HboneErrorCode, hboneError } from './errors.js';
import { parseAuthority, type Authority } from './headers.js';
import { peerSpiffeIdentity, type HboneCredentials } from './tls.js';

/** Statuses a tunnel can be refused with (seeds 002/004 and Istio's ztunnel). */
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
  /** Answers 200 and returns the tunnel as a byte stream. */
  accept(): Duplex;
  /** Answers `status` and ends the stream; `reason` goes to the `x-hbone-reason` header and logs. */
  reject(status: RejectStatus, reason?: string): void;
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
  /** `h2` (default): many tunnels per connection. `http1`: one CONNECT per connection (seed 000). */
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

const diagnostics = {
  connection: channel('mesh:hbone:server:connection'),
  tunnel: channel('mesh:hbone:server:tunnel'),
  tlsError: channel('mesh:hbone:server:tls-error'),
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
      session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    });
    this.#h2.on('stream', (stream, headers) => this.#onStream(stream, headers));
    this.#http1.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#onHttp1Connect(req, socket, head));
    this.#http1.on('request', (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('HBONE accepts CONNECT only\n');
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
    // Small frames (WINDOW_UPDATE, SETTINGS ACK, 200 responses) must not wait for Nagle.
    socket.setNoDelay(true);
    const credentials = this.#options.credentialsFor(local);
    if (!credentials) {
      diagnostics.tlsError.publish({ local, error: 'no certificate for this address' });
      socket.destroy();
      return;
    }
    // The TLS server of that identity does the handshake and verifies the client chain.
    this.#tlsServerFor(credentials).emit('connection', socket);
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
      ALPNProtocols: protocol === 'h2' ? ['h2'] : ['http/1.1'],
    });
    server.on('tlsClientError', (error, tlsSocket) => {
      diagnostics.tlsError.publish({ remote: tlsSocket.remoteAddress, error });
    });
    server.on('secureConnection', (tlsSocket: TLSSocket) => this.#onSecureConnection(tlsSocket, protocol));
    this.#tlsServers.set(credentials, server);
    return server;
  }

  #onSecureConnection(tlsSocket: TLSSocket, protocol: 'h2' | 'http1'): void {
    const local = { address: tlsSocket.localAddress ?? '', port: tlsSocket.localPort ?? 0 };
    let peerIdentity: string;
    try {
      peerIdentity = peerSpiffeIdentity(tlsSocket, this.#options.trustDomain);
    } catch (error) {
      diagnostics.tlsError.publish({ local, remote: tlsSocket.remoteAddress, error });
      tlsSocket.destroy();
      return;
    }
    tlsSocket.on('error', () => tlsSocket.destroy());
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

  /** Live connections, for admin and metrics. */
  connections(): ServerConnectionInfo[] {
    return [...this.#connections].map(({ socket: _s, session: _x, ...info }) => info);
  }

  #onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const state = stream.session ? sessionStates.get(stream.session as ServerHttp2Session) : undefined;
    if (!state) {
      stream.close(h2constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    if (headers[':method'] !== 'CONNECT') {
      respondAndEnd(stream, 400, 'HBONE accepts CONNECT only');
      return;
    }
    let destination: Authority;
    const authority = headers[':authority'] ?? '';
    try {
      destination = parseAuthority(authority);
    } catch (err) {
      respondAndEnd(stream, 400, (err as Error).message);
      return;
    }
    state.activeStreams++;
    state.totalStreams++;
    stream.once('close', () => state.activeStreams--);
    let decided = false;
    const tunnel: IncomingTunnel = {
      authority,
      destination,
      headers,
      peerIdentity: state.peerIdentity,
      localAddress: state.localAddress,
      localPort: state.socket.localPort ?? 0,
      remoteAddress: state.remoteAddress,
      remotePort: state.socket.remotePort ?? 0,
      accept: () => {
        decide();
        stream.respond({ ':status': 200 });
        diagnostics.tunnel.publish({ authority, peerIdentity: state.peerIdentity, status: 200 });
        return stream;
      },
      reject: (status, reason) => {
        decide();
        diagnostics.tunnel.publish({ authority, peerIdentity: state.peerIdentity, status, reason });
        respondAndEnd(stream, status, reason);
      },
    };
    const decide = () => {
      if (decided) throw new Error('HBONE tunnel already accepted or rejected');
      decided = true;
    };
    this.#dispatch(tunnel, () => respondAndEnd(stream, 503, 'tunnel handler failed'));
  }

  #onHttp1Connect(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const tlsSocket = socket as TLSSocket;
    const state = http1States.get(tlsSocket);
    const authority = req.url ?? '';
    const writeStatus = (status: number, reason?: string) =>
      socket.write(`HTTP/1.1 ${status} ${statusText(status)}\r\n${reason ? `x-hbone-reason: ${reason}\r\n` : ''}\r\n`);
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
    const tunnel: IncomingTunnel = {
      authority,
      destination,
      headers: req.headers,
      peerIdentity: state.peerIdentity,
      localAddress: state.localAddress,
      localPort: tlsSocket.localPort ?? 0,
      remoteAddress: state.remoteAddress,
      remotePort: tlsSocket.remotePort ?? 0,
      accept: () => {
        decide();
        writeStatus(200);
        if (head.length > 0) socket.unshift(head);
        return socket;
      },
      reject: (status, reason) => {
        decide();
        writeStatus(status, reason);
        socket.end();
      },
    };
    this.#dispatch(tunnel, () => {
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
    for (const state of this.#connections) state.socket.destroy();
    this.#connections.clear();
  }
}

const sessionStates = new WeakMap<ServerHttp2Session, ConnectionState>();
const http1States = new WeakMap<Duplex, ConnectionState>();

function respondAndEnd(stream: ServerHttp2Stream, status: number, reason?: string): void {
  if (stream.destroyed || stream.headersSent) return;
  const headers: Record<string, string | number> = { ':status': status };
  if (reason) headers['x-hbone-reason'] = reason.replace(/[^\x20-\x7e]/g, '?');
  stream.respond(headers, { endStream: true });
}

function statusText(status: number): string {
  return { 200: 'Connection established', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 503: 'Service Unavailable' }[status] ?? 'Error';
}
