/**
 * The live tunnels screen: one block per HBONE pool connection (source identity → peer identity,
 * state, streams, age) with its tunnels beneath (source → destination, :authority, bytes each
 * way with rate, age). Pure: everything it shows comes from props.
 */
import { Box, Text } from 'ink';
import type { ClosedTunnel, PoolGroup, SortKey, TunnelRow } from '../tunnels/tunnel-rows.js';
import { formatAge, formatBytes, formatRate } from '../render/units.js';

export interface TunnelsViewProps {
  proxy: string;
  groups: readonly PoolGroup[];
  /** Recently closed tunnels (most recent first), with their final bytes. */
  closed?: readonly ClosedTunnel[];
  /** The snapshot's clock, for "closed 3s ago". */
  nowMs?: number;
  sortKey: SortKey;
  filter: string;
  /** True while the user types a filter after `/`. */
  editingFilter: boolean;
  /** Shown instead of stale numbers when the last refresh failed. */
  error: string | undefined;
  updatedAt: Date | undefined;
}

function TunnelLine({ row }: { row: TunnelRow }) {
  return (
    <Box>
      <Text>{'  '}</Text>
      <Text color={row.direction === 'outbound' ? 'cyan' : 'magenta'}>{row.direction === 'outbound' ? '→' : '←'} </Text>
      <Text bold>{row.source}</Text>
      <Text> → </Text>
      <Text bold>{row.destination}</Text>
      <Text dimColor> {row.authority} {row.protocol}</Text>
      <Text>
        {'  '}↑ {formatBytes(row.bytesSent)} <Text color="green">{formatRate(row.rateSent)}</Text>
        {'  '}↓ {formatBytes(row.bytesRecv)} <Text color="green">{formatRate(row.rateRecv)}</Text>
      </Text>
      <Text dimColor>{'  '}{formatAge(row.ageMs)}</Text>
    </Box>
  );
}

export function TunnelsView({ proxy, groups, closed = [], nowMs = 0, sortKey, filter, editingFilter, error, updatedAt }: TunnelsViewProps) {
  const tunnelCount = groups.reduce((n, g) => n + g.tunnels.length, 0);
  const poolCount = groups.filter((g) => g.kind === 'pool').length;
  const serverCount = groups.filter((g) => g.kind === 'server').length;
  return (
    <Box flexDirection="column">
      <Box>
        <Text bold>{proxy}</Text>
        <Text>
          {' '}· {poolCount} pool connection{poolCount === 1 ? '' : 's'} out · {serverCount} in · {tunnelCount} connection{tunnelCount === 1 ? '' : 's'} · sort: {sortKey}
          {filter !== '' || editingFilter ? ` · filter: ${filter}${editingFilter ? '▏' : ''}` : ''}
        </Text>
        {updatedAt ? <Text dimColor> · {updatedAt.toISOString().slice(11, 19)}</Text> : null}
      </Box>
      {error ? <Text color="red">refresh failed: {error}</Text> : null}
      {groups.length === 0 ? <Text dimColor>no HBONE pool connections and no live connections</Text> : null}
      {groups.map((group) => (
        <Box key={group.key} flexDirection="column" marginTop={1}>
          <Text>
            <Text color={group.kind === 'pool' ? 'yellow' : group.kind === 'server' ? 'magenta' : 'gray'}>{group.address || '·'}</Text> <Text bold>{group.label}</Text>
            {group.connection ? (
              <Text dimColor>
                {group.connection.remote ? ` from ${group.connection.remote}` : ''} {group.connection.state} · streams {group.connection.activeStreams} active/{group.connection.totalStreams} total ·{' '}
                {formatAge(group.connection.ageMs)}
              </Text>
            ) : null}
          </Text>
          {group.tunnels.length === 0 ? <Text dimColor>{'  '}(idle)</Text> : group.tunnels.map((row) => <TunnelLine key={row.id} row={row} />)}
        </Box>
      ))}
      {closed.length > 0 ? (
        <Box flexDirection="column" marginTop={1}>
          <Text bold>recently closed</Text>
          {closed.map(({ row, closedAtMs }) => (
            <Text key={`closed-${row.id}`} dimColor>
              {'  '}✕ {row.source} → {row.destination} {row.authority} {row.protocol} ↑ {formatBytes(row.bytesSent)} ↓ {formatBytes(row.bytesRecv)} lived {formatAge(row.ageMs)}, closed{' '}
              {formatAge(Math.max(0, nowMs - closedAtMs))} ago
            </Text>
          ))}
        </Box>
      ) : null}
      <Box marginTop={1}>
        <Text dimColor>s: sort by {'{'}bytes, rate, age, source, destination{'}'} · /: filter by workload · esc: clear filter · q: quit</Text>
      </Box>
    </Box>
  );
}
