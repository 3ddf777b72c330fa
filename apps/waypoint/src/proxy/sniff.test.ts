import { describe, expect, it } from 'vitest';
import { applicationProtocolOf, sniffProtocol } from './sniff.js';

describe('sniffProtocol (http_inspector)', () => {
  it.each([
    ['HTTP/1.1 request line', 'GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n', 'http/1.1'],
    ['HTTP/1.0', 'POST /a HTTP/1.0\r\n', 'http/1.1'],
    ['extension method', 'PURGE /cache HTTP/1.1\r\n', 'http/1.1'],
    ['HTTP/2 prior-knowledge preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\u0000\u0000', 'h2c'],
    ['partial preface: wait', 'PRI * HTTP/2', undefined],
    ['partial request line: wait', 'GET /long/pa', undefined],
    ['a line that is not HTTP', 'HELLO world\n', 'tcp'],
    ['lowercase text', 'hello\n', 'tcp'],
    ['binary', '\u0016\u0003\u0001\u0002', 'tcp'],
  ])('%s', (_why, head, want) => {
    expect(sniffProtocol(Buffer.from(head, 'latin1'))).toBe(want);
  });

  it.each([
    ['http/1.1', "'http/1.1'"],
    ['h2c', "'h2c'"],
    ['tcp', ''],
  ] as const)('%s → ApplicationProtocolInput %s', (protocol, input) => {
    expect(applicationProtocolOf(protocol)).toBe(input);
  });
});
