/**
 * Where a proxy's admin API is, as the proxy tells istiod-lite (xDS node metadata, shown in
 * `/debug/syncz`) so meshctl can find it. The admin API listens on the loopback of the proxy's
 * own network namespace — never an address a pod can reach — so an address alone does not say
 * how to get there: `127.0.0.1:15000` means something different in every namespace. The
 * metadata therefore names the namespace too (by its kernel identity, which is the same seen
 * from any container or process on the machine) and, when there is one, the owner-only Unix
 * socket that serves the same API. How meshctl uses them is in docs/operations.md
 * ("Reaching the control surfaces").
 */
import { isIPv4, isIPv6 } from 'node:net';

/** `host:port` of the admin API inside the proxy's network namespace. */
export const ADMIN_ADDRESS_METADATA_KEY = 'ADMIN_ADDRESS';
/** Path of the owner-only Unix socket serving the same API, when the proxy has one. */
export const ADMIN_SOCKET_METADATA_KEY = 'ADMIN_SOCKET';
/** The proxy's network namespace, `net:[<inode>]` (what `readlink /proc/self/ns/net` prints). */
export const ADMIN_NETNS_METADATA_KEY = 'ADMIN_NETNS';

export interface AdminEndpoint {
  /** `host:port` (loopback) inside the namespace named by `netns`. */
  readonly address?: string | undefined;
  /** Unix socket path (meaningful on the proxy's file system). */
  readonly socket?: string | undefined;
  /** `net:[<inode>]` of the namespace `address` is in. */
  readonly netns?: string | undefined;
}

/** The node metadata entries a proxy advertises for its admin endpoint. */
export function adminEndpointMetadata(endpoint: AdminEndpoint): Record<string, string> {
  return {
    ...(endpoint.address ? { [ADMIN_ADDRESS_METADATA_KEY]: endpoint.address } : {}),
    ...(endpoint.socket ? { [ADMIN_SOCKET_METADATA_KEY]: endpoint.socket } : {}),
    ...(endpoint.netns ? { [ADMIN_NETNS_METADATA_KEY]: endpoint.netns } : {}),
  };
}

/** The admin endpoint a proxy advertised; undefined when it advertised none. */
export function adminEndpointFromMetadata(metadata: Readonly<Record<string, unknown>>): AdminEndpoint | undefined {
  const text = (key: string) => (typeof metadata[key] === 'string' && metadata[key] !== '' ? (metadata[key] as string) : undefined);
  const endpoint = { address: text(ADMIN_ADDRESS_METADATA_KEY), socket: text(ADMIN_SOCKET_METADATA_KEY), netns: text(ADMIN_NETNS_METADATA_KEY) };
  return endpoint.address || endpoint.socket ? endpoint : undefined;
}

/**
 * True for addresses only the host itself (its network namespace) can reach: 127.0.0.0/8, ::1,
 * their IPv4-mapped form, and `localhost`. Packets from another namespace never arrive there:
 * the kernel drops "martian" packets addressed to loopback on any other interface.
 */
export function isLoopbackAddress(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost') return true;
  const v4 = bare.startsWith('::ffff:') ? bare.slice('::ffff:'.length) : bare;
  if (isIPv4(v4)) return v4.startsWith('127.');
  return isIPv6(bare) && /^(0{0,4}:){7}0{0,3}1$|^::1$/.test(bare);
}
