/**
 * A tunnel accepted on connect_terminate becomes a connection to main_internal: its destination
 * is the CONNECT authority (VIP:port); the first bytes are sniffed when the chain depends on the
 * protocol (http_inspector); the selected chain is an HTTP connection manager (HTTP/1.1 or h2c
 * server on the tunnel's stream) or tcp_proxy (bytes relayed to an endpoint of the cluster).
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer as createH2Server } from 'node:http2';
import type { Duplex } from 'node:stream';
import { parseBaggage, parseForwardedFor, relay, type IncomingTunnel } from '@mesh/hbone-core';
import type { WaypointModel } from '../config/store.js';
import { handleRequest, type DownstreamContext, type ProxyDeps } from './http-proxy.js';
import { applicationProtocolOf, sniffProtocol, type SniffedProtocol } from './sniff.js';
import { openUpstream } from './upstream.js';
import { asByteStream } from './byte-stream.js';

/** How long to wait for a client's first bytes before treating the stream as TCP (server-speaks-first protocols). */
export const SNIFF_TIMEOUT_MS = 1000;

/** `inbound-vip|80|http|echo.echo.svc.cluster.local` → `echo.echo.svc.cluster.local`. */
export function serviceOfChain(chain: string): string {
  const parts = chain.split('|');
  return parts.length === 4 ? (parts[3] as string) : 'unknown';
}

/** Reads until the protocol is known, then puts the bytes back. */
export function sniff(stream: Duplex, timeoutMs = SNIFF_TIMEOUT_MS): Promise<SniffedProtocol> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const done = (protocol: SniffedProtocol) => {
      clearTimeout(timer);
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.pause();
      const head = Buffer.concat(chunks);
      if (head.length > 0) stream.unshift(head);
      resolve(protocol);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      const p = sniffProtocol(Buffer.concat(chunks));
      if (p) done(p);
    };
    const onEnd = () => done('tcp');
    const timer = setTimeout(() => done('tcp'), timeoutMs);
    stream.on('data', onData);
    stream.once('end', onEnd);
  });
}

export interface ConnectionDeps extends ProxyDeps {
  readonly model: WaypointModel;
}

function sourceWorkloadOf(baggage: Record<string, string>, peerIdentity: string): string {
  return baggage['k8s.pod.name'] ?? baggage['k8s.deployment.name'] ?? /\/sa\/([^/]+)$/.exec(peerIdentity)?.[1] ?? 'unknown';
}

/** Serves one accepted tunnel until it closes. */
export async function serveTunnel(deps: ConnectionDeps, tunnel: IncomingTunnel): Promise<void> {
  const listeners = deps.model.listeners;
  if (!listeners) return tunnel.reject(503, 'waypoint has no configuration yet');
  const ip = tunnel.destination.host;
  const port = tunnel.destination.port;
  const served = ['', "'http/1.1'", "'h2c'"].some((p) => listeners.selectChain({ destinationIp: ip, destinationPort: port, applicationProtocol: p }) !== undefined);
  if (!served) return tunnel.reject(400, `${tunnel.authority} is not a destination this waypoint serves`);
  const stream = tunnel.accept();
  // A reset tunnel must not crash the process; the relay/HTTP server see the close.
  stream.on('error', () => undefined);
  const protocol: SniffedProtocol = listeners.sniffs(ip, port) ? await sniff(stream) : 'tcp';
  const chainName = listeners.selectChain({ destinationIp: ip, destinationPort: port, applicationProtocol: applicationProtocolOf(protocol) });
  const chain = chainName === undefined ? undefined : listeners.chains.get(chainName);
  if (!chain) {
    stream.destroy();
    return;
  }
  const baggage = parseBaggage(tunnel.headers['baggage'] as string | undefined);
  const sourceAddress = parseForwardedFor(tunnel.headers['forwarded'] as string | undefined) ?? tunnel.remoteAddress;
  if (chain.kind === 'tcp') return serveTcp(deps, tunnel, stream, chain.cluster, chain.name, sourceAddress, baggage);
  const ctx: DownstreamContext = {
    peerIdentity: tunnel.peerIdentity,
    sourceAddress,
    sourceWorkload: sourceWorkloadOf(baggage, tunnel.peerIdentity),
    destinationIp: ip,
    destinationPort: port,
    service: serviceOfChain(chain.name),
    chain,
    protocol: protocol === 'h2c' ? 'HTTP/2' : 'HTTP/1.1',
    baggage,
  };
  const onRequest = (req: Parameters<typeof handleRequest>[2], res: Parameters<typeof handleRequest>[3]) => {
    handleRequest(deps, ctx, req, res).catch((err: unknown) => {
      deps.logger.log('proxy', 'warn', 'request failed', { error: (err as Error).message, chain: chain.name });
      if (!res.headersSent) {
        res.writeHead(500);
        res.end();
      } else res.destroy();
    });
  };
  // One server object per connection keeps the connection's context in the closure.
  const server = protocol === 'h2c' ? createH2Server(onRequest) : createHttpServer({ keepAliveTimeout: 60_000 }, onRequest);
  const bytes = asByteStream(stream);
  await new Promise<void>((resolve) => {
    stream.once('close', resolve);
    server.emit('connection', bytes);
  });
}

async function serveTcp(deps: ConnectionDeps, tunnel: IncomingTunnel, stream: Duplex, cluster: string, chainName: string, sourceAddress: string, baggage: Record<string, string>): Promise<void> {
  const startedAt = performance.now();
  const upstreamCtx = deps.upstream();
  const endpoint = upstreamCtx ? deps.pickEndpoint(cluster, deps.model.endpoints.get(cluster) ?? []) : undefined;
  const base = { 'src.addr': sourceAddress, 'src.identity': tunnel.peerIdentity, 'dst.service': serviceOfChain(chainName), 'dst.vip': tunnel.authority, direction: 'inbound', protocol: 'tcp', chain: chainName, cluster };
  if (!upstreamCtx || !endpoint) {
    stream.destroy();
    deps.logger.log('access', 'info', 'connection complete', { ...base, error: 'no healthy upstream', duration: 0 });
    return;
  }
  let upstream: Duplex;
  try {
    upstream = await openUpstream(upstreamCtx, endpoint, { sourceAddress, host: serviceOfChain(chainName), baggage });
  } catch (err) {
    stream.destroy();
    deps.logger.log('access', 'info', 'connection complete', { ...base, 'dst.addr': endpoint.destination, error: (err as Error).message });
    return;
  }
  stream.resume();
  const result = await relay(stream, upstream);
  deps.logger.log('access', 'info', 'connection complete', {
    ...base,
    'dst.addr': endpoint.destination,
    'dst.identity': endpoint.identity ?? null,
    bytes_recv: result.bytesAToB,
    bytes_sent: result.bytesBToA,
    duration: Number((performance.now() - startedAt).toFixed(3)),
    ...(result.error ? { error: result.error.message } : {}),
  });
}
