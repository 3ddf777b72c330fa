/**
 * `meshctl ztunnel-config connections` in istioctl's shape (istioctl/pkg/writer/ztunnel/configdump
 * connections.go): one row per connection of a local workload, WORKLOAD DIRECTION LOCAL REMOTE
 * REMOTE TARGET PROTOCOL. Outbound: the source pod's address, where the tunnel goes (a pod's or
 * waypoint's :15008), and the original destination; inbound: the pod's address and the peer's,
 * and the Service it was addressed as. Addresses are named (`reviews-v1.default:9080`, a
 * Service's hostname) where ztunnel says whose they are, unless `raw`.
 */
import type { LiveConnection, TunnelsSnapshot } from '../api/tunnels.js';
import { renderTable } from '../render/table.js';

export interface ConnectionFilter {
  namespace?: string | undefined;
  direction?: 'inbound' | 'outbound' | undefined;
  /** Addresses as they are, not named. */
  raw?: boolean | undefined;
}

export interface ZtunnelConnectionRow {
  workload: string;
  direction: 'Inbound' | 'Outbound';
  local: string;
  remote: string;
  remoteTarget: string;
  protocol: string;
  /** The connection as ztunnel reported it (`-o json`). */
  connection: LiveConnection;
}

/** `spiffe://cluster.local/ns/default/sa/x` → `default`. */
function namespaceOf(identity: string | undefined): string | undefined {
  return identity ? /\/ns\/([^/]+)\//.exec(identity)?.[1] : undefined;
}

function hostPort(addr: string): [host: string, port: string] {
  const i = addr.lastIndexOf(':');
  return i === -1 ? [addr, ''] : [addr.slice(0, i).replace(/^\[|\]$/g, ''), addr.slice(i + 1)];
}

function named(addr: string, name: string | undefined, raw: boolean): string {
  if (raw || !name) return addr;
  const [, port] = hostPort(addr);
  return port ? `${name}:${port}` : name;
}

export function ztunnelConnectionRows(snapshot: TunnelsSnapshot, filter: ConnectionFilter = {}): ZtunnelConnectionRow[] {
  const raw = filter.raw ?? false;
  const rows = snapshot.connections.flatMap((c): ZtunnelConnectionRow[] => {
    const outbound = c.direction === 'outbound';
    const srcName = c.srcWorkload ? `${c.srcWorkload}${namespaceOf(c.srcIdentity) ? `.${namespaceOf(c.srcIdentity)}` : ''}` : undefined;
    const dstName = c.dstWorkload ? `${c.dstWorkload}${namespaceOf(c.dstIdentity) ? `.${namespaceOf(c.dstIdentity)}` : ''}` : undefined;
    const namespace = namespaceOf(outbound ? c.srcIdentity : c.dstIdentity);
    if (filter.namespace !== undefined && namespace !== filter.namespace) return [];
    if (filter.direction !== undefined && c.direction !== filter.direction) return [];
    const protocol = c.protocol.toUpperCase();
    if (outbound) {
      const tunnel = c.dstHboneAddr ?? c.dstAddr;
      // The tunnel goes to the pod itself unless a waypoint is in between.
      const tunnelName = hostPort(tunnel)[0] === hostPort(c.dstAddr)[0] ? dstName : undefined;
      return [{ workload: srcName ?? hostPort(c.srcAddr)[0], direction: 'Outbound', local: named(c.srcAddr, srcName, raw), remote: named(tunnel, tunnelName, raw), remoteTarget: named(c.dstAddr, c.dstService ?? dstName, raw), protocol, connection: c }];
    }
    return [{ workload: dstName ?? hostPort(c.dstAddr)[0], direction: 'Inbound', local: named(c.dstAddr, dstName, raw), remote: named(c.srcAddr, srcName, raw), remoteTarget: raw ? '' : (c.dstService ?? ''), protocol, connection: c }];
  });
  return rows.sort((a, b) => a.workload.localeCompare(b.workload) || a.direction.localeCompare(b.direction) || a.local.localeCompare(b.local));
}

export function ztunnelConnectionsTable(rows: readonly ZtunnelConnectionRow[]): string {
  return renderTable(['WORKLOAD', 'DIRECTION', 'LOCAL', 'REMOTE', 'REMOTE TARGET', 'PROTOCOL'], rows.map((r) => [r.workload, r.direction, r.local, r.remote, r.remoteTarget, r.protocol]));
}
