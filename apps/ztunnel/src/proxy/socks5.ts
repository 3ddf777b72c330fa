/**
 * SOCKS5 outbound (15080) for explicit mode (RFC 1928, no authentication, CONNECT only): a
 * workload that cannot be captured transparently asks ztunnel to connect for it. The client's
 * source address (a per-pod 127.x loopback address in explicit mode) names the pod, exactly as
 * the source IP does under TPROXY; from there the connection takes the same outbound path.
 */
import { lookup } from 'node:dns/promises';
import { isIP, type Socket } from 'node:net';
import { normalizeIp } from '@mesh/envoy-config';
import { serviceVipOf } from '@mesh/ztunnel-plan';
import type { ProxyContext } from './context.js';
import { handleOutbound, type OutboundFailure } from './outbound.js';

const VERSION = 5;
const METHOD_NO_AUTH = 0;
const METHOD_NONE_ACCEPTABLE = 0xff;
const CMD_CONNECT = 1;
const ATYP_IPV4 = 1;
const ATYP_DOMAIN = 3;
const ATYP_IPV6 = 4;
/** Give up on clients that do not finish the handshake. */
export const SOCKS5_HANDSHAKE_TIMEOUT_MS = 10_000;

export const SOCKS5_REPLY = {
  succeeded: 0,
  generalFailure: 1,
  notAllowed: 2,
  hostUnreachable: 4,
  connectionRefused: 5,
  commandNotSupported: 7,
  addressTypeNotSupported: 8,
} as const;

export type Socks5Request = { ok: true; host: string; port: number; consumed: number } | { ok: false; reply: number; reason: string } | undefined;

/** Parses a greeting; undefined while incomplete. */
export function parseGreeting(buf: Buffer): { methods: number[]; consumed: number } | { error: string } | undefined {
  if (buf.length < 2) return undefined;
  if (buf[0] !== VERSION) return { error: `not SOCKS5 (version ${buf[0]})` };
  const n = buf[1] as number;
  if (buf.length < 2 + n) return undefined;
  return { methods: [...buf.subarray(2, 2 + n)], consumed: 2 + n };
}

/** Parses a CONNECT request; undefined while incomplete. */
export function parseRequest(buf: Buffer): Socks5Request {
  if (buf.length < 4) return undefined;
  if (buf[0] !== VERSION) return { ok: false, reply: SOCKS5_REPLY.generalFailure, reason: `bad version ${buf[0]}` };
  if (buf[1] !== CMD_CONNECT) return { ok: false, reply: SOCKS5_REPLY.commandNotSupported, reason: `command ${buf[1]} is not supported` };
  const atyp = buf[3];
  let host: string;
  let offset: number;
  if (atyp === ATYP_IPV4) {
    if (buf.length < 10) return undefined;
    host = [...buf.subarray(4, 8)].join('.');
    offset = 8;
  } else if (atyp === ATYP_IPV6) {
    if (buf.length < 22) return undefined;
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(4 + i * 2).toString(16));
    host = groups.join(':');
    offset = 20;
  } else if (atyp === ATYP_DOMAIN) {
    if (buf.length < 5) return undefined;
    const len = buf[4] as number;
    if (buf.length < 5 + len + 2) return undefined;
    host = buf.subarray(5, 5 + len).toString('latin1');
    offset = 5 + len;
  } else {
    return { ok: false, reply: SOCKS5_REPLY.addressTypeNotSupported, reason: `address type ${atyp} is not supported` };
  }
  return { ok: true, host, port: buf.readUInt16BE(offset), consumed: offset + 2 };
}

export function encodeReply(reply: number): Buffer {
  // BND.ADDR 0.0.0.0:0: clients do not use it for CONNECT.
  return Buffer.from([VERSION, reply, 0, ATYP_IPV4, 0, 0, 0, 0, 0, 0]);
}

function replyFor(failure: OutboundFailure): number {
  if (failure.kind === 'blackhole' || failure.status === 401 || failure.status === 403) return SOCKS5_REPLY.notAllowed;
  if (failure.status === 503 || /ECONNREFUSED/.test(failure.reason)) return SOCKS5_REPLY.connectionRefused;
  if (failure.status === 400) return SOCKS5_REPLY.hostUnreachable;
  if (failure.kind === 'reject') return SOCKS5_REPLY.hostUnreachable;
  return SOCKS5_REPLY.generalFailure;
}

export function handleSocks5(ctx: ProxyContext, socket: Socket, handshakeTimeoutMs = SOCKS5_HANDSHAKE_TIMEOUT_MS): void {
  socket.on('error', () => undefined);
  socket.setNoDelay(true);
  let buf: Buffer = Buffer.alloc(0);
  let stage: 'greeting' | 'request' = 'greeting';
  const timer = setTimeout(() => socket.destroy(), handshakeTimeoutMs);
  socket.once('close', () => clearTimeout(timer));
  const fail = (reply: number) => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.end(encodeReply(reply));
  };
  const onData = (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    if (stage === 'greeting') {
      const g = parseGreeting(buf);
      if (!g) return;
      if ('error' in g) return void socket.destroy();
      buf = buf.subarray(g.consumed);
      if (!g.methods.includes(METHOD_NO_AUTH)) {
        clearTimeout(timer);
        socket.off('data', onData);
        return void socket.end(Buffer.from([VERSION, METHOD_NONE_ACCEPTABLE]));
      }
      socket.write(Buffer.from([VERSION, METHOD_NO_AUTH]));
      stage = 'request';
    }
    const req = parseRequest(buf);
    if (!req) return;
    if (!req.ok) return fail(req.reply);
    clearTimeout(timer);
    socket.off('data', onData);
    socket.pause();
    const rest = buf.subarray(req.consumed);
    if (rest.length > 0) socket.unshift(rest);
    connect(ctx, socket, req.host, req.port).catch((err: unknown) => {
      // Never across the connection: an unhandled rejection would stop the ztunnel.
      ctx.logger.log('proxy', 'warn', 'SOCKS5 connect failed', { 'src.addr': `${socket.remoteAddress}:${socket.remotePort}`, host: req.host, port: req.port, error: String(err) });
      if (!socket.destroyed) socket.end(encodeReply(SOCKS5_REPLY.generalFailure));
    });
  };
  socket.on('data', onData);
}

/** A DNS name a resolver may be asked for (RFC 1123 labels); anything else is unreachable, not looked up. */
const RESOLVABLE_NAME = /^(?=.{1,253}\.?$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

async function connect(ctx: ProxyContext, socket: Socket, host: string, port: number): Promise<void> {
  // Port 0 is no destination: nothing can listen there (a direct connect is refused too).
  if (port === 0) return void socket.end(encodeReply(SOCKS5_REPLY.connectionRefused));
  let ip = host;
  if (isIP(host) === 0) {
    // Mesh service names resolve to their VIP from the config itself (no cluster DNS here).
    const vip = serviceVipOf(ctx.model(), host);
    if (vip) ip = vip;
    else {
      // Empty names, NULs, spaces, CR/LF: never handed to the resolver (Node resolves "" to
      // nothing at all, and a name is what a pod controls here).
      if (!RESOLVABLE_NAME.test(host)) return void socket.end(encodeReply(SOCKS5_REPLY.hostUnreachable));
      try {
        const resolved = (await lookup(host)).address;
        if (!resolved) return void socket.end(encodeReply(SOCKS5_REPLY.hostUnreachable));
        ip = resolved;
      } catch {
        return void socket.end(encodeReply(SOCKS5_REPLY.hostUnreachable));
      }
    }
  }
  if (socket.destroyed) return;
  await handleOutbound(
    ctx,
    socket,
    { src: { ip: normalizeIp(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 }, dst: { ip: normalizeIp(ip), port } },
    {
      onEstablished: () => {
        socket.write(encodeReply(SOCKS5_REPLY.succeeded));
        socket.resume();
      },
      onRefused: (failure) => {
        if (!socket.destroyed) socket.end(encodeReply(replyFor(failure)));
      },
    },
  );
}
