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
 *   pod:<namespace>/<name>:<port>     the pod's port by port-forward through the Kubernetes API
 *                                     server (with --kubeconfig/--context; kube.ts)
 *
 * `--istiod` and `--admin` take these forms; a proxy's advertised endpoint is turned into one by
 * admin-route.ts. docs/operations.md, "Reaching the control surfaces", says which each setting uses.
 */
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { MeshError } from '@mesh/errors';

export type Route =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'netns'; readonly netns: string; readonly host: string; readonly port: number }
  | { readonly kind: 'pod'; readonly namespace: string; readonly name: string; readonly port: number };

/** Opens a port-forward to a pod's port (kube.ts); present only when meshctl was given a cluster. */
export type PortForwarder = (pod: { namespace: string; name: string }, port: number) => Promise<Duplex>;

const UNIX_PREFIX = 'unix:';
const NETNS_PREFIX = 'netns:';
const POD_PREFIX = 'pod:';

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
  if (address.startsWith(POD_PREFIX)) {
    const m = /^([a-z0-9-]+)\/([a-z0-9.-]+):(\d{1,5})$/.exec(address.slice(POD_PREFIX.length));
    const port = Number(m?.[3]);
    if (!m || port < 1 || port > 65_535) throw new MeshError('MESHCTL_ERR_BAD_ADDRESS', `${address}: expected pod:<namespace>/<name>:<port>`, { hint: 'pod:istio-system/ztunnel-x7k2p:15000' });
    return { kind: 'pod', namespace: m[1] as string, name: m[2] as string, port };
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
    case 'pod':
      return `${POD_PREFIX}${route.namespace}/${route.name}:${route.port}`;
  }
}

/** For messages: `127.0.0.1:15000 in network namespace mdev-n-node-a`. */
export function describeRoute(route: Route): string {
  if (route.kind === 'pod') return `port ${route.port} of pod ${route.namespace}/${route.name} (port-forward)`;
  return route.kind === 'netns' ? `${formatHostPort(route.host, route.port)} in network namespace ${route.netns}` : formatRoute(route);
}

/**
 * A connecting socket along `route`; a namespace that cannot be entered rejects with a MeshError
 * saying why. @mesh/netfilter (and its addon) loads only for namespace routes; a pod route needs
 * `portForward` (meshctl given a cluster).
 */
export async function openRoute(route: Route, portForward?: PortForwarder): Promise<Duplex> {
  switch (route.kind) {
    case 'pod':
      if (!portForward) {
        throw new MeshError('MESHCTL_ERR_UNREACHABLE', `${formatRoute(route)} is reached by port-forward through the Kubernetes API server`, { hint: 'pass --kubeconfig <file> (and --context <name>)' });
      }
      return portForward({ namespace: route.namespace, name: route.name }, route.port);
    case 'tcp':
      return connect({ host: route.host, port: route.port });
    case 'unix':
      return connect({ path: route.path });
    case 'netns': {
      let socket;
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
