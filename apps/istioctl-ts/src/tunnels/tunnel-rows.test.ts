import { describe, expect, it } from 'vitest';
import { parseTunnels } from '../api/tunnels.js';
import { matchesFilter, sortRows, tunnelRows } from './tunnel-rows.js';

const body = (sent: number) => ({
  connections: [
    { id: 1, direction: 'outbound', protocol: 'hbone', src: { addr: '10.77.1.11:1', workload: 'productpage-v1' }, dst: { addr: '10.77.2.10:9080', workload: 'reviews-v2' }, bytesSent: sent, bytesRecv: 10, ageMs: 100 },
    { id: 2, direction: 'outbound', protocol: 'tcp', src: { addr: '10.77.1.10:2' }, dst: { addr: '1.1.1.1:443' }, startedAt: 1_000, bytesSent: 5, bytesRecv: 5 },
  ],
});

describe('tunnel rows', () => {
  it('computes byte rates between two snapshots and ages from startedAt', () => {
    const rows = tunnelRows(parseTunnels(body(3000), 3_000), parseTunnels(body(1000), 1_000));
    expect(rows[0]).toMatchObject({ rateSent: 1000, rateRecv: 0, source: 'productpage-v1', destination: 'reviews-v2', protocol: 'HBONE' });
    expect(rows[1]).toMatchObject({ source: '10.77.1.10:2', destination: '1.1.1.1:443', ageMs: 2_000 });
    expect(tunnelRows(parseTunnels(body(3000), 3_000))[0]?.rateSent).toBeUndefined();
  });

  it('sorts by bytes and filters by workload or address', () => {
    const rows = tunnelRows(parseTunnels(body(1), 0));
    expect(sortRows(rows, 'bytes').map((r) => r.id)).toEqual(['1', '2']);
    expect(sortRows(rows, 'source').map((r) => r.id)).toEqual(['2', '1']);
    expect(rows.filter((r) => matchesFilter(r, 'REVIEWS')).map((r) => r.id)).toEqual(['1']);
    expect(rows.filter((r) => matchesFilter(r, '1.1.1.1')).map((r) => r.id)).toEqual(['2']);
  });

  it('tolerates a body with missing parts', () => {
    expect(parseTunnels({ connections: [{}] }, 0).connections[0]).toMatchObject({ id: '', direction: '-', bytesSent: 0 });
    expect(parseTunnels('nonsense', 0)).toEqual({ takenAtMs: 0, connections: [], pool: [], server: [] });
  });
});
