import { describe, expect, it } from 'vitest';
import { parseSyncz } from './proxies.js';

describe('parseSyncz', () => {
  it.each([
    { name: 'adminAddress field', row: { proxyId: 'ztunnel~10.0.0.1~ztunnel-n1~istio-system.svc.cluster.local', nodeName: 'n1', proxyType: 'ztunnel', adminAddress: '10.0.0.1:15000' }, expected: { name: 'ztunnel-n1', adminAddress: '10.0.0.1:15000', ip: '10.0.0.1' } },
    { name: 'metadata only', row: { proxyId: 'ztunnel~~ztunnel-n2~istio-system.svc.cluster.local', nodeName: 'n2', metadata: { ADMIN_ADDRESS: '127.0.0.1:15000' } }, expected: { name: 'ztunnel-n2', adminAddress: '127.0.0.1:15000', ip: undefined, type: 'ztunnel' } },
    { name: 'a waypoint is named by its pod', row: { proxyId: 'waypoint~10.0.0.9~reviews-waypoint~default.svc.cluster.local', nodeName: 'n1', proxyType: 'waypoint' }, expected: { name: 'reviews-waypoint', adminAddress: undefined } },
  ])('$name', ({ row, expected }) => {
    expect(parseSyncz([row])[0]).toMatchObject(expected);
  });

  it('skips rows without an id and tolerates garbage', () => {
    expect(parseSyncz([{ nodeName: 'x' }, 'nope', null])).toEqual([]);
    expect(parseSyncz({ error: 'x' })).toEqual([]);
  });
});
