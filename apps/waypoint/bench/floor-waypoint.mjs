// The waypoint's runtime floor (waypoint-floor.bench.mjs): the smallest HBONE-in / HBONE-out
// HTTP/1.1 proxy that Node's own modules allow, with no mesh code loaded (`node:` modules only).
// In its own process, as the waypoint is, so its CPU time can be measured alone.
//
//   in   a mutual TLS 1.3 HTTP/2 server (h2 ALPN, @mesh/hbone-core's HboneServer settings); each
//        CONNECT stream is answered 200 and handed to one shared `http.Server` as its connection
//        (emit 'connection' + resume, as the waypoint does: apps/waypoint/src/proxy/connection.ts)
//   out  each request forwarded with `http.request` on one keep-alive `http.Agent` whose
//        connections are CONNECT streams on one pooled mutual-TLS HTTP/2 session to the
//        destination "ztunnel" (HbonePool's settings), the stream itself as the socket
//
// No routing, RBAC, metrics, logs, header rewriting or timeouts: the request's head goes out as it
// came, the answer's head back as it came, bodies by `pipe`. The bench sends the configuration over
// IPC (certificates, windows, ports) and reads `process.cpuUsage()` with {kind: 'cpu'}.
import { Agent, createServer as createHttpServer, request } from 'node:http';
import { connect as h2connect, createSecureServer, constants as h2 } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';

const tlsOptions = (tls) => ({ key: tls.keyPem, cert: tls.certChainPem, ca: tls.rootCertPem, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ALPNProtocols: ['h2'] });

/** An HTTP/2 stream as node:http's connection: the socket switches it calls on a kept-alive one, as no-ops. */
function asSocket(stream) {
  for (const m of ['setKeepAlive', 'setNoDelay', 'ref', 'unref']) stream[m] = returnThis;
  return stream;
}
function returnThis() {
  return this;
}

/** One pooled session to the "ztunnel" (opened again if it closes). */
function sessionTo({ tls, windows, tunnelPort }) {
  let session;
  return () => {
    if (session && !session.closed && !session.destroyed) return session;
    const socket = tlsConnect({ host: '127.0.0.1', port: tunnelPort, ...tlsOptions(tls), checkServerIdentity: () => undefined, rejectUnauthorized: true });
    socket.setNoDelay(true);
    session = h2connect(`https://127.0.0.1:${tunnelPort}`, {
      createConnection: () => socket,
      settings: { initialWindowSize: windows.stream, maxFrameSize: windows.frame, enablePush: false },
      maxSessionMemory: 256,
    });
    session.on('connect', (s) => s.setLocalWindowSize(windows.connection));
    session.on('error', () => {});
    return session;
  };
}

/**
 * How a request and its answer are forwarded: `pipe` both bodies, or `data` — a request without
 * a body (known from its head) ended at once, the answer's head as its raw list, and its body by
 * `data` events with the chunk that completes its Content-Length sent by `res.end(chunk)` (one
 * write of head and body: the waypoint's own forwarding).
 */
const FORWARD = {
  pipe: (agent) => (req, res) => {
    const out = request({ agent, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(out);
  },
  data: (agent) => (req, res) => {
    const out = request({ agent, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.rawHeaders);
      let left = Number(answer.headers['content-length'] ?? -1);
      answer.on('data', (chunk) => {
        left -= chunk.length;
        if (left === 0) res.end(chunk);
        else if (!res.write(chunk)) {
          answer.pause();
          res.once('drain', () => answer.resume());
        }
      });
      answer.on('end', () => res.writableEnded || res.end());
    });
    out.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
      req.resume();
      out.end();
    } else req.pipe(out);
  },
};

async function start(config) {
  const { tls, windows, authority, agentMaxSockets, agentIdleMs } = config;
  const session = sessionTo(config);
  const agent = new Agent({ keepAlive: true, maxSockets: agentMaxSockets, timeout: agentIdleMs });
  agent.createConnection = (_opts, done) => {
    const stream = session().request({ [h2.HTTP2_HEADER_METHOD]: 'CONNECT', [h2.HTTP2_HEADER_AUTHORITY]: authority }, { endStream: false });
    stream.once('response', (headers) => {
      if (headers[h2.HTTP2_HEADER_STATUS] === 200) done(null, asSocket(stream));
      else done(new Error(`tunnel answered ${headers[h2.HTTP2_HEADER_STATUS]}`));
    });
    stream.once('error', done);
    return undefined;
  };

  const http = createHttpServer({ keepAliveTimeout: 60_000 }, FORWARD[config.forward](agent));

  const server = createSecureServer({
    ...tlsOptions(tls),
    requestCert: true,
    rejectUnauthorized: true,
    noDelay: true,
    settings: { initialWindowSize: windows.stream, maxFrameSize: windows.frame, maxConcurrentStreams: windows.serverStreams },
    maxSessionMemory: 256,
  });
  server.on('session', (s) => {
    s.on('error', () => {});
    s.setLocalWindowSize(windows.connection);
  });
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.respond({ [h2.HTTP2_HEADER_STATUS]: 200 });
    http.emit('connection', asSocket(stream));
    // node:http's 'data' listener does not resume a paused stream; this one never was, but the
    // waypoint's is (after sniffing), so the call stays, as there.
    stream.resume();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server.address().port;
}

process.on('message', async (msg) => {
  if (msg.kind === 'start') process.send({ kind: 'ready', port: await start(msg) });
  else if (msg.kind === 'cpu') process.send({ kind: 'cpu', cpu: process.cpuUsage() });
});
// The bench ends this process; if the bench dies first, the IPC channel closes and so do we.
process.on('disconnect', () => process.exit(0));
