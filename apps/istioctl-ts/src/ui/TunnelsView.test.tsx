import { render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '@mesh/testing';
import type { TunnelsSnapshot } from '../api/tunnels.js';
import { groupByConnection, sortRows, tunnelRows, updateClosed } from '../tunnels/tunnel-rows.js';
import { TunnelsApp, reduceKey, type TunnelsUiState } from './TunnelsApp.js';
import { TunnelsView } from './TunnelsView.js';

const PRODUCTPAGE = 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage';
const REVIEWS = 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews';

function snapshot(takenAtMs: number, sentToV2: number, sentToV3: number): TunnelsSnapshot {
  const conn = (id: string, workload: string, ip: string, bytesSent: number) => ({
    id,
    direction: 'outbound',
    protocol: 'hbone',
    srcAddr: '10.77.1.11:40000',
    srcIdentity: PRODUCTPAGE,
    srcWorkload: 'productpage-v1',
    dstAddr: `${ip}:9080`,
    dstHboneAddr: `${ip}:15008`,
    dstIdentity: REVIEWS,
    dstWorkload: workload,
    dstService: 'reviews.default.svc.cluster.local',
    bytesSent,
    bytesRecv: 0,
    ageMs: 3000,
  });
  const pool = (id: string, ip: string) => ({ id, sourceIdentity: PRODUCTPAGE, destination: `${ip}:15008`, peerIdentity: REVIEWS, state: 'ready', activeStreams: 1, totalStreams: 1, ageMs: 9000 });
  return {
    takenAtMs,
    connections: [conn('1', 'reviews-v2', '10.77.2.10', sentToV2), conn('2', 'reviews-v3', '10.77.2.11', sentToV3)],
    pool: [pool('p1', '10.77.2.10'), pool('p2', '10.77.2.11')],
    server: [],
  };
}

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((f) => f()));

function renderTracked(node: Parameters<typeof render>[0]) {
  const r = render(node);
  cleanups.push(() => r.unmount());
  return r;
}

describe('TunnelsView', () => {
  it('shows each pool connection with its tunnels, bytes and rates', () => {
    const before = snapshot(1_000, 0, 0);
    const after = snapshot(2_000, 4096, 1024);
    const groups = groupByConnection(sortRows(tunnelRows(after, before), 'bytes'), after);
    const { lastFrame } = renderTracked(<TunnelsView proxy="ztunnel-node-a" groups={groups} sortKey="bytes" filter="" editingFilter={false} error={undefined} updatedAt={undefined} />);
    const frame = lastFrame() ?? '';
    expect(frame).toContain('ztunnel-node-a · 2 pool connections out · 0 in · 2 connections · sort: bytes');
    expect(frame).toContain('10.77.2.10:15008 default/bookinfo-productpage → default/bookinfo-reviews ready · streams 1 active/1');
    expect(frame).toMatch(/→ productpage-v1 → reviews-v2 10\.77\.2\.10:9080 HBONE\s+↑ 4\.0KiB 4\.0KiB\/s\s+↓ 0B 0B\/s\s+3s/);
    expect(frame.indexOf('reviews-v2')).toBeLessThan(frame.indexOf('reviews-v3'));
  });

  it('shows a refresh error without dropping the last numbers', () => {
    const s = snapshot(1_000, 10, 0);
    const groups = groupByConnection(tunnelRows(s), s);
    const { lastFrame } = renderTracked(<TunnelsView proxy="ztunnel-node-a" groups={groups} sortKey="age" filter="rev" editingFilter error="ztunnel-node-a's admin API at 10.77.0.11:15000 did not answer" updatedAt={undefined} />);
    expect(lastFrame()).toContain('refresh failed: ztunnel-node-a');
    expect(lastFrame()).toContain('filter: rev▏');
    expect(lastFrame()).toContain('reviews-v2');
  });

  it('keeps a closed tunnel on screen with its final bytes', () => {
    const before = snapshot(1_000, 4096, 0);
    const after = { ...snapshot(3_000, 4096, 0), connections: snapshot(3_000, 4096, 0).connections.filter((c) => c.id !== '1') };
    const closed = updateClosed([], before, after);
    expect(closed.map((c) => c.row.id)).toEqual(['1']);
    const groups = groupByConnection(tunnelRows(after, before), after);
    const { lastFrame } = renderTracked(
      <TunnelsView proxy="ztunnel-node-a" groups={groups} closed={closed} nowMs={5_000} sortKey="bytes" filter="" editingFilter={false} error={undefined} updatedAt={undefined} />,
    );
    expect(lastFrame()).toMatch(/recently closed\n\s+✕ productpage-v1 → reviews-v2 10\.77\.2\.10:9080 HBONE ↑ 4\.0KiB ↓ 0B lived 3s, closed 2s ago/);
    // Closed tunnels age out.
    expect(updateClosed(closed, after, { ...after, takenAtMs: 3_000 + 10_000 })).toEqual([]);
  });

  it('says so when there is nothing to show', () => {
    const { lastFrame } = renderTracked(<TunnelsView proxy="ztunnel-node-b" groups={[]} sortKey="bytes" filter="" editingFilter={false} error={undefined} updatedAt={undefined} />);
    expect(lastFrame()).toContain('no HBONE pool connections and no live connections');
  });
});

describe('TunnelsApp', () => {
  it('refreshes, sorts with s, filters with /, clears with esc', async () => {
    let calls = 0;
    const fetchSnapshot = async () => {
      calls++;
      // v3 overtakes v2 after the first refresh.
      return calls === 1 ? snapshot(1_000, 500, 100) : snapshot(1_000 + calls * 50, 500, 100 + calls * 1000);
    };
    const { lastFrame, stdin } = renderTracked(<TunnelsApp proxy="ztunnel-node-a" fetchSnapshot={fetchSnapshot} intervalMs={40} initialSort="bytes" initialFilter="" />);
    const frame = () => lastFrame() ?? '';
    await eventually(() => {
      expect(calls).toBeGreaterThan(2);
      expect(frame().indexOf('reviews-v3')).toBeLessThan(frame().indexOf('reviews-v2'));
    }, { what: 'refreshes that put v3 first', lastSeen: frame });
    stdin.write('s');
    await eventually(() => expect(frame()).toContain('sort: rate'), { what: 'the sort changed' });
    stdin.write('/');
    await eventually(() => expect(frame()).toContain('filter: ▏'), { what: 'the filter prompt' });
    stdin.write('v');
    stdin.write('2');
    await eventually(() => expect(frame()).toContain('filter: v2▏'), { what: 'the typed filter' });
    stdin.write('\r');
    await eventually(() => {
      expect(frame()).toContain('filter: v2');
      expect(frame()).not.toContain('▏');
      expect(frame()).toContain('reviews-v2');
      expect(frame()).not.toContain('reviews-v3');
    }, { what: 'the filter applied' });
    stdin.write('\u001b');
    await eventually(() => expect(frame()).toContain('reviews-v3'), { what: 'the filter cleared' });
  });
});

describe('reduceKey', () => {
  const start: TunnelsUiState = { sortKey: 'bytes', filter: '', editing: false, quit: false };
  const press = (state: TunnelsUiState, ...keys: Parameters<typeof reduceKey>[1][]) => keys.reduce(reduceKey, state);
  it.each([
    { name: 's cycles the sort', keys: [{ input: 's' }, { input: 's' }], expected: { sortKey: 'age' } },
    { name: 's wraps around', keys: Array.from({ length: 5 }, () => ({ input: 's' })), expected: { sortKey: 'bytes' } },
    { name: '/ then text then enter keeps the filter', keys: [{ input: '/' }, { input: 'r' }, { input: 'e' }, { input: '', return: true }], expected: { filter: 're', editing: false } },
    { name: 'q while typing is text', keys: [{ input: '/' }, { input: 'q' }], expected: { filter: 'q', quit: false } },
    { name: 'backspace edits', keys: [{ input: '/' }, { input: 'a' }, { input: 'b' }, { input: '', backspace: true }], expected: { filter: 'a' } },
    { name: 'esc clears', keys: [{ input: '/' }, { input: 'a' }, { input: '', return: true }, { input: '', escape: true }], expected: { filter: '' } },
    { name: 'q quits', keys: [{ input: 'q' }], expected: { quit: true } },
  ])('$name', ({ keys, expected }) => {
    expect(press(start, ...keys)).toMatchObject(expected);
  });
});
