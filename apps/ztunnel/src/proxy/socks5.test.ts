import { describe, expect, it } from 'vitest';
import { parseGreeting, parseRequest, SOCKS5_REPLY } from './socks5.js';

describe('SOCKS5 parsing', () => {
  it('waits for a complete greeting and reads the methods', () => {
    expect(parseGreeting(Buffer.from([5]))).toBeUndefined();
    expect(parseGreeting(Buffer.from([5, 2, 0]))).toBeUndefined();
    expect(parseGreeting(Buffer.from([5, 2, 0, 2]))).toEqual({ methods: [0, 2], consumed: 4 });
    expect(parseGreeting(Buffer.from([4, 1, 0]))).toHaveProperty('error');
  });
  it.each([
    ['IPv4', [5, 1, 0, 1, 10, 77, 100, 13, 0x23, 0x78], { ok: true, host: '10.77.100.13', port: 9080, consumed: 10 }],
    ['domain', [5, 1, 0, 3, 9, ...Buffer.from('localhost'), 0, 80], { ok: true, host: 'localhost', port: 80, consumed: 16 }],
    ['IPv6', [5, 1, 0, 4, ...Array(15).fill(0), 1, 0, 22], { ok: true, host: '0:0:0:0:0:0:0:1', port: 22 }],
    ['BIND', [5, 2, 0, 1, 1, 2, 3, 4, 0, 1], { ok: false, reply: SOCKS5_REPLY.commandNotSupported }],
    ['unknown address type', [5, 1, 0, 9, 1], { ok: false, reply: SOCKS5_REPLY.addressTypeNotSupported }],
  ])('%s', (_n, bytes, expected) => {
    expect(parseRequest(Buffer.from(bytes as number[]))).toMatchObject(expected);
  });
  it('waits for a complete request', () => {
    expect(parseRequest(Buffer.from([5, 1, 0, 1, 10, 77]))).toBeUndefined();
  });
});
