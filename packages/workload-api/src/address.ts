/**
 * IP addresses as the workload API carries them: raw bytes (4 for IPv4, 16 for IPv6), which the
 * proto3-JSON form writes as base64; and as ztunnel prints them: text, or `network/ip` for the
 * keys it indexes addresses by (an empty network is the default one, so `/10.0.0.1`).
 */
import { isIPv4 } from 'node:net';
import { ipToBigint, normalizeIp, UnsupportedConfig } from '@mesh/envoy-config';

/** `10.0.0.1` → its 4 bytes; `fd00::1` → 16 bytes. Throws for anything that is not an IP. */
export function ipToBytes(ip: string): Uint8Array {
  if (isIPv4(ip)) return Uint8Array.from(ip.split('.'), Number);
  const parsed = ipToBigint(ip);
  if (!parsed) throw new UnsupportedConfig('address', `"${ip}" is not an IP address`);
  const length = parsed.v6 ? 16 : 4;
  const bytes = new Uint8Array(length);
  let value = parsed.value;
  for (let i = length - 1; i >= 0; i--) {
    bytes[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return bytes;
}

/** The proto3-JSON spelling of an address field (base64 of its bytes). */
export function ipToBase64(ip: string): string {
  return Buffer.from(ipToBytes(ip)).toString('base64');
}

/** 4 or 16 bytes → IP text (IPv6 in its shortest form). */
export function ipFromBytes(bytes: Uint8Array, path: string): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
    // Node's URL parser gives the canonical (RFC 5952) compressed form.
    return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
  }
  throw new UnsupportedConfig(path, `an address must be 4 (IPv4) or 16 (IPv6) bytes, got ${bytes.length}`);
}

/** A base64 address field of a decoded resource → IP text; the path names the field on error. */
export function ipFromBase64(value: unknown, path: string): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) throw new UnsupportedConfig(path, 'expected address bytes (base64)');
  return ipFromBytes(new Uint8Array(Buffer.from(value, 'base64')), path);
}

/** `network/ip`, ztunnel's key for an address (`/10.77.1.10` on the default network). */
export function networkAddress(network: string, ip: string): string {
  return `${network}/${ip}`;
}

/** `network/ip` → its parts; a bare IP is on the default network. */
export function splitNetworkAddress(text: string): { network: string; ip: string } {
  const slash = text.lastIndexOf('/');
  const ip = normalizeIp(slash < 0 ? text : text.slice(slash + 1));
  return { network: slash < 0 ? '' : text.slice(0, slash), ip };
}
