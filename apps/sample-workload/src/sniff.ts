/**
 * One port, two protocols: an HTTP request line means HTTP; anything else is raw TCP. Pure.
 */

/** Methods a client may send first (RFC 9110 §9 plus PATCH). */
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];
const LONGEST_METHOD = Math.max(...HTTP_METHODS.map((m) => m.length));

export type Sniffed = 'http' | 'tcp' | 'undecided';

/** Decides from the first bytes; `undecided` while they are a prefix of `METHOD `. */
export function sniffProtocol(firstBytes: Buffer): Sniffed {
  const head = firstBytes.subarray(0, LONGEST_METHOD + 1).toString('latin1');
  for (const method of HTTP_METHODS) {
    const token = `${method} `;
    if (head.startsWith(token)) return 'http';
    if (token.startsWith(head)) return 'undecided';
  }
  return 'tcp';
}
