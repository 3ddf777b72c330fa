/**
 * Which source address an inbound tunnel is authorized and logged as. The connection's peer
 * address is the truth: a client cannot forge it once a TLS handshake completed on it, and
 * ztunnel opens its tunnels from the source pod's own IP (as Istio's ztunnel does), so for
 * tunnels from a ztunnel it is the client pod. A `forwarded: for=` naming another address is
 * taken only when that address belongs to a workload whose identity is the authenticated
 * peer's (a proxy that could not bind the pod's address, speaking for its own workload);
 * anything else is refused (401), so a header never widens what a policy allows.
 */
import { isIP } from 'node:net';
import { isMeshError } from '@mesh/errors';
import { forwardedFor } from './forwarded.js';

export interface TunnelSourceFacts {
  /** The TCP peer of the HBONE connection. */
  readonly peerAddress: string;
  /** The SPIFFE URI of its verified client certificate. */
  readonly peerIdentity: string;
  /** The CONNECT's `forwarded` header as received (lines as an array, or one string). */
  readonly forwarded: string | readonly string[] | undefined;
}

export type TunnelSource =
  | {
      readonly ok: true;
      /** The source address to authorize and log. */
      readonly ip: string;
      /** The client's port, when `for=` named one. */
      readonly port?: number;
      /** `peer`: the connection's own address (the header, if any, agreed); `forwarded`: the header's, vouched for by identity. */
      readonly from: 'peer' | 'forwarded';
    }
  | { readonly ok: false; readonly status: 400 | 401; readonly reason: string };

/**
 * Decides the source of a tunnel. `identityOf(ip)` is the SPIFFE URI of the workload at `ip`, as
 * the local configuration knows it (undefined when it does not).
 */
export function resolveTunnelSource(facts: TunnelSourceFacts, identityOf: (ip: string) => string | undefined): TunnelSource {
  const peer = canonicalIp(facts.peerAddress);
  let claimed: { ip: string; port?: number } | undefined;
  try {
    claimed = forwardedFor(facts.forwarded);
  } catch (err) {
    return { ok: false, status: 400, reason: isMeshError(err) ? err.message : String(err) };
  }
  if (!claimed) return { ok: true, ip: peer, from: 'peer' };
  const ip = canonicalIp(claimed.ip);
  const port = claimed.port !== undefined ? { port: claimed.port } : {};
  if (ip === peer) return { ok: true, ip, ...port, from: 'peer' };
  const owner = identityOf(ip);
  if (owner !== undefined && owner === facts.peerIdentity) return { ok: true, ip, ...port, from: 'forwarded' };
  return {
    ok: false,
    status: 401,
    reason: `forwarded for=${ip} is not a workload of ${facts.peerIdentity} (${owner ? `it is ${owner}'s` : 'no known workload has it'}; the connection comes from ${peer})`,
  };
}

/**
 * One spelling per address, so two spellings compare equal: IPv4-mapped IPv6 becomes IPv4, IPv6
 * becomes its lower-case compressed form. Anything that is not an IP comes back unchanged.
 */
export function canonicalIp(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1] as string;
  if (isIP(ip) !== 6) return ip;
  // The WHATWG URL parser serializes IPv6 hosts canonically (RFC 5952).
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}
