/**
 * Where an outbound HBONE connection is opened from. As Istio's ztunnel does, from the source
 * pod's own IP: the far side then authorizes (and logs) the connection's peer address, which a
 * client cannot forge, instead of a `forwarded` header it writes itself. The pool keys its
 * connections by that address, so tunnels of different pods never share one.
 *
 * - transparent mode: the pod's IP is not an address of the node, so the socket is bound with
 *   IP_TRANSPARENT (@mesh/netfilter); the capture plan delivers the replies to it (rule 1 for a
 *   remote peer, the OUTPUT rule for a peer on this node).
 * - explicit mode: pods use addresses of this host (loopback 127/8 in `pnpm dev` and the
 *   tests), which a plain bind takes; a pod address that is not local cannot be bound, and the
 *   tunnel goes from the node's address with `forwarded` naming the pod (the far side accepts it
 *   only for a workload of the peer's identity).
 */
import { connect, isIPv4, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { createTcpSocket } from '@mesh/netfilter';
import { localWorkloads, type RuntimeModel } from '@mesh/ztunnel-plan';

export interface SourceBinding {
  /** The local address to open a tunnel of the pod at `sourceIp` from, or undefined for the node's. */
  bindAddress(sourceIp: string): string | undefined;
  /** Opens the pool's TCP connection to `host:port` from `localAddress`. */
  createSocket(target: { host: string; port: number; localAddress: string | undefined }): Socket;
}

export function transparentSourceBinding(onUnavailable: (error: Error) => void): SourceBinding {
  let unavailable = false;
  return {
    bindAddress: (sourceIp) => (unavailable ? undefined : sourceIp),
    createSocket: ({ host, port, localAddress }) => {
      if (localAddress !== undefined && !unavailable) {
        try {
          const socket = createTcpSocket({ transparent: true, localAddress });
          socket.once('connect', () => socket.setNoDelay(true));
          return socket.connect(port, host);
        } catch (err) {
          // No CAP_NET_ADMIN (or no addon): from the node's address, the header vouched for by identity.
          unavailable = true;
          onUnavailable(err as Error);
        }
      }
      return connect({ host, port, noDelay: true });
    },
  };
}

export function explicitSourceBinding(isLocal: (ip: string) => boolean = isLocalAddress): SourceBinding {
  return {
    bindAddress: (sourceIp) => (isLocal(sourceIp) ? sourceIp : undefined),
    createSocket: ({ host, port, localAddress }) => connect({ host, port, noDelay: true, ...(localAddress ? { localAddress } : {}) }),
  };
}

const LOCAL_ADDRESSES_TTL_MS = 5_000;
let localAddresses: { at: number; set: Set<string> } | undefined;

/** True for loopback addresses and for the addresses of this host's interfaces (re-read every few seconds). */
export function isLocalAddress(ip: string): boolean {
  if (ip.startsWith('127.') || ip === '::1') return true;
  const now = Date.now();
  if (!localAddresses || now - localAddresses.at > LOCAL_ADDRESSES_TTL_MS) {
    const set = new Set<string>();
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) set.add(a.address);
    localAddresses = { at: now, set };
  }
  return localAddresses.set.has(ip);
}

/**
 * How the inbound side connects to a local pod for a tunnel: in transparent mode from the
 * client's own address (IP_TRANSPARENT), so the pod sees who called, as with Istio's ztunnel;
 * from the node's address for a same-node or unknown source (the original connection's accepted
 * socket is on this node and could share the spoofed 4-tuple), in explicit mode, or once binding
 * a foreign address has failed (reported once through `onUnavailable`).
 */
export function podConnector(options: {
  transparent: boolean;
  isLocalWorkload: (ip: string) => boolean;
  onUnavailable: (error: Error) => void;
}): (host: string, port: number, sourceIp: string | undefined) => Socket {
  let unavailable = false;
  return (host, port, sourceIp) => {
    const plain = () => connect({ host, port, allowHalfOpen: true, noDelay: true });
    if (!options.transparent || unavailable || !sourceIp || !isIPv4(sourceIp) || options.isLocalWorkload(sourceIp)) return plain();
    let socket: Socket;
    try {
      socket = createTcpSocket({ transparent: true, localAddress: sourceIp });
    } catch (err) {
      unavailable = true;
      options.onUnavailable(err as Error);
      return plain();
    }
    socket.allowHalfOpen = true;
    socket.once('connect', () => socket.setNoDelay(true));
    return socket.connect(port, host);
  };
}

const localIps = new WeakMap<RuntimeModel, ReadonlySet<string>>();

/**
 * The addresses of this node's workloads in `model`, worked out once per model (an update makes
 * a new one): the pod connector asks for every inbound tunnel, and `localWorkloads` builds the
 * list from every inbound chain each time.
 */
export function localWorkloadIps(model: RuntimeModel): ReadonlySet<string> {
  let ips = localIps.get(model);
  if (!ips) {
    ips = new Set(localWorkloads(model).map((w) => w.ip));
    localIps.set(model, ips);
  }
  return ips;
}
