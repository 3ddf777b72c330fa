/**
 * How the mesh's programs open their HTTP surfaces, by who may reach them:
 *
 * - **operator** (`listenOperatorHttp`): what reveals or changes configuration, certificates or
 *   connections (ztunnel's and the waypoint's admin API, istiod-lite's debug API). Only on a
 *   loopback address — a non-loopback address is refused, not warned about — and optionally
 *   also on a Unix socket with owner-only permissions. A pod has no route to either.
 * - **read-only** (`listenReadOnlyHttp`): metrics and readiness, which Prometheus and probes
 *   reach from the network, so pods can reach them too. GET and HEAD only, short header and
 *   request deadlines and a connection cap, so a pod cannot hold them open or exhaust them.
 */
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import type { RequestListener, Server } from 'node:http';
import { createRequire } from 'node:module';
import { createConnection, type AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { MeshError } from '@mesh/errors';
import { isLoopbackAddress } from './endpoint.js';

// Not `import { createServer } from 'node:http'`: an ES import of node:http builds a module
// facade of all its exports, whose lazy WebSocket/CloseEvent/MessageEvent getters load Node's
// bundled undici (≈ 13 MiB RSS per process; docs/performance.md). require() reads one export.
const { createServer } = createRequire(import.meta.url)('node:http') as typeof import('node:http');

/** sockaddr_un.sun_path holds 108 bytes including the terminating NUL. */
export const MAX_UNIX_SOCKET_PATH_BYTES = 107;
/** Read-only surfaces: a request's headers must arrive within this. */
export const READ_ONLY_HEADERS_TIMEOUT_MS = 5_000;
/** Read-only surfaces: a whole request must arrive within this. */
export const READ_ONLY_REQUEST_TIMEOUT_MS = 10_000;
/** Read-only surfaces: idle keep-alive connections close after this. */
export const READ_ONLY_KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** Read-only surfaces: connections beyond this many are closed at once. */
export const READ_ONLY_MAX_CONNECTIONS = 256;

export interface OperatorHttpOptions {
  /** Who serves, for messages: `ztunnel admin`, `istiod-lite debug`. */
  readonly what: string;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Also serve on this Unix socket (mode 0600; its directory is created 0700 when missing). */
  readonly socket?: string | undefined;
}

export interface OperatorHttpServer {
  /** The bound port. */
  readonly port: number;
  /** `host:port` as bound, to advertise. */
  readonly address: string;
  readonly socket: string | undefined;
  /** Stops listening, ends open connections and removes the socket file. Idempotent. */
  close(): Promise<void>;
}

function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function listenOn(server: Server, target: { host: string; port: number } | { path: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(target, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  return closed;
}

/** True when something accepts connections on the socket path (another live process owns it). */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

async function prepareSocketPath(what: string, path: string): Promise<void> {
  if (Buffer.byteLength(path) > MAX_UNIX_SOCKET_PATH_BYTES) {
    throw new MeshError('ADMIN_ERR_SOCKET_PATH', `${what}: socket path ${path} is ${Buffer.byteLength(path)} bytes; a Unix socket path holds at most ${MAX_UNIX_SOCKET_PATH_BYTES}`, {
      hint: 'use a shorter directory for the socket',
    });
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new MeshError('ADMIN_ERR_SOCKET_PATH', `${what}: ${path} exists and is not a socket`, { hint: 'remove it or choose another path' });
  if (await socketAnswers(path)) {
    throw new MeshError('ADMIN_ERR_SOCKET_IN_USE', `${what}: another process serves ${path}`, { hint: 'is this proxy already running? stop it first' });
  }
  unlinkSync(path); // left by a process that died
}

export async function listenOperatorHttp(handler: RequestListener, options: OperatorHttpOptions): Promise<OperatorHttpServer> {
  const { what, host, port } = options;
  if (!isLoopbackAddress(host)) {
    throw new MeshError('ADMIN_ERR_NOT_LOOPBACK', `${what} may only listen on a loopback address, not ${host}: it reveals and changes configuration, certificates and connections`, {
      hint: 'reach it from the node (meshctl enters the network namespace or uses the Unix socket); see docs/operations.md',
      context: { host },
    });
  }
  const tcp = createServer(handler);
  await listenOn(tcp, { host, port });
  const bound = (tcp.address() as AddressInfo).port;
  let unix: Server | undefined;
  if (options.socket) {
    try {
      await prepareSocketPath(what, options.socket);
      unix = createServer(handler);
      // The socket file is created by bind() with the process umask: make it owner-only from
      // the first instant (process.umask is synchronous and bind happens inside listen()).
      const previous = process.umask(0o177);
      try {
        await listenOn(unix, { path: options.socket });
      } finally {
        process.umask(previous);
      }
      chmodSync(options.socket, 0o600);
    } catch (err) {
      await closeServer(tcp);
      throw err;
    }
  }
  let closing: Promise<void> | undefined;
  return {
    port: bound,
    address: formatHostPort(host, bound),
    socket: options.socket,
    close() {
      closing ??= Promise.all([closeServer(tcp), unix ? closeServer(unix) : Promise.resolve()]).then(() => undefined);
      return closing;
    },
  };
}

export interface ReadOnlyHttpServer {
  readonly server: Server;
  readonly port: number;
  close(): Promise<void>;
}

/** Metrics and readiness: reachable from the network, so hardened against slow and idle clients. */
export async function listenReadOnlyHttp(handler: RequestListener, host: string, port: number): Promise<ReadOnlyHttpServer> {
  const server = createServer(
    { headersTimeout: READ_ONLY_HEADERS_TIMEOUT_MS, requestTimeout: READ_ONLY_REQUEST_TIMEOUT_MS, keepAliveTimeout: READ_ONLY_KEEP_ALIVE_TIMEOUT_MS },
    (req, res) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
        return void res.end('read-only: GET only\n');
      }
      handler(req, res);
    },
  );
  server.maxConnections = READ_ONLY_MAX_CONNECTIONS;
  await listenOn(server, { host, port });
  let closing: Promise<void> | undefined;
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close() {
      closing ??= closeServer(server);
      return closing;
    },
  };
}
