/**
 * From a proxy's advertised admin endpoint (@mesh/admin-access: loopback address, network
 * namespace, Unix socket) to a route meshctl can take from where it runs. `planAdminRoute` is
 * pure over the facts of this machine, so every case is table-tested; `HOST_FACTS` gathers them.
 *
 * In order: the Unix socket, when this process may open it; the address itself, when meshctl
 * is in the proxy's network namespace (the address is loopback: from anywhere else it would
 * reach whatever listens there instead, maybe another proxy); the address from inside that
 * namespace, when meshctl can enter it (root on the same machine); otherwise no route, with the
 * ways there are.
 */
import { accessSync, constants } from 'node:fs';
import type { AdminEndpoint } from '@mesh/admin-access';
import { currentNetworkNamespace, findNetworkNamespace } from '@mesh/admin-access';
import { formatRoute, parseRoute } from './routes.js';

export interface HostFacts {
  /** meshctl's own network namespace, `net:[<inode>]`. */
  ownNetns(): string | undefined;
  /** True when this process may connect to the Unix socket at `path`. */
  socketUsable(path: string): boolean;
  /** A path to enter the namespace with this identity, when visible from here. */
  findNetns(identity: string): string | undefined;
  /** True when this process may enter other network namespaces (root, addon built). */
  canEnterNetns(): boolean;
}

export type AdminRoutePlan =
  | { readonly ok: true; readonly address: string; readonly via: 'socket' | 'address' | 'netns' }
  | { readonly ok: false; readonly problem: string; readonly hint: string };

/** `--admin` forms, for hints. */
export const ADMIN_FLAG_HINT = 'pass --admin <host:port> (or unix:<socket>, netns:<namespace>/<host:port>)';

/** `proxy` names it in messages (`ztunnel-node-a`). */
export function planAdminRoute(endpoint: AdminEndpoint, facts: HostFacts, proxy = 'the proxy'): AdminRoutePlan {
  if (endpoint.socket && facts.socketUsable(endpoint.socket)) return { ok: true, address: `unix:${endpoint.socket}`, via: 'socket' };
  const ways = [
    ...(endpoint.socket ? [`run meshctl as the owner of ${endpoint.socket} (or root) on that machine`] : []),
    'run meshctl as root on the node (it enters the network namespace)',
    'run it inside that network namespace (docker run --network container:<node>, kubectl port-forward)',
    `or ${ADMIN_FLAG_HINT}`,
  ].join('; ');
  if (!endpoint.address) return { ok: false, problem: `${proxy}'s admin socket ${endpoint.socket} cannot be opened from here`, hint: ways };
  const own = facts.ownNetns();
  if (endpoint.netns === undefined || endpoint.netns === own) return { ok: true, address: endpoint.address, via: 'address' };
  const path = facts.canEnterNetns() ? facts.findNetns(endpoint.netns) : undefined;
  if (path) {
    const target = parseRoute(endpoint.address);
    if (target.kind === 'tcp') return { ok: true, address: formatRoute({ kind: 'netns', netns: path, host: target.host, port: target.port }), via: 'netns' };
  }
  const why = facts.canEnterNetns() ? 'which is not on this machine' : 'which meshctl may not enter (not root, or @mesh/netfilter not built)';
  return { ok: false, problem: `${proxy}'s admin API listens on ${endpoint.address} inside network namespace ${endpoint.netns}, ${why}`, hint: ways };
}

/** The facts of the machine meshctl runs on. */
export const HOST_FACTS: HostFacts = {
  ownNetns: () => currentNetworkNamespace(),
  socketUsable(path) {
    try {
      accessSync(path, constants.W_OK); // connect() on a Unix socket needs write permission
      return true;
    } catch {
      return false;
    }
  },
  findNetns: (identity) => findNetworkNamespace(identity),
  canEnterNetns: () => process.platform === 'linux' && process.getuid?.() === 0,
};
