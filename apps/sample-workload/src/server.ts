/**
 * The sample workload: on each port, HTTP requests get a report of what the pod saw (see
 * report.ts), and any other TCP client gets a one-line banner and then an echo of its bytes.
 * A TCP client that sends nothing gets the banner after SERVER_FIRST_DELAY_MS, so `nc` users
 * see who answered without typing first. The delay is long on purpose: through the mesh, a
 * client's first bytes reach the pod only after the tunnel is up (a fresh mTLS connection can
 * take a few hundred ms), and a banner sent before them would break an HTTP client.
 *
 * Lifecycle: `close()` stops listening and ends idle keep-alive connections; `destroy()` also
 * drops connections in flight. Both idempotent.
 */
import { createServer as createHttpServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { MeshError } from '@mesh/errors';
import { formatAddress, formatHttpReport, formatTcpBanner, httpReportJson, type UpstreamResult, type WorkloadIdentity } from './report.js';
import { sniffProtocol } from './sniff.js';

export const SERVER_FIRST_DELAY_MS = 3_000;
export const UPSTREAM_TIMEOUT_MS = 3_000;
/** How much of an upstream's answer is kept: enough for a chain of three pods. */
const UPSTREAM_BODY_LIMIT_BYTES = 16 * 1024;

export interface SampleWorkloadOptions {
  readonly workload: WorkloadIdentity;
  /** `host:port` pairs; port 0 picks one (see `addresses()`). */
  readonly listen: readonly { host: string; port: number }[];
  /** URLs called for every HTTP request (in parallel); their answers are included. */
  readonly upstreams?: readonly string[];
  /** How long a silent TCP client waits for the banner; default SERVER_FIRST_DELAY_MS. */
  readonly serverFirstDelayMs?: number;
  /** One line per connection (the app logs; the library stays quiet by default). */
  readonly log?: ((entry: Record<string, unknown>) => void) | undefined;
}

export interface SampleWorkload {
  addresses(): { host: string; port: number }[];
  close(): Promise<void>;
  destroy(): void;
}

function callUpstream(url: string, fromRequest: IncomingMessage): Promise<UpstreamResult> {
  return new Promise((resolve) => {
    // Trace headers travel on, as an instrumented app would do (the mesh itself is L4 here).
    const forwarded: Record<string, string> = {};
    for (const name of ['traceparent', 'x-request-id']) {
      const value = fromRequest.headers[name];
      if (typeof value === 'string') forwarded[name] = value;
    }
    const req = request(url, { headers: forwarded, timeout: UPSTREAM_TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < UPSTREAM_BODY_LIMIT_BYTES) body += chunk;
      });
      res.on('end', () => resolve({ url, status: res.statusCode, body }));
      res.on('error', (err) => resolve({ url, error: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${UPSTREAM_TIMEOUT_MS} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ url, error: err.code ? `${err.code} ${err.message}` : err.message }));
    req.end();
  });
}

export async function startSampleWorkload(options: SampleWorkloadOptions): Promise<SampleWorkload> {
  const { workload } = options;
  const upstreams = options.upstreams ?? [];
  const log = options.log ?? (() => undefined);
  const sockets = new Set<Socket>();

  const http = createHttpServer(async (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const source = formatAddress(socket.remoteAddress, socket.remotePort);
    const destination = formatAddress(socket.localAddress, socket.localPort);
    const headers: [string, string][] = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.push([(req.rawHeaders[i] as string).toLowerCase(), req.rawHeaders[i + 1] as string]);
    const results = await Promise.all(upstreams.map((url) => callUpstream(url, req)));
    const report = { workload, source, destination, method: req.method ?? 'GET', url: req.url ?? '/', headers, upstreams: results };
    const json = /[?&]format=json\b/.test(req.url ?? '') || (req.headers.accept ?? '').includes('application/json');
    res.writeHead(200, { 'content-type': json ? 'application/json' : 'text/plain; charset=utf-8' });
    res.end(json ? httpReportJson(report) : formatHttpReport(report));
    log({ msg: 'http request', source, destination, method: req.method, url: req.url, upstreams: results.map((r) => `${r.url} ${r.status ?? r.error}`) });
  });

  const onConnection = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const source = formatAddress(socket.remoteAddress, socket.remotePort);
    const destination = formatAddress(socket.localAddress, socket.localPort);
    let buffered = Buffer.alloc(0);
    const startTcp = () => {
      clearTimeout(serverFirst);
      socket.off('data', onData);
      socket.write(formatTcpBanner(workload, source, destination));
      if (buffered.length > 0) socket.write(buffered);
      socket.pipe(socket);
      log({ msg: 'tcp connection', source, destination });
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const kind = sniffProtocol(buffered);
      if (kind === 'undecided') return;
      if (kind === 'tcp') return startTcp();
      clearTimeout(serverFirst);
      socket.off('data', onData);
      socket.pause();
      socket.unshift(buffered);
      http.emit('connection', socket);
      socket.resume();
    };
    const serverFirst = setTimeout(startTcp, options.serverFirstDelayMs ?? SERVER_FIRST_DELAY_MS);
    socket.on('data', onData);
    socket.once('close', () => clearTimeout(serverFirst));
  };

  const servers: Server[] = [];
  try {
    for (const { host, port } of options.listen) {
      // allowHalfOpen: an echo client that half-closes still gets its bytes back.
      const server = createTcpServer({ allowHalfOpen: true, noDelay: true }, onConnection);
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) =>
          reject(new MeshError('SAMPLE_ERR_LISTEN', `cannot listen on ${host}:${port}: ${err.message}`, { cause: err, hint: 'is the address assigned in this network namespace, and the port free?' })),
        );
        server.listen(port, host, resolve);
      });
      servers.push(server);
    }
  } catch (err) {
    for (const s of servers) s.close();
    throw err;
  }

  let closed = false;
  return {
    addresses: () => servers.map((s) => {
      const a = s.address() as AddressInfo;
      return { host: a.address, port: a.port };
    }),
    async close() {
      if (closed) return;
      closed = true;
      http.closeIdleConnections();
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    },
    destroy() {
      closed = true;
      for (const s of servers) s.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}
