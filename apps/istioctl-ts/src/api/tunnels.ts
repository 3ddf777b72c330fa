/**
 * ztunnel's `/tunnels` admin endpoint, typed: live connections (each an HBONE tunnel or a plain
 * TCP relay), the HBONE pool's client connections and the HBONE server's connections. Parsing is
 * tolerant: missing fields read as empty so a ztunnel of another version still shows something.
 */
import { num, rec, records, str, type JsonRecord } from '../config-dump/json.js';

export interface LiveConnection {
  id: string;
  direction: 'outbound' | 'inbound' | string;
  /** `hbone` (carried in a tunnel) or `tcp`. */
  protocol: string;
  srcAddr: string;
  srcIdentity: string | undefined;
  srcWorkload: string | undefined;
  /** The original destination: the CONNECT `:authority` of an HBONE tunnel. */
  dstAddr: string;
  /** Where the tunnel goes (pod or waypoint, port 15008). */
  dstHboneAddr: string | undefined;
  dstIdentity: string | undefined;
  dstWorkload: string | undefined;
  dstService: string | undefined;
  /** source → destination. */
  bytesSent: number;
  /** destination → source. */
  bytesRecv: number;
  ageMs: number;
}

export interface PoolConnection {
  id: string;
  sourceIdentity: string;
  /** HBONE endpoint `ip:15008`. */
  destination: string;
  peerIdentity: string | undefined;
  state: string;
  activeStreams: number;
  totalStreams: number;
  ageMs: number;
}

export interface ServerConnection {
  peerIdentity: string;
  localAddress: string;
  remoteAddress: string;
  activeStreams: number;
  totalStreams: number;
  ageMs: number;
}

export interface TunnelsSnapshot {
  /** Local clock when the snapshot arrived, for rates. */
  takenAtMs: number;
  connections: LiveConnection[];
  pool: PoolConnection[];
  server: ServerConnection[];
}

function ageOf(row: JsonRecord, nowMs: number): number {
  const age = num(row['ageMs']) ?? num(row['age_ms']);
  if (age !== undefined) return age;
  const started = num(row['startedAt']) ?? num(row['createdAt']);
  return started !== undefined ? Math.max(0, nowMs - started) : 0;
}

export function parseTunnels(value: unknown, takenAtMs: number): TunnelsSnapshot {
  const body = rec(value);
  return {
    takenAtMs,
    connections: records(body['connections']).map((c) => {
      const src = rec(c['src']);
      const dst = rec(c['dst']);
      return {
        id: String(c['id'] ?? ''),
        direction: str(c['direction']) ?? '-',
        protocol: str(c['protocol']) ?? '-',
        srcAddr: str(src['addr']) ?? '-',
        srcIdentity: str(src['identity']),
        srcWorkload: str(src['workload']),
        dstAddr: str(dst['addr']) ?? '-',
        dstHboneAddr: str(dst['hboneAddr']),
        dstIdentity: str(dst['identity']),
        dstWorkload: str(dst['workload']),
        dstService: str(dst['service']),
        bytesSent: num(c['bytesSent']) ?? 0,
        bytesRecv: num(c['bytesRecv']) ?? 0,
        ageMs: ageOf(c, takenAtMs),
      };
    }),
    pool: records(body['pool']).map((p) => ({
      id: String(p['id'] ?? ''),
      sourceIdentity: str(p['sourceIdentity']) ?? '-',
      destination: str(p['destination']) ?? '-',
      peerIdentity: str(p['peerIdentity']),
      state: str(p['state']) ?? '-',
      activeStreams: num(p['activeStreams']) ?? 0,
      totalStreams: num(p['totalStreams']) ?? 0,
      ageMs: ageOf(p, takenAtMs),
    })),
    server: records(body['server']).map((s) => ({
      peerIdentity: str(s['peerIdentity']) ?? '-',
      localAddress: str(s['localAddress']) ?? '-',
      remoteAddress: str(s['remoteAddress']) ?? '-',
      activeStreams: num(s['activeStreams']) ?? 0,
      totalStreams: num(s['totalStreams']) ?? 0,
      ageMs: ageOf(s, takenAtMs),
    })),
  };
}
