// One process of the runtime-floor benchmark (floor.bench.mjs): the smallest two-hop relay that
// Node's own modules allow, with no mesh code loaded — `node:` modules only (the echo role also
// takes the benchmarks' echo and sink servers from scripts/bench-lib.mjs). The bench forks it in
// one of three roles and sends the configuration over IPC (certificates, windows, ports):
//
//   echo  a TCP echo server, and a sink that counts bytes and answers the count on half-close
//         (the servers of apps/ztunnel/bench/pod-server.mjs, the mesh benchmark's pods)
//   a     plain TCP in on loopback; per connection one HTTP/2 CONNECT stream on one pooled
//         session over mutual TLS 1.3 (h2 ALPN) to hop b — ztunnel A's outbound path
//   b     mutual TLS 1.3 + HTTP/2 server; per CONNECT stream a TCP connection to the
//         stream's :authority, 200 once it connects — ztunnel B's inbound path. A CONNECT to
//         port 1 (OPEN_ONLY_PORT) is answered 200 at once with no upstream and ended when the
//         client ends it, as the HBONE bench's peer does: the cost of an open alone
//
// The bench process opens its own session to hop b with `h2Session()` (the same one hop a
// uses) to time those opens.
//
// The relay between a socket and a stream is either `src.pipe(dst)` both ways (`pipe`) or a bare
// `data` listener that writes and pauses on backpressure (`data`). Both hops answer `cpu` with
// process.cpuUsage().
import { connect as h2connect, createSecureServer, constants as h2 } from 'node:http2';
import { connect as tcpConnect, createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { countingSink, echoServer } from '../../../scripts/bench-lib.mjs';

/** A CONNECT to this port is answered 200 without an upstream (see the header). */
export const OPEN_ONLY_PORT = 1;

const listen = (server) => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));

/** The relay of one direction; the reverse is a second call with the sides swapped. */
const RELAYS = {
  pipe: (src, dst) => src.pipe(dst),
  data: (src, dst) => {
    const resume = () => src.resume();
    src.on('data', (chunk) => {
      if (!dst.write(chunk)) {
        src.pause();
        dst.once('drain', resume);
      }
    });
    src.on('end', () => dst.end());
  },
};

function relayBoth(socket, stream, mode) {
  // An error on either side ends both: no half-broken tunnel outlives its peer. A side that closes
  // after the relay ended the other one (clean half-closes both ways) leaves it to finish its
  // writes; one that closes before (a reset) takes the other down with it.
  socket.on('error', () => stream.destroy());
  stream.on('error', () => socket.destroy());
  socket.on('close', () => stream.writableEnded || stream.destroy());
  stream.on('close', () => socket.writableEnded || socket.destroy());
  RELAYS[mode](socket, stream);
  RELAYS[mode](stream, socket);
}

function startEcho() {
  return Promise.all([listen(echoServer()), listen(countingSink())]).then(([echoPort, sinkPort]) => ({ echoPort, sinkPort }));
}

/** Hop b: the same TLS and HTTP/2 settings as @mesh/hbone-core's HboneServer. */
async function startB({ tls, windows, mode }) {
  const server = createSecureServer({
    key: tls.keyPem,
    cert: tls.certChainPem,
    ca: tls.rootCertPem,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: ['h2'],
    noDelay: true, // as HboneServer sets on every accepted socket
    settings: { initialWindowSize: windows.stream, maxFrameSize: windows.frame, maxConcurrentStreams: windows.serverStreams },
    maxSessionMemory: 256,
  });
  server.on('session', (session) => {
    session.on('error', () => {});
    session.setLocalWindowSize(windows.connection);
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const authority = headers[h2.HTTP2_HEADER_AUTHORITY];
    const colon = authority.lastIndexOf(':');
    if (Number(authority.slice(colon + 1)) === OPEN_ONLY_PORT) {
      stream.respond({ ':status': 200 });
      stream.on('end', () => stream.end());
      stream.resume();
      return;
    }
    const upstream = tcpConnect({ host: authority.slice(0, colon), port: Number(authority.slice(colon + 1)), allowHalfOpen: true, noDelay: true });
    upstream.once('error', () => stream.close(h2.NGHTTP2_CONNECT_ERROR));
    upstream.once('connect', () => {
      stream.respond({ ':status': 200 });
      relayBoth(upstream, stream, mode);
    });
  });
  return { port: await listen(server) };
}

/** One HTTP/2 session over mutual TLS 1.3 to hop b, the same TLS and HTTP/2 settings as @mesh/hbone-core's HbonePool. */
export async function h2Session({ tls, windows, hopB }) {
  const socket = tlsConnect({
    host: '127.0.0.1',
    port: hopB,
    key: tls.keyPem,
    cert: tls.certChainPem,
    ca: tls.rootCertPem,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ALPNProtocols: ['h2'],
    checkServerIdentity: () => undefined,
    rejectUnauthorized: true,
  });
  socket.setNoDelay(true);
  await new Promise((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  const session = h2connect(`https://127.0.0.1:${hopB}`, {
    createConnection: () => socket,
    settings: { initialWindowSize: windows.stream, maxFrameSize: windows.frame, enablePush: false },
    maxSessionMemory: 256,
  });
  session.setLocalWindowSize(windows.connection);
  session.on('error', () => {});
  return session;
}

/** Hop a: one pooled session to hop b. */
async function startA({ tls, windows, mode, hopB, targets }) {
  const session = await h2Session({ tls, windows, hopB });
  // One listener per target, as if ztunnel had captured a connection to that destination. The
  // stream is opened at once and bytes go before the 200 (ztunnel's early data on this path).
  const ports = {};
  for (const [name, authority] of Object.entries(targets)) {
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (downstream) => {
      const stream = session.request({ [h2.HTTP2_HEADER_METHOD]: 'CONNECT', [h2.HTTP2_HEADER_AUTHORITY]: authority }, { endStream: false });
      relayBoth(downstream, stream, mode);
    });
    ports[name] = await listen(server);
  }
  return ports;
}

const roles = { echo: startEcho, a: startA, b: startB };
// A role only when forked as a hop (the bench imports this module for h2Session()).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.once('message', async (config) => {
    process.send(await roles[config.role](config));
    process.on('message', (msg) => {
      if (msg === 'cpu') process.send({ cpu: process.cpuUsage() });
    });
  });
  // The bench ends this process; if the bench dies first, the IPC channel closes and so do we.
  process.on('disconnect', () => process.exit(0));
}
