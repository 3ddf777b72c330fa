/**
 * Polls a ztunnel's `/tunnels` and keeps the last two snapshots (rates need both). Polling, not
 * the `?watch=1` stream: one request a second is cheap, survives ztunnel restarts without
 * reconnect logic, and a failed refresh shows as an error line while the last numbers stay.
 */
import { useEffect, useState } from 'react';
import type { TunnelsSnapshot } from '../api/tunnels.js';
import { updateClosed, type ClosedTunnel } from '../tunnels/tunnel-rows.js';

export interface TunnelsState {
  current: TunnelsSnapshot | undefined;
  previous: TunnelsSnapshot | undefined;
  /** Tunnels that went away between refreshes, kept on screen for a while. */
  closed: ClosedTunnel[];
  error: string | undefined;
}

export function useTunnels(fetchSnapshot: () => Promise<TunnelsSnapshot>, intervalMs: number): TunnelsState {
  const [state, setState] = useState<TunnelsState>({ current: undefined, previous: undefined, closed: [], error: undefined });
  useEffect(() => {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const tick = async () => {
      try {
        const snapshot = await fetchSnapshot();
        if (!stopped) setState((s) => ({ current: snapshot, previous: s.current, closed: updateClosed(s.closed, s.current, snapshot), error: undefined }));
      } catch (err) {
        if (!stopped) setState((s) => ({ ...s, error: (err as Error).message }));
      }
      if (!stopped) timer = setTimeout(() => void tick(), intervalMs);
    };
    void tick();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [fetchSnapshot, intervalMs]);
  return state;
}
