// Re-checks, on the Node that runs it, what the waypoint relies on when it gives node:http the
// tunnel's HTTP/2 stream itself (apps/waypoint/src/proxy/byte-stream.ts, `asHttpSocket`):
//   1. an HTTP/1.1 server on a CONNECT stream that was paused (as sniff() leaves it) answers only
//      once the stream is resumed: node:http's 'data' listener does not resume it;
//   2. node:http's mixed latin1-string/Buffer `writev` batches arrive intact through the stream
//      (on Node 20 they did not: the reason for the `asByteStream` adapter);
//   3. how many writes and chunks an answer costs on the stream: `write` + `end` vs `end(chunk)`.
// No mesh code, h2c on loopback. Run: `node apps/waypoint/bench/h2-stream-as-socket.mjs`.
import http from 'node:http';
import http2 from 'node:http2';

const socketSwitches = (s) => {
  for (const m of ['setKeepAlive', 'setNoDelay', 'ref', 'unref']) s[m] = function () { return this; };
  return s;
};

async function withH2(onStream, body) {
  const h2 = http2.createServer();
  h2.on('stream', (stream) => {
    stream.respond({ ':status': 200 });
    onStream(stream);
  });
  await new Promise((r) => h2.listen(0, '127.0.0.1', r));
  const session = http2.connect(`http://127.0.0.1:${h2.address().port}`);
  const connect = () => session.request({ ':method': 'CONNECT', ':authority': 'backend:80' });
  try {
    return await body(connect);
  } finally {
    session.destroy();
    h2.close();
  }
}

/** 1: answered or not within 1 s, after a sniff-like pause. */
async function pausedStream(resume) {
  const server = http.createServer((_req, res) => res.end('ok'));
  return withH2(
    (stream) =>
      stream.once('data', (first) => {
        stream.pause();
        stream.unshift(first);
        server.emit('connection', socketSwitches(stream));
        if (resume) stream.resume();
      }),
    (connect) =>
      new Promise((resolve) => {
        const s = connect();
        s.write('GET / HTTP/1.1\r\nhost: backend\r\n\r\n');
        const timer = setTimeout(() => resolve('no answer in 1 s'), 1000);
        s.once('data', (d) => {
          clearTimeout(timer);
          resolve(`answered (${JSON.stringify(d.toString('latin1').split('\r\n')[0])})`);
        });
      }),
  );
}

/** 2: mixed string/Buffer batches echoed back byte for byte. */
async function mixedBatches(n) {
  return withH2(
    (stream) => {
      const chunks = [];
      stream.on('data', (d) => chunks.push(d));
      stream.on('end', () => stream.end(Buffer.concat(chunks)));
    },
    async (connect) => {
      let bad = 0;
      for (let i = 0; i < n; i++) {
        const parts = [[`GET /é${i} HTTP/1.1\r\n`, 'latin1'], [Buffer.from(`body ${i}`)], [`ü ${i}`, 'utf8'], ['x'.repeat(i * 200), 'latin1']];
        const expected = Buffer.concat(parts.map(([d, e]) => (typeof d === 'string' ? Buffer.from(d, e) : d)));
        const s = connect();
        s.cork();
        for (const [d, e] of parts) s.write(d, e);
        s.uncork();
        s.end();
        const got = await new Promise((resolve) => {
          const c = [];
          s.on('data', (d) => c.push(d));
          s.on('end', () => resolve(Buffer.concat(c)));
        });
        if (!got.equals(expected)) bad++;
      }
      return `${bad} of ${n} differ`;
    },
  );
}

/** 3: writes and chunks per answer on the server's stream, 100 keep-alive requests. */
async function writesPerAnswer(answer) {
  const counts = { writes: 0, chunks: 0, empty: 0 };
  const server = http.createServer((req, res) => {
    req.resume();
    answer(res, Buffer.from('ok'));
  });
  return withH2(
    (stream) => {
      const write = stream._write;
      const writev = stream._writev;
      stream._write = function (d, e, cb) {
        counts.writes++;
        counts.chunks++;
        if (d.length === 0) counts.empty++;
        return write.call(this, d, e, cb);
      };
      stream._writev = function (d, cb) {
        counts.writes++;
        counts.chunks += d.length;
        counts.empty += d.filter((x) => x.chunk.length === 0).length;
        return writev.call(this, d, cb);
      };
      server.emit('connection', socketSwitches(stream));
    },
    async (connect) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      agent.createConnection = (_o, done) => {
        const s = connect();
        s.once('response', () => done(null, socketSwitches(s)));
        return undefined;
      };
      const n = 100;
      for (let i = 0; i < n; i++) {
        await new Promise((resolve, reject) => {
          http.get({ host: 'backend', path: '/', agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
        });
      }
      agent.destroy();
      return `${counts.writes / n} writes, ${counts.chunks / n} chunks (${counts.empty / n} empty) per answer`;
    },
  );
}

console.log(`node ${process.version}`);
console.log('1. paused stream, not resumed:', await pausedStream(false));
console.log('1. paused stream, resumed:    ', await pausedStream(true));
console.log('2. mixed string/Buffer writev:', await mixedBatches(200));
console.log('3. writeHead + write + end:   ', await writesPerAnswer((res, b) => { res.writeHead(200, { 'content-length': b.length }); res.write(b); res.end(); }));
console.log('3. writeHead + end(chunk):    ', await writesPerAnswer((res, b) => { res.writeHead(200, { 'content-length': b.length }); res.end(b); }));
