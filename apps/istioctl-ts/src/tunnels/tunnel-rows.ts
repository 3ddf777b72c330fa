/**
 * Pure view model of `meshctl tunnels`: live connections grouped under the HBONE pool connection
 * that carries them (source identity → destination ztunnel/pod :15008), byte rates from two
 * consecutive snapshots, sorting and a workload filter.
 */
import type { LiveConnection, TunnelsSnapshot } from '../api/tunnels.js';
import { shortIdentity } from '../config-dump/names.js';

export interface TunnelRow {
  id: string;
  direction: string;
  protocol: string;
  /** Workload name when ztunnel knows it, else the address. */
  source: string;
  sourceAddr: string;
  sourceIdentity: string;
  /** Full SPIFFE URIs, for matching tunnels to pool and server connections. */
  sourceIdentityUri: string | undefined;
  destinationIdentityUri: string | undefined;
  destination: string;
  /** CONNECT :authority (original destination). */
  authority: string;
  hboneAddr: string;
  destinationIdentity: string;
  bytesSent: number;
  bytesRecv: number;
  /** Bytes per second since the previous snapshot; undefined on the first. */
  rateSent: number | undefined;
  rateRecv: number | undefined;
  ageMs: number;
}

/** A connection between two ztunnels (HBONE pool client side, or server side) and the tunnels it carries. */
export interface PoolGroup {
  kind: 'pool' | 'server' | 'other';
  key: string;
  /** The HBONE address: the peer's `ip:15008` for a pool connection, our local one for a server connection. */
  address: string;
  /** `default/productpage → default/reviews` (pool) or `← default/productpage` (server). */
  label: string;
  connection: { state: string; activeStreams: number; totalStreams: number; ageMs: number; remote?: string } | undefined;
  tunnels: TunnelRow[];
}

export const SORT_KEYS = ['bytes', 'rate', 'age', 'source', 'destination'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

function rowOf(c: LiveConnection, previous: TunnelsSnapshot | undefined, takenAtMs: number): TunnelRow {
  const before = previous?.connections.find((p) => p.id === c.id);
  const seconds = previous ? (takenAtMs - previous.takenAtMs) / 1000 : 0;
  const rate = (now: number, then: number | undefined) => (then === undefined || seconds <= 0 ? undefined : Math.max(0, now - then) / seconds);
  return {
    id: c.id,
    direction: c.direction,
    protocol: c.protocol.toUpperCase(),
    source: c.srcWorkload ?? c.srcAddr,
    sourceAddr: c.srcAddr,
    sourceIdentity: c.srcIdentity ? shortIdentity(c.srcIdentity) : '-',
    sourceIdentityUri: c.srcIdentity,
    destinationIdentityUri: c.dstIdentity,
    destination: c.dstWorkload ?? c.dstService ?? c.dstAddr,
    authority: c.dstAddr,
    hboneAddr: c.dstHboneAddr ?? '-',
    destinationIdentity: c.dstIdentity ? shortIdentity(c.dstIdentity) : '-',
    bytesSent: c.bytesSent,
    bytesRecv: c.bytesRecv,
    rateSent: rate(c.bytesSent, before?.bytesSent),
    rateRecv: rate(c.bytesRecv, before?.bytesRecv),
    ageMs: c.ageMs,
  };
}

export function tunnelRows(snapshot: TunnelsSnapshot, previous?: TunnelsSnapshot): TunnelRow[] {
  return snapshot.connections.map((c) => rowOf(c, previous, snapshot.takenAtMs));
}

export function matchesFilter(row: TunnelRow, filter: string): boolean {
  if (filter === '') return true;
  const needle = filter.toLowerCase();
  return [row.source, row.sourceAddr, row.sourceIdentity, row.destination, row.authority, row.destinationIdentity].some((v) => v.toLowerCase().includes(needle));
}

export function sortRows(rows: readonly TunnelRow[], key: SortKey): TunnelRow[] {
  const total = (r: TunnelRow) => r.bytesSent + r.bytesRecv;
  const rate = (r: TunnelRow) => (r.rateSent ?? 0) + (r.rateRecv ?? 0);
  const compare: Record<SortKey, (a: TunnelRow, b: TunnelRow) => number> = {
    bytes: (a, b) => total(b) - total(a),
    rate: (a, b) => rate(b) - rate(a),
    age: (a, b) => b.ageMs - a.ageMs,
    source: (a, b) => a.source.localeCompare(b.source),
    destination: (a, b) => a.destination.localeCompare(b.destination),
  };
  return [...rows].sort((a, b) => compare[key](a, b) || a.id.localeCompare(b.id));
}

const ipOf = (address: string) => address.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');

/**
 * Outbound HBONE tunnels under the pool connection carrying them (same source identity and
 * HBONE destination), inbound HBONE tunnels under the server connection they arrived on (same
 * peer identity, local address of the destination pod), everything else (plain TCP) apart.
 */
export function groupByConnection(rows: readonly TunnelRow[], snapshot: TunnelsSnapshot): PoolGroup[] {
  const pools: PoolGroup[] = snapshot.pool.map((pool) => ({
    kind: 'pool',
    key: `pool-${pool.id}`,
    address: pool.destination,
    label: `${shortIdentity(pool.sourceIdentity)} → ${pool.peerIdentity ? shortIdentity(pool.peerIdentity) : '?'}`,
    connection: { state: pool.state, activeStreams: pool.activeStreams, totalStreams: pool.totalStreams, ageMs: pool.ageMs },
    tunnels: [],
  }));
  const servers: PoolGroup[] = snapshot.server.map((server, i) => ({
    kind: 'server',
    key: `server-${i}-${server.remoteAddress}`,
    address: server.localAddress,
    label: `← ${shortIdentity(server.peerIdentity)}`,
    connection: { state: 'inbound', activeStreams: server.activeStreams, totalStreams: server.totalStreams, ageMs: server.ageMs, remote: server.remoteAddress },
    tunnels: [],
  }));
  const other: PoolGroup = { kind: 'other', key: 'other', address: '', label: 'plain TCP and unmatched', connection: undefined, tunnels: [] };
  for (const row of rows) {
    let group: PoolGroup | undefined;
    if (row.protocol === 'HBONE' && row.direction === 'outbound') {
      group = pools.find((g, i) => g.address === row.hboneAddr && snapshot.pool[i]?.sourceIdentity === row.sourceIdentityUri);
    } else if (row.protocol === 'HBONE' && row.direction === 'inbound') {
      group = servers.find((g, i) => snapshot.server[i]?.peerIdentity === row.sourceIdentityUri && ipOf(g.address) === ipOf(row.authority));
    }
    (group ?? other).tunnels.push(row);
  }
  // Groups follow the sort: a connection ranks where its best tunnel ranks; idle ones last.
  const rank = new Map(rows.map((row, i) => [row.id, i]));
  const firstRank = (g: PoolGroup) => Math.min(...g.tunnels.map((t) => rank.get(t.id) ?? Infinity));
  return [...pools, ...servers, ...(other.tunnels.length > 0 ? [other] : [])].sort((a, b) => firstRank(a) - firstRank(b));
}

export interface ClosedTunnel {
  row: TunnelRow;
  closedAtMs: number;
}

/** How long a closed tunnel stays on screen, so short connections are seen at all. */
export const CLOSED_TUNNEL_VISIBLE_MS = 10_000;

/** Tunnels in `previous` but not in `current` closed in between; keeps earlier ones for CLOSED_TUNNEL_VISIBLE_MS. */
export function updateClosed(closed: readonly ClosedTunnel[], previous: TunnelsSnapshot | undefined, current: TunnelsSnapshot): ClosedTunnel[] {
  const live = new Set(current.connections.map((c) => c.id));
  const newlyClosed = previous ? tunnelRows(previous).filter((row) => !live.has(row.id)).map((row) => ({ row, closedAtMs: current.takenAtMs })) : [];
  return [...newlyClosed, ...closed.filter((c) => current.takenAtMs - c.closedAtMs < CLOSED_TUNNEL_VISIBLE_MS && !live.has(c.row.id))];
}
