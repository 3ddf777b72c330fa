/**
 * One port, three protocols: an HTTP/1.x request line means HTTP, the HTTP/2 connection preface
 * means HTTP/2 with prior knowledge (h2c), anything else is raw TCP. Pure.
 */

/** Methods a client may send first (RFC 9110 §9 plus PATCH). */
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];
/** RFC 9113 §3.4: the client connection preface starts with this line. */
const H2_PREFACE = 'PRI * HTTP/2.0';
const LONGEST_TOKEN = Math.max(H2_PREFACE.length, ...HTTP_METHODS.map((m) => m.length + 1));

export type Sniffed = 'http' | 'h2c' | 'tcp' | 'undecided';

/** Decides from the first bytes; `undecided` while they are a prefix of `METHOD ` or of the preface. */
export function sniffProtocol(firstBytes: Buffer): Sniffed {
  const head = firstBytes.subarray(0, LONGEST_TOKEN).toString('latin1');
  if (head.startsWith(H2_PREFACE)) return 'h2c';
  let undecided = H2_PREFACE.startsWith(head);
  for (const method of HTTP_METHODS) {
    const token = `${method} `;
    if (head.startsWith(token)) return 'http';
    if (token.startsWith(head)) undecided = true;
  }
  return undecided ? 'undecided' : 'tcp';
}
