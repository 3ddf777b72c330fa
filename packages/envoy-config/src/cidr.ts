import { isIP, isIPv4, isIPv6 } from 'node:net';
import { optionalNumber, record, string, UnsupportedConfig, type JsonRecord } from './json.js';

/**
 * IP prefixes (Envoy CidrRange) as bigint ranges so IPv4 and IPv6 share one matcher. IPv4-mapped
 * IPv6 addresses (`::ffff:10.0.0.1`, how Node reports v4 peers on dual-stack sockets) are
 * folded to IPv4.
 */
export interface Cidr {
  readonly v6: boolean;
  readonly network: bigint;
  readonly prefixLen: number;
  readonly text: string;
}

export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
}

export function ipToBigint(ip: string): { v6: boolean; value: bigint } | undefined {
  const addr = normalizeIp(ip);
  if (isIPv4(addr)) {
    // One BigInt per address, not one per octet: this runs for every filter-chain match.
    const [a = 0, b = 0, c = 0, d = 0] = addr.split('.').map(Number);
    return { v6: false, value: BigInt(a * 0x1000000 + b * 0x10000 + c * 0x100 + d) };
  }
  if (!isIPv6(addr)) return undefined;
  const [head = '', tail] = addr.split('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((h) => BigInt(parseInt(h, 16))));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const groups = [...left, ...Array<bigint>(8 - left.length - right.length).fill(0n), ...right];
  return { v6: true, value: groups.reduce((n, g) => (n << 16n) | g, 0n) };
}

export function parseCidr(prefix: string, prefixLen: number | undefined, path: string): Cidr {
  const ip = ipToBigint(prefix);
  if (!ip) throw new UnsupportedConfig(path, `"${prefix}" is not an IP address`);
  const bits = ip.v6 ? 128 : 32;
  const len = prefixLen ?? bits;
  if (!Number.isInteger(len) || len < 0 || len > bits) throw new UnsupportedConfig(path, `prefix_len ${len} is out of range`);
  const shift = BigInt(bits - len);
  return { v6: ip.v6, network: (ip.value >> shift) << shift, prefixLen: len, text: `${normalizeIp(prefix)}/${len}` };
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  const addr = ipToBigint(ip);
  if (!addr || addr.v6 !== cidr.v6) return false;
  const shift = BigInt((cidr.v6 ? 128 : 32) - cidr.prefixLen);
  return (addr.value >> shift) << shift === cidr.network;
}

/** `10.0.0.1:80`, `[fd00::1]:80`. */
export function formatAddress(ip: string, port: number): string {
  const addr = normalizeIp(ip);
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

export function splitAddress(address: string, path: string): { ip: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  const ip = m?.[1];
  const port = Number(m?.[2]);
  if (!ip || isIP(normalizeIp(ip)) === 0 || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new UnsupportedConfig(path, `"${address}" is not an ip:port address`);
  }
  return { ip: normalizeIp(ip), port };
}

/** envoy.config.core.v3.CidrRange (`{address_prefix, prefix_len}`). */
export function cidrRange(value: unknown, path: string): Cidr {
  const r: JsonRecord = record(value, path);
  return parseCidr(string(r['address_prefix'], `${path}.address_prefix`), optionalNumber(r['prefix_len'], `${path}.prefix_len`), path);
}
