/**
 * What Envoy's http_inspector decides from a connection's first bytes: HTTP/2 prior knowledge
 * (the RFC 9113 §3.4 preface), HTTP/1.x (a request line), or neither (TCP passes through). Pure.
 * `undefined` means "not enough bytes yet".
 */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** RFC 9110 token characters in a method, then SP. */
const HTTP1_REQUEST_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ \S+ HTTP\/1\.[01]\r?\n/;
const HTTP1_METHOD_START = /^[A-Z]{1,16}( |$)/;
/** After this many bytes without a request line, it is not HTTP/1. */
export const SNIFF_MAX_BYTES = 8192;

export type SniffedProtocol = 'http/1.1' | 'h2c' | 'tcp';

export function sniffProtocol(head: Buffer): SniffedProtocol | undefined {
  const n = Math.min(head.length, H2_PREFACE.length);
  if (head.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) return head.length >= H2_PREFACE.length ? 'h2c' : undefined;
  const text = head.subarray(0, SNIFF_MAX_BYTES).toString('latin1');
  if (HTTP1_REQUEST_LINE.test(text)) return 'http/1.1';
  if (!HTTP1_METHOD_START.test(text)) return 'tcp';
  // Looks like the start of a request line: wait for the line end, within bounds.
  return text.includes('\n') || head.length >= SNIFF_MAX_BYTES ? 'tcp' : undefined;
}

/** ApplicationProtocolInput's value for a sniffed protocol (Envoy quotes each protocol). */
export function applicationProtocolOf(protocol: SniffedProtocol): string {
  return protocol === 'tcp' ? '' : `'${protocol}'`;
}
