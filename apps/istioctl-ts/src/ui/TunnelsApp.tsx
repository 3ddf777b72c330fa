/** The interactive `meshctl tunnels` screen: polling, keys (s sort, / filter, esc clear, q quit) around the pure TunnelsView. */
import { useApp, useInput } from 'ink';
import { useMemo, useState } from 'react';
import type { TunnelsSnapshot } from '../api/tunnels.js';
import { SORT_KEYS, fullSourceIdentity, groupByPool, matchesFilter, sortRows, tunnelRows, type SortKey } from '../tunnels/tunnel-rows.js';
import { TunnelsView } from './TunnelsView.js';
import { useTunnels } from './use-tunnels.js';

export interface TunnelsAppProps {
  proxy: string;
  fetchSnapshot: () => Promise<TunnelsSnapshot>;
  intervalMs: number;
  initialSort: SortKey;
  initialFilter: string;
}

export function TunnelsApp({ proxy, fetchSnapshot, intervalMs, initialSort, initialFilter }: TunnelsAppProps) {
  const { current, previous, error } = useTunnels(fetchSnapshot, intervalMs);
  const [sortKey, setSortKey] = useState<SortKey>(initialSort);
  const [filter, setFilter] = useState(initialFilter);
  const [editing, setEditing] = useState(false);
  const { exit } = useApp();

  useInput((input, key) => {
    if (editing) {
      if (key.return) setEditing(false);
      else if (key.escape) {
        setEditing(false);
        setFilter('');
      } else if (key.backspace || key.delete) setFilter((f) => f.slice(0, -1));
      else if (input && !key.ctrl && !key.meta) setFilter((f) => f + input);
      return;
    }
    if (input === 'q' || (key.ctrl && input === 'c')) exit();
    else if (input === 's') setSortKey((k) => SORT_KEYS[(SORT_KEYS.indexOf(k) + 1) % SORT_KEYS.length]!);
    else if (input === '/') setEditing(true);
    else if (key.escape) setFilter('');
  });

  const groups = useMemo(() => {
    if (!current) return [];
    const rows = sortRows(tunnelRows(current, previous).filter((r) => matchesFilter(r, filter)), sortKey);
    const grouped = groupByPool(rows, current, fullSourceIdentity(current));
    // While filtering, idle pool connections are noise.
    return filter === '' ? grouped : grouped.filter((g) => g.tunnels.length > 0);
  }, [current, previous, filter, sortKey]);

  return (
    <TunnelsView
      proxy={proxy}
      groups={groups}
      sortKey={sortKey}
      filter={filter}
      editingFilter={editing}
      error={error}
      updatedAt={current ? new Date(current.takenAtMs) : undefined}
    />
  );
}
