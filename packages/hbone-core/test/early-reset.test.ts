/**
 * A client that resets its CONNECT (RST_STREAM) while the server is still connecting upstream:
 * nothing may be answered on the closed stream, the upstream attempt is dropped, the tunnel is
 * counted as cancelled, and the next CONNECT on the same connection gets 200. On the code before
 * this test, the late `respond()` threw ERR_HTTP2_INVALID_STREAM from a socket event (and with
 * INTERNAL_ERROR the stream's 'error' had no listener): the process exited.
 */
import { Socket, createServer, type AddressInfo } from 'node:net';
import { connect as h2connect, constants, type ClientHttp2Session } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@mesh/testing';
import { createHboneSecureContext, forwardTunnel, type ForwardResult } from '../src/index.js';
import { TEST_CLIENT_ID, startEchoServer, startHbonePair, type HboneTestPair } from '../src/testing/index.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function rawSession(pair: HboneTestPair): ClientHttp2Session {
  const client = pair.ca.issue(TEST_CLIENT_ID);
  const ctx = createHboneSecureContext({ keyPem: client.keyPem, certChainPem: client.chainPem, rootCertPem: pair.ca.rootPem });
  const [host, port] = pair.destination.split(':') as [string, string];
  const session = h2connect(`https://${pair.destination}`, {
    createConnection: () => tlsConnect({ host, port: Number(port), secureContext: ctx, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined }),
  });
  session.on('error', () => undefined);
  cleanups.push(() => void session.destroy());
  return session;
}

function echoThrough(session: ClientHttp2Session, authority: string, text: string): Promise<{ status: number; echoed: string }> {
  return new Promise((resolve, reject) => {
    const s = session.request({ ':method': 'CONNECT', ':authority': authority }, { endStream: false });
    s.once('error', reject);
    s.once('response', (h) => {
      const status = Number(h[':status']);
      if (status !== 200) return resolve({ status, echoed: '' });
      s.once('data', (d: Buffer) => {
        resolve({ status, echoed: d.toString() });
        s.close();
      });
      s.write(text);
    });
  });
}

const CODES = [
  ['NO_ERROR', constants.NGHTTP2_NO_ERROR],
  ['CANCEL', constants.NGHTTP2_CANCEL],
  ['INTERNAL_ERROR', constants.NGHTTP2_INTERNAL_ERROR],
] as const;

describe('a CONNECT reset before the upstream connected', () => {
  for (const [name, code] of CODES) {
    it(`RST_STREAM(${name}): nothing is answered, the upstream attempt is dropped, the next CONNECT gets 200`, async () => {
      const echo = await startEchoServer();
      cleanups.push(() => echo.close());
      // Upstream connections are held back until the test lets them go: the window in which a
      // real upstream's SYN is still in flight, made deterministic.
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const upstreams: Socket[] = [];
      const results: ForwardResult[] = [];
      const pair = await startHbonePair({
        onTunnel: (tunnel) =>
          void forwardTunnel(tunnel, {
            connectUpstream: (t) => {
              const socket = new Socket({ allowHalfOpen: true });
              upstreams.push(socket);
              void gate.then(() => {
                if (!socket.destroyed) socket.connect(t.destination.port, t.destination.host);
              });
              return socket;
            },
          }).then((r) => results.push(r)),
      });
      cleanups.push(() => pair.close());
      const session = rawSession(pair);
      const authority = `127.0.0.1:${echo.port}`;

      const doomed = session.request({ ':method': 'CONNECT', ':authority': authority }, { endStream: false });
      doomed.on('error', () => undefined);
      let answered = false;
      doomed.once('response', () => (answered = true));
      await waitFor(() => upstreams.length === 1, { what: 'the server to see the CONNECT' });
      doomed.close(code);
      await waitFor(() => pair.server.stats().cancelled === 1, { what: 'the server to count the tunnel as cancelled' });
      release();

      expect(results).toEqual([{ outcome: 'cancelled', reason: expect.stringContaining(name) }]);
      expect(upstreams[0]!.destroyed).toBe(true);
      expect(answered).toBe(false);
      // The same connection serves the next tunnel.
      const next = await echoThrough(session, authority, `after ${name}`);
      expect(next).toEqual({ status: 200, echoed: `after ${name}` });
      expect(pair.server.stats()).toMatchObject({ cancelled: 1, accepted: 1 });
      expect(session.closed).toBe(false);
    });
  }

  for (const decision of ['reject', 'accept'] as const) {
    it(`a handler that decides later (${decision}) on a reset tunnel sends nothing and does not throw`, async () => {
      let decide: (() => void) | undefined;
      const pair = await startHbonePair({
        onTunnel: (tunnel) => {
          decide = () => {
            if (decision === 'reject') tunnel.reject(401, 'too late');
            else expect(tunnel.accept().destroyed).toBe(true);
          };
        },
      });
      cleanups.push(() => pair.close());
      const session = rawSession(pair);
      const s = session.request({ ':method': 'CONNECT', ':authority': '127.0.0.1:1' }, { endStream: false });
      s.on('error', () => undefined);
      await waitFor(() => decide !== undefined, { what: 'the server to see the CONNECT' });
      s.close(constants.NGHTTP2_CANCEL);
      await waitFor(() => pair.server.stats().cancelled === 1, { what: 'the cancellation' });
      decide!();
      expect(pair.server.stats()).toMatchObject({ cancelled: 1, accepted: 0, rejected: 0 });
      expect(session.closed).toBe(false);
    });
  }

  it('an upstream that connects after the client is gone is reset, not relayed into', async () => {
    // The same race seen from the upstream: it must see its connection reset (or never
    // opened), never a half-open connection with nobody on the other end.
    const accepted: Socket[] = [];
    const upstream = createServer((s) => {
      s.on('error', () => undefined);
      accepted.push(s);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => upstream.close(() => r())));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const pair = await startHbonePair({
      onTunnel: (tunnel) =>
        void forwardTunnel(tunnel, {
          connectUpstream: (t) => {
            const socket = new Socket({ allowHalfOpen: true });
            void gate.then(() => {
              if (!socket.destroyed) socket.connect(t.destination.port, t.destination.host);
            });
            return socket;
          },
        }),
    });
    cleanups.push(() => pair.close());
    const session = rawSession(pair);
    const s = session.request({ ':method': 'CONNECT', ':authority': `127.0.0.1:${(upstream.address() as AddressInfo).port}` }, { endStream: false });
    s.on('error', () => undefined);
    await waitFor(() => pair.server.stats().cancelled === 0 && pair.server.connections()[0]?.activeStreams === 1, { what: 'the server to see the CONNECT' });
    s.close(constants.NGHTTP2_INTERNAL_ERROR);
    await waitFor(() => pair.server.stats().cancelled === 1, { what: 'the cancellation' });
    release();
    await waitFor(() => accepted.every((a) => a.destroyed || a.readableEnded), { what: 'every upstream connection closed' });
  });
});
