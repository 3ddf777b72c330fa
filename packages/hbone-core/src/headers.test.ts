import { describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import { HboneErrorCode } from './errors.js';
import { forwardedFor } from './forwarded.js';
import { buildConnectHeaders, formatAuthority, parseAuthority, parseBaggage } from './headers.js';

describe('parseAuthority', () => {
  it.each([
    ['10.244.1.23:9080', { host: '10.244.1.23', port: 9080, family: 4 }],
    ['[fd00::17]:15008', { host: 'fd00::17', port: 15008, family: 6 }],
    ['127.0.0.1:65535', { host: '127.0.0.1', port: 65535, family: 4 }],
  ])('accepts %s', (authority, expected) => {
    expect(parseAuthority(authority)).toEqual(expected);
  });

  it.each(['reviews:9080', 'reviews.default.svc.cluster.local:9080', '10.0.0.1', '10.0.0.1:0', '10.0.0.1:65536', '10.0.0.1:80x', 'fd00::17:80', '[fd00::17]80', '[10.0.0.1]:80', ':80', ''])(
    'refuses %j with HBONE_ERR_BAD_AUTHORITY',
    (authority) => {
      let err: unknown;
      try {
        parseAuthority(authority);
      } catch (e) {
        err = e;
      }
      expect(hasCode(err, HboneErrorCode.BAD_AUTHORITY)).toBe(true);
    },
  );

  it('formats IPv6 in brackets and round-trips', () => {
    expect(formatAuthority('fd00::1', 80)).toBe('[fd00::1]:80');
    expect(formatAuthority('10.0.0.1', 80)).toBe('10.0.0.1:80');
    expect(parseAuthority(formatAuthority('fd00::1', 80)).host).toBe('fd00::1');
  });
});

describe('buildConnectHeaders', () => {
  it('builds the HBONE request headers Istio sends', () => {
    const h = buildConnectHeaders({
      authority: '10.244.1.23:9080',
      sourceAddress: '10.244.2.3',
      host: 'reviews.default.svc.cluster.local',
      baggage: { 'k8s.pod.name': 'productpage-v1', 'service.name': 'product page' },
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    expect(h).toEqual({
      ':method': 'CONNECT',
      ':authority': '10.244.1.23:9080',
      forwarded: 'for="10.244.2.3";host=reviews.default.svc.cluster.local',
      baggage: 'k8s.pod.name=productpage-v1,service.name=product%20page',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    expect(parseBaggage(h['baggage'])).toEqual({ 'k8s.pod.name': 'productpage-v1', 'service.name': 'product page' });
    expect(forwardedFor(h['forwarded'])).toEqual({ ip: '10.244.2.3' });
  });

  it('brackets IPv6 sources and refuses a bad authority before anything is sent', () => {
    const h = buildConnectHeaders({ authority: '[fd00::2]:80', sourceAddress: 'fd00::1' });
    expect(h['forwarded']).toBe('for="[fd00::1]"');
    expect(forwardedFor(h['forwarded'])).toEqual({ ip: 'fd00::1' });
    expect(() => buildConnectHeaders({ authority: 'reviews:9080' })).toThrow(/bad :authority/);
  });

  it('sends the source port the way Istio does (for="ip:port", for="[v6]:port")', () => {
    expect(buildConnectHeaders({ authority: '10.0.0.2:80', sourceAddress: '10.0.0.1', sourcePort: 4711 })['forwarded']).toBe('for="10.0.0.1:4711"');
    expect(buildConnectHeaders({ authority: '[fd00::2]:80', sourceAddress: 'fd00::1', sourcePort: 4711 })['forwarded']).toBe('for="[fd00::1]:4711"');
  });
});
