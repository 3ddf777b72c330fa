import { randomFillSync } from 'node:crypto';
import { isIP } from 'node:net';
import { HboneErrorCode, hboneError } from './errors.js';
import { formatForwardedNode } from './forwarded.js';

/** A tunnel destination as carried in the CONNECT `:authority`. */
export interface Authority {
  host: string;
  port: number;
  family: 4 | 6;
}

/**
 * Parses an HBONE `:authority`: `ip:port`, IPv6 in brackets (`[fd00::1]:8080`). HBONE tunnels
 * always name an address (the original destination), never a hostname, so anything else is a
 * bad request (400).
 */
export function parseAuthority(authority: string | undefined): Authority {
  if (!authority) throw hboneError(HboneErrorCode.BAD_AUTHORITY, 'CONNECT without :authority');
  let host: string;
  let portText: string;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0 || authority[close + 1] !== ':') throw badAuthority(authority);
    host = authority.slice(1, close);
    portText = authority.slice(close + 2);
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon <= 0 || authority.indexOf(':') !== colon) throw badAuthority(authority);
    host = authority.slice(0, colon);
    portText = authority.slice(colon + 1);
  }
  const family = isCanonicalIPv4(host) ? 4 : isIP(host);
  const port = parsePort(portText);
  if ((family !== 4 && family !== 6) || !(port >= 1 && port <= 65535)) throw badAuthority(authority);
  // Brackets are for IPv6 only (RFC 3986 §3.2.2), and IPv6 needs them.
  if ((family === 6) !== authority.startsWith('[')) throw badAuthority(authority);
  return { host, port, family };
}

/** 1–5 decimal digits as a number, else NaN (the range is checked by the caller). */
function parsePort(text: string): number {
  const length = text.length;
  if (length < 1 || length > 5) return NaN;
  let port = 0;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return NaN;
    port = port * 10 + (c - 48);
  }
  return port;
}

/**
 * A dotted quad without leading zeros (`10.244.1.23`), checked by its characters: the usual
 * HBONE `:authority` host, parsed on every open by both sides, without node:net's `isIPv4`
 * regular expression. Accepts only what `isIPv4` accepts; anything else goes to `isIP`.
 */
function isCanonicalIPv4(host: string): boolean {
  const length = host.length;
  if (length < 7 || length > 15) return false;
  let dots = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i < length; i++) {
    const c = host.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || ++dots > 3) return false;
      digits = 0;
      value = 0;
      continue;
    }
    if (c < 48 || c > 57) return false;
    if (digits > 0 && value === 0) return false; // a leading zero
    value = value * 10 + (c - 48);
    if (++digits > 3 || value > 255) return false;
  }
  return dots === 3 && digits > 0;
}

function badAuthority(authority: string) {
  return hboneError(HboneErrorCode.BAD_AUTHORITY, `bad :authority ${JSON.stringify(authority)}: expected <ip>:<port>`, {
    context: { authority },
  });
}

/** `ip:port`, with IPv6 addresses in brackets. */
export function formatAuthority(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

export interface ConnectHeaderInput {
  /** Original destination, `ip:port`. */
  authority: string;
  /** Original source address of the connection (the client pod), for `forwarded: for=`. */
  sourceAddress?: string;
  /** Its port; sent as Istio's ztunnel does (`for="10.0.0.1:4711"`). */
  sourcePort?: number;
  /** Service host the client addressed, when known (`reviews.default.svc.cluster.local`). */
  host?: string;
  /** Source workload metadata for telemetry (W3C baggage). */
  baggage?: Record<string, string>;
  /** W3C trace context of the connection; generated when absent. */
  traceparent?: string;
  /** Extra headers (e.g. `x-envoy-original-dst-host`). */
  extra?: Record<string, string>;
}

/**
 * The CONNECT request headers of an HBONE tunnel, as Istio sends them: `:authority` is the
 * original destination, `forwarded` keeps the original source across hops (RFC 7239), `baggage`
 * carries peer metadata for telemetry, `traceparent` correlates both ends' logs.
 */
export function buildConnectHeaders(input: ConnectHeaderInput): Record<string, string> {
  parseAuthority(input.authority);
  const headers: Record<string, string> = { ':method': 'CONNECT', ':authority': input.authority };
  if (input.sourceAddress) {
    const node = formatForwardedNode(input.sourceAddress, input.sourcePort);
    headers['forwarded'] = input.host ? `for=${node};host=${input.host}` : `for=${node}`;
  }
  if (input.baggage && Object.keys(input.baggage).length > 0) headers['baggage'] = formatBaggage(input.baggage);
  headers['traceparent'] = input.traceparent ?? newTraceparent();
  if (input.extra) Object.assign(headers, input.extra);
  return headers;
}

/** W3C baggage: comma-separated `key=value`, values percent-encoded. */
export function formatBaggage(entries: Record<string, string>): string {
  return Object.entries(entries)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join(',');
}

export function parseBaggage(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const member of header.split(',')) {
    const [kv] = member.split(';');
    const eq = kv?.indexOf('=') ?? -1;
    if (!kv || eq <= 0) continue;
    const key = kv.slice(0, eq).trim();
    try {
      out[key] = decodeURIComponent(kv.slice(eq + 1).trim());
    } catch {
      out[key] = kv.slice(eq + 1).trim();
    }
  }
  return out;
}

const HEX_CODES = Buffer.from('0123456789abcdef', 'latin1');
/** The traceparent being written: the template's fixed characters stay, the hex digits are overwritten per call. */
const traceparentScratch = Buffer.from(`00-${'0'.repeat(32)}-${'0'.repeat(16)}-01`, 'latin1');
/** Random bytes drawn in bulk (one `randomFillSync` per 170 traceparents), 24 per traceparent. */
const RANDOM_POOL_BYTES = 24 * 170;
const randomPool = Buffer.allocUnsafe(RANDOM_POOL_BYTES);
let randomOffset = RANDOM_POOL_BYTES;

/** Writes `count` random bytes as lowercase hex at `at`; false when they were all zero. */
function writeRandomHex(at: number, count: number): boolean {
  if (randomOffset + count > RANDOM_POOL_BYTES) {
    randomFillSync(randomPool);
    randomOffset = 0;
  }
  let any = 0;
  for (let i = 0; i < count; i++) {
    const byte = randomPool[randomOffset++] as number;
    any |= byte;
    traceparentScratch[at + 2 * i] = HEX_CODES[byte >> 4] as number;
    traceparentScratch[at + 2 * i + 1] = HEX_CODES[byte & 15] as number;
  }
  return any !== 0;
}

/**
 * A fresh W3C traceparent (version 00, sampled; trace-id and parent-id random and never all
 * zero). Written into a buffer and decoded once, so it is one flat string: the client stream
 * keeps its request headers for its whole life, and a string grown char by char with `+=` is a
 * tree of ~30 cons-string pieces (≈ 1 KiB per idle tunnel in a heap snapshot;
 * docs/performance.md, "HBONE core"). The random bytes come from a pool refilled with
 * `crypto.randomFillSync` (48 `Math.random()` calls per open before; "Open stream in the same
 * conditions").
 */
export function newTraceparent(): string {
  // trace-id at 3..34, parent-id at 36..51 (W3C Trace Context §3.2); all zero is invalid: redraw.
  while (!writeRandomHex(3, 16));
  while (!writeRandomHex(36, 8));
  return traceparentScratch.toString('latin1');
}
