/**
 * Hostile input on SOCKS5 (15080, explicit mode): every field of the greeting and the request
 * malformed, unsupported commands, unresolvable names, truncated and stalled handshakes, floods.
 * Each answer is what RFC 1928 prescribes (a reply code, or closing when the client does not
 * speak SOCKS5), ztunnel never crashes, keeps no state for the connections afterwards, its
 * memory stays bounded, and a valid CONNECT through the same port still works.
 * The table of these input classes and answers is in docs/operations.md ("Hostile input").
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa } from '@mesh/pki/testing';
import type { FakeMesh } from '../src/testing/mesh-resources.js';
import { startNamedEchoServer } from '../src/testing/servers.js';
import { SOCKS5_REPLY } from '../src/proxy/socks5.js';
import { heapAfterGc } from '@mesh/testing';
import { ask, startLoopbackNode, testSigner, waitFor, type LoopbackNode } from './helpers.js';

// A random 127.R.T.0/24 per run, so parallel runs of this suite (and the others) never share an address.
const R = 100 + Math.floor(Math.random() * 150);
const T = 50 + Math.floor(Math.random() * 200);
const ip = (fourth: number) => `127.${R}.${T}.${fourth}`;
const APP_PORT = 9080;
const SLEEP = ip(10);
const VIP = ip(200);
const MESH: FakeMesh = {
  pods: [
    { name: 'sleep', ip: SLEEP, node: 'node-a', serviceAccount: 'sleep' },
    { name: 'ratings-v1', ip: ip(13), node: 'node-a', serviceAccount: 'bookinfo-ratings' },
  ],
  services: [{ name: 'ratings', vip: VIP, port: APP_PORT, targetPort: APP_PORT, pods: ['ratings-v1'] }],
};
/** Stalled handshakes are dropped after this (the production default is 10 s). */
const HANDSHAKE_TIMEOUT_MS = 300;
const FLOOD = 1_000;
/** Heap a thousand closed hostile connections may leave behind, after garbage collection. */
const HEAP_BUDGET_BYTES = 8 * 1024 * 1024;


let node: LoopbackNode;
const closers: Array<() => unknown> = [];

const greeting = [5, 1, 0];
const ipv4Request = (host: string, port: number, command = 1, rsv = 0) => [5, command, rsv, 1, ...host.split('.').map(Number), port >> 8, port & 0xff];
const domainRequest = (name: Buffer | string, port: number) => {
  const bytes = typeof name === 'string' ? Buffer.from(name, 'latin1') : name;
  return [5, 1, 0, 3, bytes.length, ...bytes, port >> 8, port & 0xff];
};

/** Sends `bytes` from the sleep pod's address, then says what came back and whether the proxy closed. */
function exchange(bytes: number[], { endAfterSend = false, timeoutMs = 5_000 } = {}): Promise<{ reply: number[]; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect({ host: node.socks.host, port: node.socks.port, localAddress: SLEEP, allowHalfOpen: true });
    const reply: number[] = [];
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ reply, closed });
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('connect', () => {
      socket.write(Buffer.from(bytes));
      if (endAfterSend) socket.end();
    });
    socket.on('data', (chunk: Buffer) => reply.push(...chunk));
    socket.on('error', () => done(true));
    socket.on('end', () => done(true));
  });
}

async function stillServes(): Promise<void> {
  expect(await ask(SLEEP, node, VIP, APP_PORT)).toBe('ratings-v1');
}

beforeAll(async () => {
  const echo = await startNamedEchoServer('ratings-v1', ip(13), APP_PORT);
  closers.push(() => echo.close());
  node = await startLoopbackNode('node-a', MESH, testSigner(createTestCa()), { socks5HandshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS });
  closers.push(() => node.ztunnel.destroy());
  await waitFor(() => node.ztunnel.certs.ready, 20_000);
  await stillServes();
}, 30_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

describe('SOCKS5 (15080): malformed greetings', () => {
  it.each([
    { name: 'SOCKS4 (version 4)', bytes: [4, 1, 0x23, 0x78, 127, 0, 0, 1, 0], reply: [] },
    { name: 'version 0', bytes: [0, 1, 0], reply: [] },
    { name: 'HTTP instead of SOCKS', bytes: [...Buffer.from('GET / HTTP/1.1\r\n\r\n')], reply: [] },
    { name: 'no methods offered', bytes: [5, 0], reply: [5, 0xff] },
    { name: 'only GSSAPI and username/password', bytes: [5, 2, 1, 2], reply: [5, 0xff] },
    { name: '255 methods, none acceptable', bytes: [5, 255, ...Array(255).fill(0x80)], reply: [5, 0xff] },
  ])('$name → $reply and closed', async ({ bytes, reply }) => {
    expect(await exchange(bytes)).toEqual({ reply, closed: true });
    await stillServes();
  });
});

describe('SOCKS5 (15080): malformed and unsupported requests', () => {
  const after = (request: number[]) => [...greeting, ...request];
  it.each([
    { name: 'request version 4', bytes: after([4, ...ipv4Request(VIP, APP_PORT).slice(1)]), code: SOCKS5_REPLY.generalFailure },
    { name: 'BIND', bytes: after(ipv4Request(VIP, APP_PORT, 2)), code: SOCKS5_REPLY.commandNotSupported },
    { name: 'UDP ASSOCIATE', bytes: after(ipv4Request(VIP, APP_PORT, 3)), code: SOCKS5_REPLY.commandNotSupported },
    { name: 'command 0', bytes: after(ipv4Request(VIP, APP_PORT, 0)), code: SOCKS5_REPLY.commandNotSupported },
    { name: 'command 255', bytes: after(ipv4Request(VIP, APP_PORT, 255)), code: SOCKS5_REPLY.commandNotSupported },
    { name: 'address type 0', bytes: after([5, 1, 0, 0, 1, 2, 3, 4, 0, 80]), code: SOCKS5_REPLY.addressTypeNotSupported },
    { name: 'address type 2', bytes: after([5, 1, 0, 2, 1, 2, 3, 4, 0, 80]), code: SOCKS5_REPLY.addressTypeNotSupported },
    { name: 'address type 255', bytes: after([5, 1, 0, 255, 1, 2, 3, 4, 0, 80]), code: SOCKS5_REPLY.addressTypeNotSupported },
    { name: 'an empty domain name', bytes: after(domainRequest('', APP_PORT)), code: SOCKS5_REPLY.hostUnreachable },
    { name: 'a domain name with a NUL', bytes: after(domainRequest(Buffer.from('ratings\0.default'), APP_PORT)), code: SOCKS5_REPLY.hostUnreachable },
    { name: 'a 255-byte domain name', bytes: after(domainRequest('x'.repeat(255), APP_PORT)), code: SOCKS5_REPLY.hostUnreachable },
    { name: 'a name with CR/LF and spaces', bytes: after(domainRequest('ratings\r\nhost: evil .', APP_PORT)), code: SOCKS5_REPLY.hostUnreachable },
    { name: 'non-ASCII bytes', bytes: after(domainRequest(Buffer.from([0xff, 0xfe, 0x80, 0x2e, 0xc3]), APP_PORT)), code: SOCKS5_REPLY.hostUnreachable },
    { name: 'an unresolvable name (RFC 6761 .invalid)', bytes: after(domainRequest('no-such-host.invalid', APP_PORT)), code: SOCKS5_REPLY.hostUnreachable },
    { name: 'port 0', bytes: after(ipv4Request(ip(13), 0)), code: SOCKS5_REPLY.connectionRefused },
    { name: 'a closed port', bytes: after(ipv4Request(ip(13), 1)), code: SOCKS5_REPLY.connectionRefused },
    { name: 'IPv6 ::1 (nothing listening)', bytes: after([5, 1, 0, 4, ...Array(15).fill(0), 1, 0, 1]), code: SOCKS5_REPLY.connectionRefused },
  ])('$name → reply $code and closed', async ({ bytes, code }) => {
    const { reply, closed } = await exchange(bytes);
    expect(reply.slice(0, 2)).toEqual([5, 0]); // method selection
    expect(reply.slice(2, 4)).toEqual([5, code]);
    expect(reply).toHaveLength(12);
    expect(closed).toBe(true);
    await stillServes();
  });

  it('a non-zero reserved byte is ignored (as curl and most servers do): the CONNECT succeeds', async () => {
    const { reply } = await exchange([...greeting, ...ipv4Request(VIP, APP_PORT, 1, 0xff)], { timeoutMs: 1_000 });
    expect(reply.slice(2, 4)).toEqual([5, SOCKS5_REPLY.succeeded]);
    expect(Buffer.from(reply.slice(12)).toString()).toBe('ratings-v1\n');
  });

  it('greeting, request and data in one write (pipelined) work; so does one byte at a time', async () => {
    const { reply } = await exchange([...greeting, ...ipv4Request(VIP, APP_PORT), ...Buffer.from('hello\n')], { timeoutMs: 1_000 });
    expect(Buffer.from(reply.slice(12)).toString()).toBe('ratings-v1\nhello\n');
    const slow = connect({ host: node.socks.host, port: node.socks.port, localAddress: SLEEP });
    closers.push(() => slow.destroy());
    await new Promise((resolve) => slow.once('connect', resolve));
    let got = '';
    slow.on('data', (c: Buffer) => (got += c.toString('latin1')));
    for (const byte of [...greeting, ...ipv4Request(VIP, APP_PORT)]) {
      slow.write(Buffer.from([byte]));
      await new Promise((r) => setTimeout(r, 2));
    }
    await waitFor(() => got.endsWith('ratings-v1\n'));
    slow.destroy();
  });
});

describe('SOCKS5 (15080): truncated, stalled and flooding clients', () => {
  it.each([
    { name: 'one byte, then FIN', bytes: [5] },
    { name: 'a greeting promising 3 methods with 1, then FIN', bytes: [5, 3, 0] },
    { name: 'a request cut inside the address, then FIN', bytes: [...greeting, 5, 1, 0, 1, 10, 77] },
    { name: 'a domain request cut inside the name, then FIN', bytes: [...greeting, 5, 1, 0, 3, 20, ...Buffer.from('rat')] },
  ])('$name: closed, nothing connected upstream', async ({ bytes }) => {
    const before = new Set(node.ztunnel.tracker.list().map((c) => c.id));
    const { closed } = await exchange(bytes, { endAfterSend: true });
    expect(closed).toBe(true);
    expect(node.ztunnel.tracker.list().filter((c) => !before.has(c.id))).toEqual([]);
    await stillServes();
  });

  it('a stalled handshake is dropped after the handshake deadline', async () => {
    const started = Date.now();
    expect(await exchange([5, 1], { timeoutMs: 5_000 })).toEqual({ reply: [], closed: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 50);
  });

  it(`${FLOOD} stalled handshakes at once: all dropped, memory bounded, valid CONNECTs served meanwhile and after`, async () => {
    const heapBefore = heapAfterGc();
    const started = Date.now();
    const sockets: Socket[] = [];
    const closed = new Set<Socket>();
    for (let i = 0; i < FLOOD; i++) {
      const socket = connect({ host: node.socks.host, port: node.socks.port, localAddress: SLEEP });
      socket.on('error', () => undefined);
      socket.on('close', () => closed.add(socket));
      socket.resume(); // read what ztunnel answers, so its close is seen
      // Alternate where each stalls: before the greeting, inside it, and before the request.
      socket.on('connect', () => socket.write(Buffer.from(i % 3 === 0 ? [] : i % 3 === 1 ? [5, 2, 0] : greeting)));
      sockets.push(socket);
    }
    await stillServes();
    await waitFor(() => closed.size === FLOOD, 20_000);
    await stillServes();
    const grown = heapAfterGc() - heapBefore;
    console.log(`SOCKS5: ${FLOOD} stalled handshakes dropped in ${Date.now() - started} ms; heap after GC ${(grown / 1024).toFixed(0)} KiB above before`);
    expect(grown).toBeLessThan(HEAP_BUDGET_BYTES);
  }, 30_000);

  it(`${FLOOD} clients that connect and reset at once, at every stage: nothing left, memory bounded`, async () => {
    // Nothing live before (the previous tests' connections have closed), nothing live after.
    await waitFor(() => node.ztunnel.tracker.list().length === 0, 10_000);
    const heapBefore = heapAfterGc();
    await Promise.all(
      Array.from({ length: FLOOD }, (_, i) =>
        new Promise<void>((resolve) => {
          const socket = connect({ host: node.socks.host, port: node.socks.port, localAddress: SLEEP });
          socket.on('error', () => resolve());
          socket.on('close', () => resolve());
          socket.on('connect', () => {
            if (i % 3 === 1) socket.write(Buffer.from(greeting));
            if (i % 3 === 2) socket.write(Buffer.from([...greeting, ...ipv4Request(VIP, APP_PORT)]));
            socket.resetAndDestroy();
          });
        }),
      ),
    );
    await waitFor(() => node.ztunnel.tracker.list().length === 0, 10_000);
    // No HBONE stream left open for the connections that were reset mid-tunnel.
    await waitFor(() => node.ztunnel.pool.connections().every((c) => c.activeStreams === 0), 10_000);
    await stillServes();
    const grown = heapAfterGc() - heapBefore;
    console.log(`SOCKS5: ${FLOOD} resets at every stage; heap after GC ${(grown / 1024).toFixed(0)} KiB above before`);
    expect(grown).toBeLessThan(HEAP_BUDGET_BYTES);
  }, 30_000);
});
