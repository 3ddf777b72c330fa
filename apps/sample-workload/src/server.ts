/**
 * The sample workload: on each port, HTTP requests (HTTP/1.1, or HTTP/2 with prior knowledge)
 * get a report of what the pod saw (see report.ts) or, with `httpAnswer: 'echo'`, the Gateway API
 * conformance suite's echo JSON; what a request asks for first (delay, status, response headers,
 * a simulated failure; behaviour.ts) applies in both. An HTTP/1.1 `Upgrade: websocket` gets a
 * WebSocket that echoes every message. Any other TCP client gets a one-line banner and then an
 * echo of its bytes.
 * A TCP client that sends nothing gets the banner after SERVER_FIRST_DELAY_MS, so `nc` users
 * see who answered without typing first. The delay is long on purpose: through the mesh, a
 * client's first bytes reach the pod only after the tunnel is up (a fresh mTLS connection can
 * take a few hundred ms), and a banner sent before them would break an HTTP client.
 *
 * Lifecycle: `close()` stops listening and ends idle keep-alive connections; `destroy()` also
 * drops connections in flight. Both idempotent.
 */
import { createServer as createHttpServer, request, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { createServer as createH2Server, type Http2ServerRequest } from 'node:http2';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { MeshError } from '@mesh/errors';
import { RetryCounters, requestBehaviour } from './behaviour.js';
import { echoBasicJson, formatAddress, formatHttpReport, formatTcpBanner, httpReportJson, type UpstreamResult, type WorkloadIdentity } from './report.js';
import { sniffProtocol } from './sniff.js';
import { FrameParser, OPCODE, acceptKey, encodeFrame } from './websocket.js';

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
  /** `report` (default): what the pod saw, as text or JSON; `echo`: the conformance suite's echo JSON. */
  readonly httpAnswer?: HttpAnswer;
  /** How long a silent TCP client waits for the banner; default SERVER_FIRST_DELAY_MS. */
  readonly serverFirstDelayMs?: number;
  /** One line per connection (the app logs; the library stays quiet by default). */
  readonly log?: ((entry: Record<string, unknown>) => void) | undefined;
}

export type HttpAnswer = 'report' | 'echo';

export interface SampleWorkload {
  addresses(): { host: string; port: number }[];
  close(): Promise<void>;
  destroy(): void;
}

type AnyRequest = IncomingMessage | Http2ServerRequest;
/**
 * What the handler uses of either response. Not the union itself: since @types/node 24 the two
 * writeHead overload sets no longer unify into one callable signature.
 */
interface AnyResponse {
  setHeader(name: string, value: number | string | readonly string[]): unknown;
  writeHead(statusCode: number, headers?: OutgoingHttpHeaders): unknown;
  end(): unknown;
  end(data: string): unknown;
  destroy(error?: Error): unknown;
}

function callUpstream(url: string, fromRequest: AnyRequest): Promise<UpstreamResult> {
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

  const counters = new RetryCounters();
  const answer = async (req: AnyRequest, res: AnyResponse) => {
    const socket = req.socket;
    const source = formatAddress(socket.remoteAddress, socket.remotePort);
    const destination = formatAddress(socket.localAddress, socket.localPort);
    const url = req.url ?? '/';
    const headers: [string, string][] = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      const name = (req.rawHeaders[i] as string).toLowerCase();
      // HTTP/2 pseudo-headers are the request line, not headers.
      if (!name.startsWith(':')) headers.push([name, req.rawHeaders[i + 1] as string]);
    }
    const setHeader = req.headers['x-echo-set-header'];
    const wanted = requestBehaviour(url, setHeader === undefined ? [] : Array.isArray(setHeader) ? setHeader : [setHeader], counters);
    if (!wanted.ok) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify({ message: wanted.message })}\n`);
      log({ msg: 'http request', source, destination, method: req.method, url, status: 400, error: wanted.message });
      return;
    }
    const { behaviour } = wanted;
    if (behaviour.delayMs > 0) await sleep(behaviour.delayMs);
    for (const [name, value] of behaviour.headers) res.setHeader(name, value);
    if (behaviour.status !== undefined) {
      res.writeHead(behaviour.status);
      res.end();
      log({ msg: 'http request', source, destination, method: req.method, url, status: behaviour.status });
      return;
    }
    if (options.httpAnswer === 'echo') {
      const host = (req.headers[':authority'] as string | undefined) ?? req.headers.host ?? '';
      res.writeHead(200, { 'content-type': 'application/json', 'x-content-type-options': 'nosniff' });
      res.end(echoBasicJson({ workload, path: url, host, method: req.method ?? 'GET', proto: `HTTP/${req.httpVersion === '2.0' ? '2.0' : req.httpVersion}`, headers }));
      log({ msg: 'http request', source, destination, method: req.method, url, status: 200 });
      return;
    }
    const results = await Promise.all(upstreams.map((u) => callUpstream(u, req)));
    const report = { workload, source, destination, method: req.method ?? 'GET', url, headers, upstreams: results };
    const json = /[?&]format=json\b/.test(url) || (req.headers.accept ?? '').includes('application/json');
    res.writeHead(200, { 'content-type': json ? 'application/json' : 'text/plain; charset=utf-8' });
    res.end(json ? httpReportJson(report) : formatHttpReport(report));
    log({ msg: 'http request', source, destination, method: req.method, url, upstreams: results.map((r) => `${r.url} ${r.status ?? r.error}`) });
  };
  const onRequest = (req: AnyRequest, res: AnyResponse) => {
    answer(req, res).catch(() => res.destroy());
  };
  const http = createHttpServer(onRequest);
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => serveWebSocket(req, socket, head, log));
  const h2c = createH2Server(onRequest);

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
      if (kind === 'h2c') h2c.emit('connection', jsStream(socket));
      else http.emit('connection', socket);
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

/**
 * The socket as a plain JS stream. Node's HTTP/2 server reads a net.Socket through its native
 * handle, which would skip the bytes sniffing put back; through a JS stream it reads them. The
 * addresses are copied so requests still know their connection.
 */
function jsStream(socket: Socket): Duplex {
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(err, callback) {
      socket.destroy(err ?? undefined);
      callback(err);
    },
  });
  socket.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.once('end', () => stream.push(null));
  socket.once('close', () => stream.destroy());
  Object.assign(stream, { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, localAddress: socket.localAddress, localPort: socket.localPort });
  return stream;
}

/** The WebSocket opening handshake, then every text or binary message is sent back as it came. */
function serveWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, log: (entry: Record<string, unknown>) => void): void {
  socket.on('error', () => socket.destroy());
  const key = req.headers['sec-websocket-key'];
  if (String(req.headers.upgrade).toLowerCase() !== 'websocket' || typeof key !== 'string') {
    socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    return;
  }
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${acceptKey(key)}\r\n\r\n`);
  log({ msg: 'websocket opened', url: req.url });
  const parser = new FrameParser();
  const onBytes = (chunk: Buffer) => {
    for (const frame of parser.push(chunk)) {
      if (frame.opcode === OPCODE.close) {
        socket.end(encodeFrame({ opcode: OPCODE.close, payload: frame.payload }));
        return;
      }
      if (frame.opcode === OPCODE.ping) socket.write(encodeFrame({ opcode: OPCODE.pong, payload: frame.payload }));
      else if (frame.opcode !== OPCODE.pong) socket.write(encodeFrame({ opcode: frame.opcode, payload: frame.payload, fin: frame.fin }));
    }
  };
  if (head.length > 0) onBytes(head);
  socket.on('data', onBytes);
}
