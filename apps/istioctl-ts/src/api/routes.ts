/**
 * How meshctl gets to an HTTP surface it reads (istiod-lite's debug API, a proxy's admin API):
 * the one place that knows. These surfaces listen only where a pod cannot reach them — a
 * loopback address inside the proxy's own network namespace, or an owner-only Unix socket — so,
 * like istioctl's port-forward, meshctl goes to them:
 *
 *   host:port                         TCP from meshctl's own network namespace
 *   unix:<path>                       the Unix socket (needs permission to open it)
 *   netns:<name or path>/<host:port>  TCP from inside that network namespace (root: the socket is
 *                                     created there with @mesh/netfilter's addon, as `ip netns
 *                                     exec` would, while meshctl itself stays where it is)
 *
 * `--istiod` and `--admin` take these forms; a proxy's advertised endpoint is turned into one by
 * admin-route.ts. docs/operations.md, "Reaching the control surfaces", says which each setting uses.
 */
import { connect, type Socket } from 'node:net';
import { MeshError } from '@mesh/errors';

export type Route =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'netns'; readonly netns: string; readonly host: string; readonly port: number };

const UNIX_PREFIX = 'unix:';
const NETNS_PREFIX = 'netns:';

function hostPort(text: string, address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:/\s]+)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65_535) {
    throw new MeshError('MESHCTL_ERR_BAD_ADDRESS', `${address} is not an address meshctl can reach`, {
      hint: 'use host:port, unix:<socket path> or netns:<namespace>/<host:port>',
    });
  }
  return { host: (m[1] ?? m[2]) as string, port };
}

/** `host:port`, `http://host:port`, `unix:<path>` or `netns:<namespace>/<host:port>` → a route. */
export function parseRoute(address: string): Route {
  if (address.startsWith(UNIX_PREFIX)) {
    const path = address.slice(UNIX_PREFIX.length);
    if (!path.startsWith('/')) throw new MeshError('MESHCTL_ERR_BAD_ADDRESS', `${address}: a socket path must be absolute`, { hint: 'unix:/var/run/ztunnel/admin.sock' });
    return { kind: 'unix', path };
  }
  if (address.startsWith(NETNS_PREFIX)) {
    const rest = address.slice(NETNS_PREFIX.length);
    const slash = rest.lastIndexOf('/');
    if (slash <= 0) throw new MeshError('MESHCTL_ERR_BAD_ADDRESS', `${address}: expected netns:<namespace>/<host:port>`, { hint: 'netns:mdev-n-node-a/127.0.0.1:15000' });
    return { kind: 'netns', netns: rest.slice(0, slash), ...hostPort(rest.slice(slash + 1), address) };
  }
  return { kind: 'tcp', ...hostPort(address.replace(/^https?:\/\//, '').replace(/\/$/, ''), address) };
}

function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The inverse of parseRoute: what `--istiod` / `--admin` would take. */
export function formatRoute(route: Route): string {
  switch (route.kind) {
    case 'tcp':
      return formatHostPort(route.host, route.port);
    case 'unix':
      return `${UNIX_PREFIX}${route.path}`;
    case 'netns':
      return `${NETNS_PREFIX}${route.netns}/${formatHostPort(route.host, route.port)}`;
  }
}

/** For messages: `127.0.0.1:15000 in network namespace mdev-n-node-a`. */
export function describeRoute(route: Route): string {
  return route.kind === 'netns' ? `${formatHostPort(route.host, route.port)} in network namespace ${route.netns}` : formatRoute(route);
}

/**
 * A connecting socket along `route`; a namespace that cannot be entered rejects with a MeshError
 * saying why. @mesh/netfilter (and its addon) loads only for namespace routes.
 */
export async function openRoute(route: Route): Promise<Socket> {
  switch (route.kind) {
    case 'tcp':
      return connect({ host: route.host, port: route.port });
    case 'unix':
      return connect({ path: route.path });
    case 'netns': {
      let socket: Socket;
      try {
        const { createTcpSocket } = await import('@mesh/netfilter');
        socket = createTcpSocket({ netns: route.netns, family: route.host.includes(':') ? 6 : 4 });
      } catch (err) {
        throw new MeshError('MESHCTL_ERR_UNREACHABLE', `cannot enter network namespace ${route.netns}: ${(err as Error).message}`, {
          cause: err,
          hint: 'entering a network namespace needs root on that machine (and @mesh/netfilter built); or use the Unix socket: --admin unix:<path>',
        });
      }
      return socket.connect(route.port, route.host);
    }
  }
}
