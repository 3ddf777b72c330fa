/**
 * A tunnel accepted on connect_terminate becomes a connection to main_internal: its destination
 * is the CONNECT authority (VIP:port); the first bytes are sniffed when the chain depends on the
 * protocol (http_inspector); the selected chain is an HTTP connection manager (HTTP/1.1 or h2c
 * server on the tunnel's stream) or tcp_proxy (bytes relayed to an endpoint of the cluster).
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer as createH2Server } from 'node:http2';
import type { Duplex } from 'node:stream';
import { canonicalIp, parseAuthority, parseBaggage, relay, resolveTunnelSource, type IncomingTunnel } from '@mesh/hbone-core';
import type { Chain } from '../config/model.js';
import type { WaypointModel } from '../config/store.js';
import { authorizationLog, authorizeConnection, recordAuthorization } from './authorize.js';
import { handleRequest, handleUpgrade, writeHead, type DownstreamContext, type ProxyDeps } from './http-proxy.js';
import { applicationProtocolOf, sniffProtocol, type SniffedProtocol } from './sniff.js';
import { openUpstream } from './upstream.js';
import { asByteStream, asHttpSocket } from './byte-stream.js';

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
      stream.removeListener('close', onEnd);
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
    // A tunnel reset while we wait has nothing more to say: stop waiting now, not at the timeout.
    stream.once('close', onEnd);
  });
}

export interface ConnectionDeps extends ProxyDeps {
  readonly model: WaypointModel;
}

/** The identity of a workload the waypoint's endpoints name, by its address. */
function identityOfEndpointIp(model: WaypointModel, ip: string): string | undefined {
  for (const endpoints of model.endpoints.values()) {
    for (const e of endpoints) if (e.identity && canonicalIp(parseAuthority(e.destination).host) === ip) return e.identity;
  }
  return undefined;
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
  // The source is the connection's peer (ztunnel opens tunnels from the client pod's address); a
  // `forwarded` address only when it is a workload of the peer's identity (hbone-core).
  const source = resolveTunnelSource(
    { peerAddress: tunnel.remoteAddress, peerIdentity: tunnel.peerIdentity, forwarded: tunnel.headers['forwarded'] },
    (address) => identityOfEndpointIp(deps.model, address),
  );
  if (!source.ok) {
    deps.logger.log('access', 'info', 'connection complete', {
      'src.addr': canonicalIp(tunnel.remoteAddress),
      'src.identity': tunnel.peerIdentity,
      'dst.vip': tunnel.authority,
      direction: 'inbound',
      response_code: source.status,
      error: source.reason,
    });
    return tunnel.reject(source.status, source.reason);
  }
  const sourceAddress = source.ip;
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
  if (chain.kind === 'tcp') return serveTcp(deps, tunnel, stream, chain, sourceAddress, baggage);
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
        writeHead(res, 500);
        res.end();
      } else res.destroy();
    });
  };
  // One server object per connection keeps the connection's context in the closure.
  const server = protocol === 'h2c' ? createH2Server(onRequest) : createHttpServer({ keepAliveTimeout: 60_000 }, onRequest);
  if (protocol !== 'h2c') {
    server.on('upgrade', (req: Parameters<typeof handleUpgrade>[2], socket: Parameters<typeof handleUpgrade>[3], head: Buffer) => {
      socket.on('error', () => undefined);
      handleUpgrade(deps, ctx, req, socket, head).catch((err: unknown) => {
        deps.logger.log('proxy', 'warn', 'upgrade failed', { error: (err as Error).message, chain: chain.name });
        socket.destroy();
      });
    });
  }
  await new Promise<void>((resolve) => {
    stream.once('close', resolve);
    if (protocol === 'h2c') server.emit('connection', asByteStream(stream));
    else {
      server.emit('connection', asHttpSocket(stream));
      // sniff() paused the stream, and node:http's 'data' listener does not resume a stream
      // paused explicitly (that was the hang of the first try: byte-stream.ts).
      stream.resume();
    }
  });
}

async function serveTcp(
  deps: ConnectionDeps,
  tunnel: IncomingTunnel,
  stream: Duplex,
  chain: Extract<Chain, { kind: 'tcp' }>,
  sourceAddress: string,
  baggage: Record<string, string>,
): Promise<void> {
  const startedAt = performance.now();
  const { cluster, name: chainName } = chain;
  const base: Record<string, unknown> = { 'src.addr': sourceAddress, 'src.identity': tunnel.peerIdentity, 'dst.service': serviceOfChain(chainName), 'dst.vip': tunnel.authority, direction: 'inbound', protocol: 'tcp', chain: chainName, cluster };
  // Network RBAC (the chain's filters before tcp_proxy): what a connection shows.
  const decision = authorizeConnection(chain, { peerIdentity: tunnel.peerIdentity, sourceAddress, destinationIp: tunnel.destination.host, destinationPort: tunnel.destination.port });
  recordAuthorization(deps, 'tcp', decision);
  Object.assign(base, authorizationLog(decision));
  if (!decision.allowed) {
    stream.destroy();
    deps.logger.log('access', 'info', 'connection complete', { ...base, response_flags: 'RBAC', rbac_policy: decision.policy ?? null, error: decision.reason, duration: 0 });
    return;
  }
  if (decision.policy) base['rbac_policy'] = decision.policy;
  const upstreamCtx = deps.upstream();
  const endpoint = upstreamCtx ? deps.pickEndpoint(cluster, deps.model.endpoints.get(cluster) ?? []) : undefined;
  if (!upstreamCtx || !endpoint) {
    stream.destroy();
    deps.logger.log('access', 'info', 'connection complete', { ...base, error: 'no healthy upstream', duration: 0 });
    return;
  }
  let upstream: Duplex;
  try {
    upstream = await openUpstream(upstreamCtx, endpoint, { host: serviceOfChain(chainName), baggage });
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
