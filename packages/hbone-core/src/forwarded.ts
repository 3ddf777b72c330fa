/**
 * The `forwarded` header (RFC 7239) as HBONE uses it: the CONNECT's `for=` names the original
 * client, `host=` the service it addressed. Istio's ztunnel sends `for="<ip>:<port>"`.
 *
 *   Forwarded         = 1#forwarded-element
 *   forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
 *   forwarded-pair    = token "=" value          value = token / quoted-string
 *   node              = nodename [ ":" node-port ]
 *   nodename          = IPv4address / "[" IPv6address "]" / "unknown" / obfnode
 *
 * A value with `:` or `[` (a port, IPv6) must be quoted. Parameter names are case-insensitive
 * and occur at most once per element. Anything else is malformed (HBONE_ERR_BAD_FORWARDED).
 */
import { isIP } from 'node:net';
import { HboneErrorCode, hboneError } from './errors.js';

/** A `for=`/`by=` node. */
export type ForwardedNode =
  | { readonly kind: 'ip'; readonly ip: string; readonly port?: number }
  /** `unknown`: the proxy does not know (or will not say) the address. */
  | { readonly kind: 'unknown' }
  /** `_hidden`: an obfuscated identifier, no address. */
  | { readonly kind: 'obfuscated'; readonly name: string };

export interface ForwardedElement {
  readonly for?: ForwardedNode;
  readonly by?: ForwardedNode;
  readonly host?: string;
  readonly proto?: string;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const OBFUSCATED = /^_[A-Za-z0-9._-]+$/;

/** Parses a `forwarded` header (all lines joined with `,`); throws HBONE_ERR_BAD_FORWARDED. */
export function parseForwarded(header: string | readonly string[]): ForwardedElement[] {
  const text = typeof header === 'string' ? header : header.join(',');
  const elements: ForwardedElement[] = [];
  let element: Record<string, string> = {};
  let i = 0;
  const bad = (why: string) =>
    hboneError(HboneErrorCode.BAD_FORWARDED, `bad forwarded header ${JSON.stringify(text.slice(0, 200))}: ${why}`, { context: { forwarded: text.slice(0, 200) } });
  const skipSpace = () => {
    while (text[i] === ' ' || text[i] === '\t') i++;
  };
  const finishElement = () => {
    // List syntax allows empty elements (`a, , b`); they carry nothing.
    if (Object.keys(element).length > 0) elements.push(toElement(element, bad));
    element = {};
  };
  for (;;) {
    skipSpace();
    if (i >= text.length) {
      finishElement();
      break;
    }
    if (text[i] === ',') {
      finishElement();
      i++;
      continue;
    }
    if (text[i] === ';') {
      i++;
      continue;
    }
    const eq = text.indexOf('=', i);
    if (eq < 0) throw bad(`expected name=value at ${i}`);
    const name = text.slice(i, eq).trim().toLowerCase();
    if (!TOKEN.test(name)) throw bad(`parameter name ${JSON.stringify(name)} is not a token`);
    i = eq + 1;
    let value: string;
    if (text[i] === '"') {
      value = '';
      i++;
      for (;;) {
        const c = text[i];
        if (c === undefined) throw bad('unterminated quoted string');
        if (c === '"') break;
        if (c === '\\') {
          const escaped = text[i + 1];
          if (escaped === undefined) throw bad('unterminated quoted string');
          value += escaped;
          i += 2;
          continue;
        }
        if (c < ' ' && c !== '\t') throw bad('control character in a quoted string');
        value += c;
        i++;
      }
      i++;
    } else {
      const end = /[;,\s]/.exec(text.slice(i));
      value = end ? text.slice(i, i + end.index) : text.slice(i);
      i += value.length;
      if (!TOKEN.test(value)) throw bad(`value ${JSON.stringify(value)} of ${name} must be a token or quoted`);
    }
    if (name in element) throw bad(`${name} occurs twice in one element`);
    element[name] = value;
    skipSpace();
    if (i < text.length && text[i] !== ';' && text[i] !== ',') throw bad(`unexpected ${JSON.stringify(text[i])} at ${i}`);
  }
  return elements;
}

function toElement(pairs: Record<string, string>, bad: (why: string) => Error): ForwardedElement {
  return {
    ...(pairs['for'] !== undefined ? { for: parseNode(pairs['for'], 'for', bad) } : {}),
    ...(pairs['by'] !== undefined ? { by: parseNode(pairs['by'], 'by', bad) } : {}),
    ...(pairs['host'] !== undefined ? { host: pairs['host'] } : {}),
    ...(pairs['proto'] !== undefined ? { proto: pairs['proto'] } : {}),
  };
}

function parseNode(text: string, name: string, bad: (why: string) => Error): ForwardedNode {
  if (text.toLowerCase() === 'unknown') return { kind: 'unknown' };
  if (OBFUSCATED.test(text)) return { kind: 'obfuscated', name: text };
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw bad(`${name}=${text}: unbalanced [`);
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) throw bad(`${name}=${text}: expected :port after ]`);
    if (isIP(host) !== 6) throw bad(`${name}=${text}: brackets hold an IPv6 address`);
    portText = rest === '' ? undefined : rest.slice(1);
  } else {
    const colon = text.indexOf(':');
    host = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
    if (isIP(host) !== 4) throw bad(`${name}=${text}: expected an IPv4 address, "[IPv6]", unknown or an obfuscated name`);
  }
  if (portText === undefined || OBFUSCATED.test(portText)) return { kind: 'ip', ip: host };
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) throw bad(`${name}=${text}: bad port`);
  return { kind: 'ip', ip: host, port: Number(portText) };
}

/**
 * A node as `forwarded` carries it, always quoted (Istio's form): `"10.0.0.1:4711"`,
 * `"[fd00::1]:4711"`, `"10.0.0.1"`.
 */
export function formatForwardedNode(ip: string, port?: number): string {
  const host = isIP(ip) === 6 ? `[${ip}]` : ip;
  return `"${port === undefined ? host : `${host}:${port}`}"`;
}

/** The address of the first element's `for=` (the original client), if it names one. */
export function forwardedFor(header: string | readonly string[] | undefined): { ip: string; port?: number } | undefined {
  if (header === undefined || header.length === 0) return undefined;
  const node = parseForwarded(header)[0]?.for;
  return node?.kind === 'ip' ? { ip: node.ip, ...(node.port !== undefined ? { port: node.port } : {}) } : undefined;
}
