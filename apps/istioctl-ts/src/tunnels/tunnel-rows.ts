/**
 * Pure view model of `meshctl tunnels`: live connections grouped under the HBONE pool connection
 * that carries them (source identity → destination ztunnel/pod :15008), byte rates from two
 * consecutive snapshots, sorting and a workload filter.
 */
import type { LiveConnection, PoolConnection, TunnelsSnapshot } from '../api/tunnels.js';
import { shortIdentity } from '../config-dump/names.js';

export interface TunnelRow {
  id: string;
  direction: string;
  protocol: string;
  /** Workload name when ztunnel knows it, else the address. */
  source: string;
  sourceAddr: string;
  sourceIdentity: string;
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

export interface PoolGroup {
  pool: PoolConnection | undefined;
  /** `default/productpage → default/reviews` */
  label: string;
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

/** Outbound HBONE tunnels under their pool connection; everything else (inbound, plain TCP) in a group without one. */
export function groupByPool(rows: readonly TunnelRow[], snapshot: TunnelsSnapshot, sourceIdentityOf: (row: TunnelRow) => string | undefined): PoolGroup[] {
  const groups: PoolGroup[] = snapshot.pool.map((pool) => ({
    pool,
    label: `${shortIdentity(pool.sourceIdentity)} → ${pool.peerIdentity ? shortIdentity(pool.peerIdentity) : '?'}`,
    tunnels: [],
  }));
  const other: PoolGroup = { pool: undefined, label: 'not pooled (inbound, plain TCP)', tunnels: [] };
  for (const row of rows) {
    const group = row.direction === 'outbound' && row.protocol === 'HBONE'
      ? groups.find((g) => g.pool!.destination === row.hboneAddr && g.pool!.sourceIdentity === sourceIdentityOf(row))
      : undefined;
    (group ?? other).tunnels.push(row);
  }
  // Groups follow the sort: a pool connection ranks where its best tunnel ranks; idle ones last.
  const rank = new Map(rows.map((row, i) => [row.id, i]));
  const firstRank = (g: PoolGroup) => Math.min(...g.tunnels.map((t) => rank.get(t.id) ?? Infinity));
  return [...groups, ...(other.tunnels.length > 0 ? [other] : [])].sort((a, b) => firstRank(a) - firstRank(b));
}

/** The full source identity of a row, for pool matching (rows show the short form). */
export function fullSourceIdentity(snapshot: TunnelsSnapshot): (row: TunnelRow) => string | undefined {
  const byId = new Map(snapshot.connections.map((c) => [c.id, c.srcIdentity]));
  return (row) => byId.get(row.id);
}
