import { createRequire } from 'node:module';
import { isIPv6, Socket, type Server } from 'node:net';
import { MeshError } from '@mesh/errors';

/**
 * Socket options Node lacks, through this package's own N-API addon (native/sockopt.c, built
 * to build/sockopt.node by scripts/build-native.mjs on install/build).
 *
 * With TPROXY no "original destination" lookup is needed: the kernel never rewrites the
 * packet, so an accepted socket's `localAddress`/`localPort` ARE the address and port the
 * client dialled (proven by test/transparent-capture.test.ts).
 */

interface SockoptAddon {
  socket(family: 4 | 6): number;
  setsockoptInt(fd: number, level: number, name: number, value: number): void;
  getsockoptInt(fd: number, level: number, name: number): number;
  bind(fd: number, address: string, port: number): void;
  listen(fd: number, backlog: number): void;
  close(fd: number): void;
  enterNetns(path: string): number;
  leaveNetns(previousFd: number): void;
  readonly SOL_SOCKET: number;
  readonly SO_MARK: number;
  readonly SO_REUSEADDR: number;
  readonly SOL_IP: number;
  readonly IP_TRANSPARENT: number;
  readonly SOL_IPV6: number;
  readonly IPV6_TRANSPARENT: number;
}

/** Relative to src/ and dist/ alike: both sit one level below the package root. */
const ADDON_PATH = '../build/sockopt.node';
/** Node's own default for net.Server#listen. */
const DEFAULT_LISTEN_BACKLOG = 511;

let addon: SockoptAddon | undefined;

function loadAddon(): SockoptAddon {
  if (addon) return addon;
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as SockoptAddon;
    return addon;
  } catch (err) {
    throw new MeshError('NETFILTER_ERR_NATIVE_MISSING', 'the @mesh/netfilter socket-option addon is not built or does not load', {
      cause: err,
      hint: 'run `pnpm --filter @mesh/netfilter run build:native` (needs cc and Node headers; Linux only)',
    });
  }
}

/** True when the addon is built and loads, i.e. transparent sockets are available here. */
export function isSockoptAvailable(): boolean {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
}

function wrapErrno(err: unknown, what: string, context: Record<string, unknown>): MeshError {
  const errno = (err as { code?: unknown }).code;
  const hint =
    errno === 'EPERM'
      ? 'IP_TRANSPARENT and SO_MARK need CAP_NET_ADMIN (run as root or grant the capability)'
      : undefined;
  return new MeshError('NETFILTER_ERR_SOCKOPT', `${what} failed: ${(err as Error).message}`, {
    cause: err,
    context: { ...context, errno },
    ...(hint ? { hint } : {}),
  });
}

type HasHandle = Socket | Server;

/** The kernel fd behind a Node socket or listening server (Unix only; undefined before listen/connect). */
export function socketFd(target: HasHandle): number {
  const fd = (target as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new MeshError('NETFILTER_ERR_SOCKOPT', 'the socket has no file descriptor yet', {
      hint: 'set options after the socket is connected or the server is listening',
    });
  }
  return fd;
}

function isIpv6Socket(target: HasHandle): boolean {
  const address = 'localAddress' in target ? target.localAddress : (target.address() as { family?: string } | null)?.family;
  return address === 'IPv6' || (typeof address === 'string' && isIPv6(address));
}

/**
 * Sets IP_TRANSPARENT (and IPV6_TRANSPARENT on IPv6 sockets) on an existing socket or
 * listening server. For listeners, prefer `listenTransparent`: the option must be set before
 * bind() to bind a non-local address.
 */
export function setTransparent(target: HasHandle, on = true): void {
  const native = loadAddon();
  const fd = socketFd(target);
  try {
    if (isIpv6Socket(target)) native.setsockoptInt(fd, native.SOL_IPV6, native.IPV6_TRANSPARENT, on ? 1 : 0);
    else native.setsockoptInt(fd, native.SOL_IP, native.IP_TRANSPARENT, on ? 1 : 0);
  } catch (err) {
    throw wrapErrno(err, 'setsockopt(IP_TRANSPARENT)', { fd });
  }
}

export function isTransparent(target: HasHandle): boolean {
  const native = loadAddon();
  const fd = socketFd(target);
  return isIpv6Socket(target)
    ? native.getsockoptInt(fd, native.SOL_IPV6, native.IPV6_TRANSPARENT) !== 0
    : native.getsockoptInt(fd, native.SOL_IP, native.IP_TRANSPARENT) !== 0;
}

/** Sets SO_MARK: the fwmark of every packet this socket sends from now on. */
export function setMark(target: HasHandle, mark: number): void {
  if (!Number.isInteger(mark) || mark < 0 || mark > 0xffffffff) {
    throw new MeshError('NETFILTER_ERR_SOCKOPT', `mark ${mark} is not a 32-bit value`, { context: { mark } });
  }
  const native = loadAddon();
  const fd = socketFd(target);
  try {
    // The addon takes int32; the kernel reads the same 32 bits as unsigned.
    native.setsockoptInt(fd, native.SOL_SOCKET, native.SO_MARK, mark | 0);
  } catch (err) {
    throw wrapErrno(err, 'setsockopt(SO_MARK)', { fd, mark });
  }
}

export function getMark(target: HasHandle): number {
  const native = loadAddon();
  return native.getsockoptInt(socketFd(target), native.SOL_SOCKET, native.SO_MARK) >>> 0;
}

/** Where `ip netns add` puts named namespaces. */
const NETNS_DIR = '/run/netns';

function netnsPath(netns: string): string {
  return netns.startsWith('/') ? netns : `${NETNS_DIR}/${netns}`;
}

/**
 * Runs `fn` with the calling thread inside network namespace `netns` (a name from
 * `ip netns list` or a path) and switches back before returning. Sockets created by the addon
 * inside `fn` stay in that namespace for life, so one process can own listeners and
 * connections in several namespaces. `fn` must be synchronous: Node's own sockets are created
 * later, on the event loop, in whatever namespace the thread is in then.
 */
export function withNetworkNamespace<T>(netns: string, fn: () => T): T {
  const native = loadAddon();
  let previous: number;
  try {
    previous = native.enterNetns(netnsPath(netns));
  } catch (err) {
    throw wrapErrno(err, `entering network namespace ${netns}`, { netns });
  }
  try {
    return fn();
  } finally {
    native.leaveNetns(previous);
  }
}

function inNamespace<T>(netns: string | undefined, fn: () => T): T {
  return netns === undefined ? fn() : withNetworkNamespace(netns, fn);
}

export interface TcpSocketOptions {
  /** 4 (default) or 6; ignored when `localAddress` says otherwise. */
  readonly family?: 4 | 6;
  /** Create the socket in this network namespace (name or path) instead of the current one. */
  readonly netns?: string;
  /** IP_TRANSPARENT before bind: lets `localAddress` be a non-local address (source spoofing). */
  readonly transparent?: boolean;
  /** SO_MARK before connect, so even the SYN carries the fwmark. */
  readonly mark?: number;
  readonly localAddress?: string;
  readonly localPort?: number;
}

/** linux/in.h; not among the addon's constants. */
const IP_BIND_ADDRESS_NO_PORT = 24;

/**
 * IP_BIND_ADDRESS_NO_PORT (Linux 4.2): a bind to an address with port 0 leaves the port to
 * connect(), which may reuse any port not in use towards the same destination. Without it bind()
 * must find a port no socket on that address holds — TIME_WAIT ones included — and the search
 * grew with every connection a ztunnel opened from a client pod's address (17 % of ztunnel B's
 * CPU, in bind, during the connections-per-second benchmark; docs/performance.md). Only a hint:
 * where the kernel lacks it, bind() picks the port as before.
 */
function deferPortToConnect(native: SockoptAddon, fd: number): void {
  try {
    native.setsockoptInt(fd, native.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1);
  } catch {
    // An older kernel: the port is chosen at bind, as without the option.
  }
}

/**
 * An unconnected net.Socket whose options were set before bind and connect; call
 * `socket.connect(port, host)` on it as usual.
 */
export function createTcpSocket(options: TcpSocketOptions = {}): Socket {
  const native = loadAddon();
  const v6 = options.localAddress ? isIPv6(options.localAddress) : options.family === 6;
  const fd = inNamespace(options.netns, () => {
    try {
      return native.socket(v6 ? 6 : 4);
    } catch (err) {
      throw wrapErrno(err, 'socket()', { netns: options.netns });
    }
  });
  try {
    if (options.transparent) {
      if (v6) native.setsockoptInt(fd, native.SOL_IPV6, native.IPV6_TRANSPARENT, 1);
      else native.setsockoptInt(fd, native.SOL_IP, native.IP_TRANSPARENT, 1);
    }
    if (options.mark !== undefined) native.setsockoptInt(fd, native.SOL_SOCKET, native.SO_MARK, options.mark | 0);
    if (options.localAddress !== undefined || options.localPort !== undefined) {
      if (!v6 && !options.localPort) deferPortToConnect(native, fd);
      native.bind(fd, options.localAddress ?? (v6 ? '::' : '0.0.0.0'), options.localPort ?? 0);
    }
    return new Socket({ fd });
  } catch (err) {
    native.close(fd);
    throw wrapErrno(err, 'preparing a TCP socket', { ...options });
  }
}

export interface TransparentListenOptions {
  /** Address to bind; with TPROXY `--on-ip 127.0.0.1`, ztunnel binds 127.0.0.1. */
  readonly host: string;
  /** 0 picks a free port (read it back with server.address()). */
  readonly port: number;
  readonly backlog?: number;
  /** Listen in this network namespace (name or path) instead of the current one. */
  readonly netns?: string;
}

/**
 * Makes `server` listen on a socket that had IP_TRANSPARENT set before bind(), so TPROXY can
 * hand it connections for any destination address. Node binds inside `listen()`, too late
 * for the option, so the addon creates, configures, binds and listens the socket and Node
 * adopts it with `server.listen({ fd })`.
 */
export async function listenTransparent(server: Server, options: TransparentListenOptions): Promise<void> {
  const native = loadAddon();
  const v6 = isIPv6(options.host);
  const fd = inNamespace(options.netns, () => {
    try {
      return native.socket(v6 ? 6 : 4);
    } catch (err) {
      throw wrapErrno(err, 'socket()', { netns: options.netns });
    }
  });
  let adopted = false;
  try {
    native.setsockoptInt(fd, native.SOL_SOCKET, native.SO_REUSEADDR, 1);
    if (v6) native.setsockoptInt(fd, native.SOL_IPV6, native.IPV6_TRANSPARENT, 1);
    else native.setsockoptInt(fd, native.SOL_IP, native.IP_TRANSPARENT, 1);
    native.bind(fd, options.host, options.port);
    native.listen(fd, options.backlog ?? DEFAULT_LISTEN_BACKLOG);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once('error', onError);
      server.listen({ fd, backlog: options.backlog ?? DEFAULT_LISTEN_BACKLOG }, () => {
        server.off('error', onError);
        resolve();
      });
      adopted = true;
    });
  } catch (err) {
    // Until Node adopts the fd it is ours to close; afterwards server.close() owns it.
    if (!adopted) native.close(fd);
    throw wrapErrno(err, `transparent listen on ${options.host}:${options.port}`, { host: options.host, port: options.port });
  }
}
