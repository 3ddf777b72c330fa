/** The interactive `meshctl tunnels` screen: polling, keys (s sort, / filter, esc clear, q quit) around the pure TunnelsView. */
import { useApp, useInput, useStdin } from 'ink';
import { useEffect, useMemo, useReducer } from 'react';
import type { TunnelsSnapshot } from '../api/tunnels.js';
import { SORT_KEYS, groupByConnection, matchesFilter, sortRows, tunnelRows, type SortKey } from '../tunnels/tunnel-rows.js';
import { TunnelsView } from './TunnelsView.js';
import { useTunnels } from './use-tunnels.js';

export interface TunnelsAppProps {
  proxy: string;
  fetchSnapshot: () => Promise<TunnelsSnapshot>;
  intervalMs: number;
  initialSort: SortKey;
  initialFilter: string;
}

/** What the keys control. A reducer, so keys typed faster than React re-renders (or pasted) all land. */
export interface TunnelsUiState {
  sortKey: SortKey;
  filter: string;
  editing: boolean;
  quit: boolean;
}

export interface KeyPress {
  input: string;
  return?: boolean;
  escape?: boolean;
  backspace?: boolean;
  delete?: boolean;
  ctrl?: boolean;
  meta?: boolean;
}

export function reduceKey(state: TunnelsUiState, key: KeyPress): TunnelsUiState {
  if (state.editing) {
    if (key.return) return { ...state, editing: false };
    if (key.escape) return { ...state, editing: false, filter: '' };
    if (key.backspace || key.delete) return { ...state, filter: state.filter.slice(0, -1) };
    if (key.input && !key.ctrl && !key.meta) return { ...state, filter: state.filter + key.input };
    return state;
  }
  if (key.input === 'q' || (key.ctrl && key.input === 'c')) return { ...state, quit: true };
  if (key.input === 's') return { ...state, sortKey: SORT_KEYS[(SORT_KEYS.indexOf(state.sortKey) + 1) % SORT_KEYS.length]! };
  if (key.input === '/') return { ...state, editing: true };
  if (key.escape) return { ...state, filter: '' };
  return state;
}

export function TunnelsApp({ proxy, fetchSnapshot, intervalMs, initialSort, initialFilter }: TunnelsAppProps) {
  const { current, previous, closed, error } = useTunnels(fetchSnapshot, intervalMs);
  const [{ sortKey, filter, editing, quit }, dispatch] = useReducer(reduceKey, { sortKey: initialSort, filter: initialFilter, editing: false, quit: false });
  const { exit } = useApp();
  // Keys need a raw-mode terminal on stdin; with stdin redirected the view still runs (quit with Ctrl-C).
  const { isRawModeSupported } = useStdin();
  useInput((input, key) => dispatch({ input, ...key }), { isActive: isRawModeSupported });
  useEffect(() => {
    if (quit) exit();
  }, [quit, exit]);

  const groups = useMemo(() => {
    if (!current) return [];
    const rows = sortRows(tunnelRows(current, previous).filter((r) => matchesFilter(r, filter)), sortKey);
    const grouped = groupByConnection(rows, current);
    // While filtering, idle pool connections are noise.
    return filter === '' ? grouped : grouped.filter((g) => g.tunnels.length > 0);
  }, [current, previous, filter, sortKey]);
  const recentlyClosed = useMemo(() => closed.filter((c) => matchesFilter(c.row, filter)), [closed, filter]);

  return (
    <TunnelsView
      proxy={proxy}
      groups={groups}
      closed={recentlyClosed}
      nowMs={current?.takenAtMs ?? 0}
      sortKey={sortKey}
      filter={filter}
      editingFilter={editing}
      error={error}
      updatedAt={current ? new Date(current.takenAtMs) : undefined}
    />
  );
}
