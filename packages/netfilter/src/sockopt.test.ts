import { createServer, Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import { createTcpSocket, getMark, isSockoptAvailable, isTransparent, listenTransparent, setMark, setTransparent, socketFd } from './sockopt.js';

const isRoot = process.getuid?.() === 0;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('socket options', () => {
  it('the addon is built and loads on Linux', () => {
    expect(isSockoptAvailable()).toBe(process.platform === 'linux');
  });

  it('refuses a socket that has no fd yet', () => {
    expect(codeOf(() => socketFd(new Socket()))).toBe('NETFILTER_ERR_SOCKOPT');
  });

  it('refuses marks that are not 32-bit', () => {
    expect(codeOf(() => setMark(new Socket(), 2 ** 32))).toBe('NETFILTER_ERR_SOCKOPT');
    expect(codeOf(() => setMark(new Socket(), -1))).toBe('NETFILTER_ERR_SOCKOPT');
  });
});

describe.skipIf(!isRoot || process.platform !== 'linux')('socket options with CAP_NET_ADMIN (root)', () => {
  it('listenTransparent binds with IP_TRANSPARENT set and Node serves on the fd', async () => {
    const server = createServer((socket) => socket.end('hi'));
    await listenTransparent(server, { host: '127.0.0.1', port: 0 });
    try {
      expect(isTransparent(server)).toBe(true);
      const { port } = server.address() as { port: number };
      const reply = await new Promise<string>((resolve, reject) => {
        const client = new Socket().connect(port, '127.0.0.1');
        let data = '';
        client.on('data', (chunk) => (data += chunk.toString()));
        client.on('end', () => resolve(data));
        client.on('error', reject);
      });
      expect(reply).toBe('hi');
    } finally {
      server.close();
    }
  });

  it('listenTransparent can bind an address this host does not own (the point of IP_TRANSPARENT)', async () => {
    const server = createServer();
    await listenTransparent(server, { host: '198.51.100.7', port: 0 });
    expect(server.address()).toMatchObject({ address: '198.51.100.7' });
    server.close();
  });

  it('a plain listen on a foreign address fails, for contrast', async () => {
    const server = createServer();
    const err = await new Promise<unknown>((resolve) => server.once('error', resolve).listen(0, '198.51.100.7'));
    expect((err as { code?: string }).code).toBe('EADDRNOTAVAIL');
  });

  it('listenTransparent reports EADDRINUSE as NETFILTER_ERR_SOCKOPT and closes its fd', async () => {
    const first = createServer();
    await listenTransparent(first, { host: '127.0.0.1', port: 0 });
    const { port } = first.address() as { port: number };
    // SO_REUSEADDR does not allow two listeners on one port.
    const err = await listenTransparent(createServer(), { host: '127.0.0.1', port }).catch((e: unknown) => e);
    expect(hasCode(err, 'NETFILTER_ERR_SOCKOPT')).toBe(true);
    expect((err as Error).message).toMatch(/Address already in use/);
    first.close();
  });

  it('createTcpSocket sets SO_MARK before connect; setTransparent/setMark work on live sockets', async () => {
    const server = createServer((s) => s.resume());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const socket = createTcpSocket({ mark: 0x400 });
    await new Promise<void>((resolve, reject) => socket.connect(port, '127.0.0.1', resolve).once('error', reject));
    expect(getMark(socket)).toBe(0x400);
    setMark(socket, 0xffffffff);
    expect(getMark(socket)).toBe(0xffffffff);
    expect(isTransparent(socket)).toBe(false);
    setTransparent(socket);
    expect(isTransparent(socket)).toBe(true);
    socket.destroy();
    server.close();
  });

  it('createTcpSocket bound to an address leaves the port to connect() (IP_BIND_ADDRESS_NO_PORT), and connects', async () => {
    const server = createServer((s) => s.resume());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const socket = createTcpSocket({ localAddress: '127.0.0.1' });
    // Without the option bind() would have picked an ephemeral port already.
    expect(socket.localPort).toBe(0);
    await new Promise<void>((resolve, reject) => socket.connect(port, '127.0.0.1', resolve).once('error', reject));
    expect(socket.localAddress).toBe('127.0.0.1');
    expect(socket.localPort).toBeGreaterThan(0);
    socket.destroy();
    server.close();
  });

  it('entering a namespace that does not exist fails cleanly and leaves us where we were', async () => {
    const err = await listenTransparent(createServer(), { host: '127.0.0.1', port: 0, netns: 'mt-does-not-exist' }).catch((e: unknown) => e);
    expect(hasCode(err, 'NETFILTER_ERR_SOCKOPT')).toBe(true);
    const server = createServer();
    await listenTransparent(server, { host: '127.0.0.1', port: 0 });
    server.close();
  });
});
