import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isLoopbackAddress } from './endpoint.js';
import { listenOperatorHttp, listenReadOnlyHttp, MAX_UNIX_SOCKET_PATH_BYTES } from './serve.js';

const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'admin-access-'));
  closers.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function get(target: { port: number } | { socketPath: string }, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ ...('port' in target ? { host: '127.0.0.1', port: target.port } : target), path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const hello = (_req: unknown, res: import('node:http').ServerResponse) => void res.end('hello\n');

describe('isLoopbackAddress', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.77.0.11', true],
    ['::1', true],
    ['[::1]', true],
    ['0:0:0:0:0:0:0:1', true],
    ['::ffff:127.0.0.1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.77.0.11', false],
    ['128.0.0.1', false],
    ['::2', false],
    ['', false],
  ])('%s → %s', (host, expected) => expect(isLoopbackAddress(host)).toBe(expected));
});

describe('listenOperatorHttp', () => {
  it.each(['0.0.0.0', '::', '10.77.0.11'])('refuses the non-loopback address %s, naming what it serves', async (host) => {
    await expect(listenOperatorHttp(hello, { what: 'ztunnel admin', host, port: 0 })).rejects.toMatchObject({
      code: 'ADMIN_ERR_NOT_LOOPBACK',
      message: expect.stringContaining(`ztunnel admin may only listen on a loopback address, not ${host}`),
    });
  });

  it('serves on loopback and on an owner-only Unix socket, and removes the socket on close', async () => {
    const socket = join(tempDir(), 'run', 'admin.sock');
    const server = await listenOperatorHttp(hello, { what: 'test admin', host: '127.0.0.1', port: 0, socket });
    expect(server.address).toBe(`127.0.0.1:${server.port}`);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(statSync(join(socket, '..')).mode & 0o777).toBe(0o700);
    expect(await get({ port: server.port }, '/')).toEqual({ status: 200, body: 'hello\n' });
    expect(await get({ socketPath: socket }, '/')).toEqual({ status: 200, body: 'hello\n' });
    await server.close();
    expect(() => statSync(socket)).toThrow();
    await server.close(); // idempotent
  });

  it('replaces a socket left by a dead process, refuses one a live process serves', async () => {
    const socket = join(tempDir(), 'admin.sock');
    const live = createServer();
    await new Promise<void>((resolve) => live.listen(socket, resolve));
    await expect(listenOperatorHttp(hello, { what: 'test admin', host: '127.0.0.1', port: 0, socket })).rejects.toMatchObject({ code: 'ADMIN_ERR_SOCKET_IN_USE' });
    // A server that stops without unlinking leaves the file behind, as a crash does.
    (live as unknown as { _pipeName?: string })._pipeName = undefined;
    await new Promise<void>((resolve) => live.close(() => resolve()));
    const server = await listenOperatorHttp(hello, { what: 'test admin', host: '127.0.0.1', port: 0, socket });
    closers.push(() => server.close());
    expect((await get({ socketPath: socket }, '/')).status).toBe(200);
  });

  it('says when the socket path is too long for a Unix socket', async () => {
    const socket = join(tempDir(), 'x'.repeat(MAX_UNIX_SOCKET_PATH_BYTES), 'admin.sock');
    await expect(listenOperatorHttp(hello, { what: 'test admin', host: '127.0.0.1', port: 0, socket })).rejects.toMatchObject({ code: 'ADMIN_ERR_SOCKET_PATH' });
  });
});

describe('listenReadOnlyHttp', () => {
  it('answers GET and HEAD, and 405 to anything that could change state', async () => {
    const server = await listenReadOnlyHttp(hello, '127.0.0.1', 0);
    closers.push(() => server.close());
    expect(await get(server, '/')).toEqual({ status: 200, body: 'hello\n' });
    expect((await get(server, '/', 'HEAD')).status).toBe(200);
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) expect((await get(server, '/logging?level=debug', method)).status).toBe(405);
  });
});
