/**
 * Helpers for the waypoint e2e (docs/model.md, "The waypoint"): the built waypoint's path, an echo pod server that
 * answers HTTP (with behaviours for /flaky and /slow) and plain TCP on the same port, and an
 * HTTP client that runs inside a pod's network namespace (so ztunnel captures it).
 */
import { Agent, createServer as createHttpServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as h2connect } from 'node:http2';
import { createServer, type Server, type Socket } from 'node:net';
import { createTcpSocket, listenTransparent } from '@mesh/netfilter';
import { REPO_ROOT } from './process.js';

export const WAYPOINT_MAIN = `${REPO_ROOT}apps/waypoint/dist/main.js`;

/**
 * HTTP: `<name> <method> <path>` (200); `/flaky`: 503 twice, then 200, in turn; `/slow`: answers
 * after `slowMs`. TCP (first bytes not an HTTP request line): `tcp <name>\n`, then an echo.
 */
export async function startEchoPod(netns: string, name: string, host: string, port: number, slowMs = 3_000): Promise<Server> {
  let flaky = 0;
  const http = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    if (path.startsWith('/flaky')) {
      flaky++;
      res.statusCode = flaky % 3 === 0 ? 200 : 503;
    }
    const answer = () => res.end(`${name} ${req.method} ${path}\n`);
    if (path.startsWith('/slow')) setTimeout(answer, slowMs).unref();
    else answer();
  });
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.once('readable', () => {
      const head = socket.read() as Buffer | null;
      if (!head) return socket.end();
      socket.unshift(head);
      if (/^[A-Z]+ \S+ HTTP\/1\.[01]/.test(head.toString('latin1'))) http.emit('connection', socket);
      else {
        socket.write(`tcp ${name}\n`);
        socket.pipe(socket);
      }
    });
  });
  await listenTransparent(server, { host, port, netns });
  return server;
}

/** Keep-alive HTTP client whose connections are made inside `netns`. */
export function podAgent(netns: string, maxSockets = 32): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets });
  (agent as unknown as { createConnection: (o: { host: string; port: number }) => unknown }).createConnection = (o) => createTcpSocket({ netns }).connect(o.port, o.host);
  return agent;
}

export interface PodAnswer {
  status: number;
  body: string;
}

export function httpFrom(agent: Agent, host: string, port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<PodAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method, headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`${method} ${path}: no answer in 15 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** Runs `count` requests with at most `concurrency` in flight. */
export async function many<T>(count: number, concurrency: number, one: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await one(i);
      }
    }),
  );
  return out;
}

/** Reads `count` lines (however the bytes were split into chunks). */
export function readLines(socket: Socket, count: number, timeoutMs = 5_000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => finish(new Error(`fewer than ${count} lines within ${timeoutMs} ms (got "${text}")`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const lines = text.split('\n');
      if (lines.length > count) finish(undefined, lines.slice(0, count));
    };
    const onClose = () => finish(new Error(`connection closed (got "${text}")`));
    const finish = (err?: Error, lines?: string[]) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(lines as string[]);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

/** One HTTP/2 prior-knowledge (h2c) GET from inside `netns`. */
export async function h2cFrom(netns: string, host: string, port: number, path: string): Promise<PodAnswer> {
  const session = h2connect(`http://${host}:${port}`, { createConnection: () => createTcpSocket({ netns }).connect(port, host) });
  try {
    return await new Promise<PodAnswer>((resolve, reject) => {
      const req = session.request({ ':method': 'GET', ':path': path });
      let status = 0;
      let body = '';
      req.setEncoding('utf8');
      req.once('response', (h) => (status = Number(h[':status'])));
      req.on('data', (c: string) => (body += c));
      req.once('end', () => resolve({ status, body }));
      req.once('error', reject);
      req.end();
    });
  } finally {
    session.close();
  }
}
