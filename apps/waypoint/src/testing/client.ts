/**
 * An HBONE client of the waypoint, as a ztunnel would be: CONNECT to the waypoint's 15008 with
 * `:authority` = VIP:port, then HTTP/1.1 (or HTTP/2 prior knowledge, or raw bytes) inside.
 */
import { request as httpRequest } from 'node:http';
import { connect as h2connect } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { HbonePool } from '@mesh/hbone-core';
import { asByteStream } from '../proxy/byte-stream.js';

export interface WaypointClient {
  pool: HbonePool;
  sourceIdentity: string;
  /** `127.0.0.1:<port>` of the waypoint. */
  waypoint: string;
  waypointIdentity: string;
  /** VIP:port the client addressed. */
  authority: string;
  sourceAddress?: string;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function openTunnel(client: WaypointClient): Promise<Duplex> {
  return client.pool.open({
    sourceIdentity: client.sourceIdentity,
    destination: client.waypoint,
    expectedIdentities: [client.waypointIdentity],
    authority: client.authority,
    ...(client.sourceAddress ? { sourceAddress: client.sourceAddress } : {}),
  });
}

/** One HTTP/1.1 request in its own tunnel. */
export function httpThroughWaypoint(client: WaypointClient, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      method: options.method ?? 'GET',
      path,
      headers: { host: client.authority, ...options.headers },
      // No agent: with createConnection and no agent, Node uses our stream (agent: false would make a new Agent that ignores it).
      createConnection: ((_o: unknown, done: (e: Error | null, s?: Duplex) => void) => {
        openTunnel(client).then((s) => done(null, asByteStream(s)), (e: Error) => done(e));
        return undefined;
      }) as never,
    });
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end(options.body);
  });
}

/** One HTTP/2 prior-knowledge (h2c) request in its own tunnel. */
export async function h2cThroughWaypoint(client: WaypointClient, path: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  const stream = await openTunnel(client);
  const session = h2connect(`http://${client.authority}`, { createConnection: () => stream as never });
  try {
    return await new Promise<HttpAnswer>((resolve, reject) => {
      const req = session.request({ ':method': 'GET', ':path': path, ...headers });
      let status = 0;
      let responseHeaders: Record<string, string | string[] | undefined> = {};
      const chunks: Buffer[] = [];
      req.once('response', (h) => {
        status = Number(h[':status']);
        responseHeaders = h as Record<string, string | string[] | undefined>;
      });
      req.on('data', (c: Buffer) => chunks.push(c));
      req.once('end', () => resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks).toString() }));
      req.once('error', reject);
      req.end();
    });
  } finally {
    session.close();
  }
}
