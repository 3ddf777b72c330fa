import { describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import { HboneErrorCode } from './errors.js';
import { forwardedFor, parseForwarded } from './forwarded.js';
import { canonicalIp, resolveTunnelSource } from './source.js';

describe('parseForwarded (RFC 7239)', () => {
  it.each([
    ['for=10.0.0.1', { ip: '10.0.0.1' }],
    ['for="10.0.0.1"', { ip: '10.0.0.1' }],
    // Istio's ztunnel
    ['for="10.0.0.1:4711"', { ip: '10.0.0.1', port: 4711 }],
    ['for="[fd00::1]"', { ip: 'fd00::1' }],
    ['for="[fd00::1]:4711"', { ip: 'fd00::1', port: 4711 }],
    ['For="10.0.0.1:80";Host=reviews', { ip: '10.0.0.1', port: 80 }],
    ['host=reviews;for="10.0.0.1:80";proto=http', { ip: '10.0.0.1', port: 80 }],
    ['for="10.0.0.1:_hidden"', { ip: '10.0.0.1' }],
    ['for=10.0.0.1, for="10.0.0.2:80"', { ip: '10.0.0.1' }],
    ['for="\\1\\0.0.0.1"', { ip: '10.0.0.1' }],
    ['for=unknown', undefined],
    ['for=_gazonk', undefined],
    ['host=reviews', undefined],
  ])('%s → %j', (header, expected) => {
    expect(forwardedFor(header)).toEqual(expected);
  });

  it('reads every element and parameter', () => {
    expect(parseForwarded(['for=10.0.0.1;by="[fd00::9]:15008"', 'for=unknown;proto=https'])).toEqual([
      { for: { kind: 'ip', ip: '10.0.0.1' }, by: { kind: 'ip', ip: 'fd00::9', port: 15008 } },
      { for: { kind: 'unknown' }, proto: 'https' },
    ]);
  });

  it.each([
    'for=10.0.0.1:80', // a port needs quotes
    'for=[fd00::1]',
    'for="[fd00::1"',
    'for="fd00::1"',
    'for="[10.0.0.1]"',
    'for="10.0.0.1:65536"',
    'for="10.0.0.1:"',
    'for="reviews.default"',
    'for="10.0.0.1',
    'for=10.0.0.1;for=10.0.0.2',
    'for',
    'for=10.0.0.1 x',
    'for="10.0.0.1\r\n"',
  ])('refuses %j with HBONE_ERR_BAD_FORWARDED', (header) => {
    let err: unknown;
    try {
      parseForwarded(header);
    } catch (e) {
      err = e;
    }
    expect(hasCode(err, HboneErrorCode.BAD_FORWARDED)).toBe(true);
  });
});

describe('resolveTunnelSource', () => {
  const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
  const identities: Record<string, string> = { '10.77.1.10': SLEEP, '10.77.1.11': SLEEP, 'fd00::10': SLEEP, '10.77.2.13': 'spiffe://cluster.local/ns/default/sa/ratings' };
  const identityOf = (ip: string) => identities[ip];
  const resolve = (peerAddress: string, forwarded?: string) => resolveTunnelSource({ peerAddress, peerIdentity: SLEEP, forwarded }, identityOf);

  it('is the peer address without a header, and with one that agrees', () => {
    expect(resolve('10.77.1.10')).toEqual({ ok: true, ip: '10.77.1.10', from: 'peer' });
    expect(resolve('::ffff:10.77.1.10', 'for="10.77.1.10:4711"')).toEqual({ ok: true, ip: '10.77.1.10', port: 4711, from: 'peer' });
    expect(resolve('fd00:0:0::10', 'for="[fd00::10]:4711"')).toEqual({ ok: true, ip: 'fd00::10', port: 4711, from: 'peer' });
    expect(resolve('10.77.1.10', 'for=unknown')).toEqual({ ok: true, ip: '10.77.1.10', from: 'peer' });
  });

  it('takes another address only when it is a workload of the peer identity', () => {
    // A node's ztunnel that could not bind the pod's address, speaking for its own workload.
    expect(resolve('10.77.0.11', 'for="10.77.1.11:5000"')).toEqual({ ok: true, ip: '10.77.1.11', port: 5000, from: 'forwarded' });
  });

  it('refuses a forged address (401) and a malformed header (400)', () => {
    expect(resolve('10.77.0.11', 'for="10.77.2.13:5000"')).toMatchObject({ ok: false, status: 401, reason: expect.stringContaining("ratings's") });
    expect(resolve('10.77.0.11', 'for="10.1.2.3"')).toMatchObject({ ok: false, status: 401, reason: expect.stringContaining('no known workload') });
    expect(resolve('10.77.1.10', 'for=10.77.1.10:80')).toMatchObject({ ok: false, status: 400 });
  });

  it('compares addresses in one spelling', () => {
    expect(canonicalIp('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(canonicalIp('FD00:0000::0001')).toBe('fd00::1');
    expect(canonicalIp('10.0.0.1')).toBe('10.0.0.1');
  });
});
