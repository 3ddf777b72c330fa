// The idle-memory floor under ztunnel: what a Node process costs at idle once it has done what
// ztunnel does at start — TLS, HTTP/2 and a grpc-js stream — with none of the mesh's code.
//
//   node apps/ztunnel/bench/idle-floor.mjs [--node-arg <flag>]… [--runs N]
//
// Each level runs in a fresh child process (with ztunnel's V8 flags, runtime.ts, plus any
// --node-arg), which does its work, keeps its connections open (as ztunnel keeps its xDS stream
// and pooled tunnels) and then idles; 2 s after it said so its RSS is read from /proc:
//
//   bare    an empty event loop
//   tls     + a TLS server and client (mTLS, ECDSA P-256, as ztunnel's certificates), one echo
//   h2      + a node:http2 server and client over TLS, one CONNECT stream carrying 1 KiB each way
//   grpc    + a grpc-js server and client over TLS, one unary call and one open bidi stream
//             (bytes, no protobufjs: the protos are ztunnel's, not the floor's)
//
// Printed per level: RSS, its anonymous part, its file-backed part and, of the latter, the node
// binary's. No root needed; `openssl` makes the throwaway certificates. Figures and how they
// compare with ztunnel: docs/performance.md, "ztunnel: where the memory goes".
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const LEVELS = ['bare', 'tls', 'h2', 'grpc'];
/** ztunnel's own V8 flags (apps/ztunnel/src/runtime.ts), so the floor runs as ztunnel does. */
const ZTUNNEL_V8_FLAGS = ['--max-semi-space-size=16'];

if (process.argv[2] === '--child') await child(process.argv[3], process.argv[4]);
else await parent();

async function parent() {
  const args = process.argv.slice(2);
  const nodeArgs = args.flatMap((a, i) => (args[i - 1] === '--node-arg' ? [a] : []));
  const runsAt = args.indexOf('--runs');
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 1;
  const dir = mkdtempSync(join(tmpdir(), 'idle-floor-'));
  try {
    const ssl = (...a) => execFileSync('openssl', a, { cwd: dir, stdio: 'ignore' });
    ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
    console.log(`node ${process.version}, flags: ${[...ZTUNNEL_V8_FLAGS, ...nodeArgs].join(' ')}`);
    console.log('level    RSS MiB   anon   file  (node binary)');
    for (let run = 0; run < runs; run++) {
      for (const level of LEVELS) {
        const m = await measure(level, dir, nodeArgs);
        console.log(`${level.padEnd(6)} ${m.rss.toFixed(1).padStart(8)} ${m.anon.toFixed(1).padStart(6)} ${m.file.toFixed(1).padStart(6)}  (${m.binary.toFixed(1)})`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function measure(level, dir, nodeArgs) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...ZTUNNEL_V8_FLAGS, ...nodeArgs, fileURLToPath(import.meta.url), '--child', level, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    p.on('error', reject);
    p.stdout.once('data', () =>
      setTimeout(() => {
        const status = readFileSync(`/proc/${p.pid}/status`, 'utf8');
        const kib = (field) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
        const figures = { rss: kib('VmRSS') / 1024, anon: kib('RssAnon') / 1024, file: kib('RssFile') / 1024, binary: binaryMiB(p.pid) };
        p.kill();
        p.once('exit', () => resolve(figures));
      }, 2000),
    );
  });
}

/** Resident pages of the node binary's own mappings (code, read-only data). */
function binaryMiB(pid) {
  let current = '';
  let kib = 0;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) current = head[1] ?? '';
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && current === process.execPath) kib += Number(rss[1]);
  }
  return kib / 1024;
}

async function child(level, dir) {
  const depth = LEVELS.indexOf(level);
  const key = readFileSync(join(dir, 'key.pem'));
  const cert = readFileSync(join(dir, 'cert.pem'));
  const tlsOptions = { key, cert, ca: cert, requestCert: true, rejectUnauthorized: true };
  const keep = [];
  if (depth >= 1) {
    const tls = await import('node:tls');
    const server = tls.createServer(tlsOptions, (s) => s.pipe(s));
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const socket = tls.connect({ ...tlsOptions, host: '127.0.0.1', port: server.address().port, servername: 'localhost' });
    await new Promise((r, j) => socket.once('secureConnect', r).once('error', j));
    socket.write(Buffer.alloc(1024, 1));
    await new Promise((r) => socket.once('data', r));
    keep.push(server, socket);
  }
  if (depth >= 2) {
    const http2 = await import('node:http2');
    const server = http2.createSecureServer({ ...tlsOptions, settings: { enableConnectProtocol: false } });
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200 });
      stream.pipe(stream);
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const session = http2.connect(`https://localhost:${server.address().port}`, { ...tlsOptions, host: '127.0.0.1' });
    const stream = session.request({ ':method': 'CONNECT', ':authority': '10.0.0.1:9080' });
    stream.write(Buffer.alloc(1024, 2));
    await new Promise((r) => stream.once('data', r));
    keep.push(server, session, stream);
  }
  if (depth >= 3) {
    const grpc = await import('@grpc/grpc-js');
    const bytes = { serialize: (b) => b, deserialize: (b) => b };
    const service = {
      Call: { path: '/floor.Floor/Call', requestStream: false, responseStream: false, requestSerialize: bytes.serialize, requestDeserialize: bytes.deserialize, responseSerialize: bytes.serialize, responseDeserialize: bytes.deserialize },
      Stream: { path: '/floor.Floor/Stream', requestStream: true, responseStream: true, requestSerialize: bytes.serialize, requestDeserialize: bytes.deserialize, responseSerialize: bytes.serialize, responseDeserialize: bytes.deserialize },
    };
    const server = new grpc.Server();
    server.addService(service, { Call: (call, cb) => cb(null, call.request), Stream: (call) => call.on('data', (b) => call.write(b)) });
    const port = await new Promise((r, j) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createSsl(cert, [{ private_key: key, cert_chain: cert }], true), (e, p) => (e ? j(e) : r(p))),
    );
    const Client = grpc.makeGenericClientConstructor(service, 'Floor');
    const client = new Client(`localhost:${port}`, grpc.credentials.createSsl(cert, key, cert));
    await new Promise((r, j) => client.Call(Buffer.alloc(1024, 3), (e, v) => (e ? j(e) : r(v))));
    const stream = client.Stream();
    stream.write(Buffer.alloc(1024, 4));
    await new Promise((r) => stream.once('data', r));
    keep.push(server, client, stream);
  }
  setInterval(() => keep.length, 60_000);
  process.stdout.write('ready\n');
}
