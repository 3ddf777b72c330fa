/**
 * Sockets in other network namespaces from the test process (the netfilter addon creates the
 * socket inside the namespace; Node drives it as usual): pod servers, pod clients, and HTTP to a
 * node's loopback admin port.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { createTcpSocket, listenTransparent } from '@mesh/netfilter';

export function connectFrom(netns: string, host: string, port: number): Socket {
  const socket = createTcpSocket({ netns });
  socket.on('error', () => undefined);
  return socket.connect(port, host);
}

/** Name-then-echo server (see @mesh/ztunnel/testing startNamedEchoServer) inside a namespace. */
export async function startPodServer(netns: string, name: string, host: string, port: number): Promise<Server> {
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.write(`${name}\n`);
    socket.pipe(socket);
  });
  await listenTransparent(server, { host, port, netns });
  return server;
}

/** Answers `peer=<the address the connection came from>\n` and ends: what the pod sees. */
export async function startWhoAmI(netns: string, host: string, port: number): Promise<Server> {
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.end(`peer=${socket.remoteAddress}\n`);
  });
  await listenTransparent(server, { host, port, netns });
  return server;
}

/** Reads everything until the client's FIN, answers `<bytes> <sha256 hex>\n`, then ends. */
export async function startHashSink(netns: string, host: string, port: number): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    const hash = createHash('sha256');
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    socket.on('end', () => socket.end(`${bytes} ${hash.digest('hex')}\n`));
  });
  await listenTransparent(server, { host, port, netns });
  return server;
}

/** HTTP from inside `netns` to `host` (the namespace's loopback unless given). */
export function httpInNetns(netns: string, port: number, path: string, method = 'GET', host = '127.0.0.1'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port, path, method, createConnection: () => createTcpSocket({ netns }).connect(port, host) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}
