// What node:http2 alone costs per idle CONNECT stream (no TLS, no HBONE code), the floor under
// `memory per idle tunnel` of `pnpm bench hbone` (docs/performance.md, "HBONE core"):
//
//   node --expose-gc packages/hbone-core/bench/http2-floor.mjs
//
// Client here, server in a child process; 500 streams to warm up, then the RSS and heap growth
// from 2,000 to 4,000 idle streams on 40 connections, per stream.
import { fork } from 'node:child_process';
import { connect, createServer } from 'node:http2';
import { fileURLToPath } from 'node:url';

const WINDOW = 4 * 1024 * 1024;
if (process.argv[2] === 'server') {
  const held = [];
  const server = createServer({ settings: { initialWindowSize: WINDOW, maxConcurrentStreams: 1000 } });
  server.on('stream', (s) => {
    s.respond({ ':status': 200 });
    s.on('error', () => {});
    held.push(s);
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('message', (m) => {
    if (m !== 'memory') return;
    globalThis.gc();
    process.send(process.memoryUsage());
  });
} else {
  const child = fork(fileURLToPath(import.meta.url), ['server'], { execArgv: ['--expose-gc'] });
  const next = () => new Promise((r) => child.once('message', r));
  const { port } = await next();
  const ask = (m) => { child.send(m); return next(); };
  const sessions = Array.from({ length: 40 }, () => connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: WINDOW } }));
  const held = [];
  let k = 0;
  const open = () =>
    new Promise((resolve) => {
      const s = sessions[k++ % sessions.length].request({ ':method': 'CONNECT', ':authority': '127.0.0.1:1' }, { endStream: false });
      s.once('response', () => resolve(s));
    });
  const batch = async (n) => {
    for (let i = 0; i < n; i += 500) held.push(...(await Promise.all(Array.from({ length: 500 }, open))));
    await new Promise((r) => setTimeout(r, 200));
    globalThis.gc();
  };
  const n = 2000;
  await batch(500);
  await batch(n);
  const [c1, s1] = [process.memoryUsage(), await ask('memory')];
  await batch(n);
  const [c2, s2] = [process.memoryUsage(), await ask('memory')];
  const per = (a, b, f) => ((b[f] - a[f]) / n / 1024).toFixed(2);
  console.log(`node:http2 alone, KiB per idle stream (${n} → ${2 * n}): client RSS ${per(c1, c2, 'rss')}, heap ${per(c1, c2, 'heapUsed')}; server RSS ${per(s1, s2, 'rss')}, heap ${per(s1, s2, 'heapUsed')}`);
  child.kill();
  process.exit(0);
}
