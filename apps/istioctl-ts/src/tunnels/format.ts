/** Plain-text (`--once`, non-TTY) rendering of tunnels. */
import { formatAge, formatBytes, formatRate } from '../render/units.js';
import type { PoolGroup, TunnelRow } from './tunnel-rows.js';

export function tunnelLine(r: TunnelRow): string {
  return `${r.direction} ${r.source} → ${r.destination} ${r.authority} ${r.protocol} sent ${formatBytes(r.bytesSent)} (${formatRate(r.rateSent)}) received ${formatBytes(r.bytesRecv)} (${formatRate(r.rateRecv)}) age ${formatAge(r.ageMs)}`;
}

export function poolHeader(g: PoolGroup): string {
  if (!g.connection) return g.label;
  const c = g.connection;
  return `${g.address} ${g.label}${c.remote ? ` from ${c.remote}` : ''} ${c.state} streams ${c.activeStreams} active/${c.totalStreams} total, age ${formatAge(c.ageMs)}`;
}

export function groupsText(groups: readonly PoolGroup[]): string {
  if (groups.length === 0) return 'no HBONE pool connections and no live connections\n';
  return groups.map((g) => [poolHeader(g), ...(g.tunnels.length > 0 ? g.tunnels.map((t) => `  ${tunnelLine(t)}`) : ['  (idle)'])].join('\n')).join('\n') + '\n';
}
