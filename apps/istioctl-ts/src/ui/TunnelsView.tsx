/**
 * The live tunnels screen: one block per HBONE pool connection (source identity → peer identity,
 * state, streams, age) with its tunnels beneath (source → destination, :authority, bytes each
 * way with rate, age). Pure: everything it shows comes from props.
 */
import { Box, Text } from 'ink';
import type { PoolGroup, SortKey, TunnelRow } from '../tunnels/tunnel-rows.js';
import { formatAge, formatBytes, formatRate } from '../render/units.js';

export interface TunnelsViewProps {
  proxy: string;
  groups: readonly PoolGroup[];
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

export function TunnelsView({ proxy, groups, sortKey, filter, editingFilter, error, updatedAt }: TunnelsViewProps) {
  const tunnelCount = groups.reduce((n, g) => n + g.tunnels.length, 0);
  const poolCount = groups.filter((g) => g.pool).length;
  return (
    <Box flexDirection="column">
      <Box>
        <Text bold>{proxy}</Text>
        <Text>
          {' '}· {poolCount} pool connection{poolCount === 1 ? '' : 's'} · {tunnelCount} connection{tunnelCount === 1 ? '' : 's'} · sort: {sortKey}
          {filter !== '' || editingFilter ? ` · filter: ${filter}${editingFilter ? '▏' : ''}` : ''}
        </Text>
        {updatedAt ? <Text dimColor> · {updatedAt.toISOString().slice(11, 19)}</Text> : null}
      </Box>
      {error ? <Text color="red">refresh failed: {error}</Text> : null}
      {groups.length === 0 ? <Text dimColor>no HBONE pool connections and no live connections</Text> : null}
      {groups.map((group, i) => (
        <Box key={group.pool?.id ?? `other-${i}`} flexDirection="column" marginTop={1}>
          <Text>
            <Text color="yellow">{group.pool ? group.pool.destination : '·'}</Text> <Text bold>{group.label}</Text>
            {group.pool ? (
              <Text dimColor>
                {' '}
                {group.pool.state} · streams {group.pool.activeStreams} active/{group.pool.totalStreams} total · {formatAge(group.pool.ageMs)}
              </Text>
            ) : null}
          </Text>
          {group.tunnels.length === 0 ? <Text dimColor>{'  '}(idle)</Text> : group.tunnels.map((row) => <TunnelLine key={row.id} row={row} />)}
        </Box>
      ))}
      <Box marginTop={1}>
        <Text dimColor>s: sort by {'{'}bytes, rate, age, source, destination{'}'} · /: filter by workload · esc: clear filter · q: quit</Text>
      </Box>
    </Box>
  );
}
