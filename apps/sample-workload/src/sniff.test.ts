import { describe, expect, it } from 'vitest';
import { sniffProtocol } from './sniff.js';

describe('sniffProtocol', () => {
  it.each([
    ['GET / HTTP/1.1\r\n', 'http'],
    ['POST /x HTTP/1.1\r\n', 'http'],
    ['OPTIONS * HTTP/1.1', 'http'],
    ['GE', 'undecided'],
    ['PATC', 'undecided'],
    ['GET', 'undecided'],
    ['hello\n', 'tcp'],
    ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'h2c'],
    ['PRI * HT', 'undecided'],
    ['PRIX', 'tcp'],
    ['P', 'undecided'],
    ['GETX', 'tcp'],
    ['\x16\x03\x01', 'tcp'],
  ] as const)('%j → %s', (input, expected) => {
    expect(sniffProtocol(Buffer.from(input, 'latin1'))).toBe(expected);
  });
});
