import { describe, expect, it } from 'vitest';
import { ipFromBase64, ipFromBytes, ipToBase64, ipToBytes, networkAddress, splitNetworkAddress } from './address.js';

describe('workload API addresses', () => {
  it('IPv4 and IPv6 to bytes and back', () => {
    expect(Array.from(ipToBytes('10.77.1.10'))).toEqual([10, 77, 1, 10]);
    expect(ipToBase64('10.77.1.10')).toBe('Ck0BCg==');
    expect(ipFromBase64('Ck0BCg==', 'a')).toBe('10.77.1.10');
    expect(ipToBytes('fd00::1')).toHaveLength(16);
    expect(ipFromBytes(ipToBytes('fd00:0:0::1'), 'a')).toBe('fd00::1');
    expect(ipFromBytes(ipToBytes('::ffff:10.0.0.1'), 'a')).toBe('10.0.0.1');
  });

  it('names the field of bytes that are not an address', () => {
    expect(() => ipFromBytes(new Uint8Array([1, 2, 3]), 'workload w.addresses[0]')).toThrow(/workload w\.addresses\[0\]: an address must be 4 \(IPv4\) or 16 \(IPv6\) bytes, got 3/);
    expect(() => ipFromBase64(7, 'x')).toThrow(/x: expected address bytes/);
    expect(() => ipToBytes('nope')).toThrow(/not an IP/);
  });

  it('network/ip keys', () => {
    expect(networkAddress('', '10.0.0.1')).toBe('/10.0.0.1');
    expect(splitNetworkAddress('net1/fd00::1')).toEqual({ network: 'net1', ip: 'fd00::1' });
    expect(splitNetworkAddress('10.0.0.1')).toEqual({ network: '', ip: '10.0.0.1' });
  });
});
