// HBONE benchmark: tunnel figures as ratios against direct TCP on loopback, measured in the same
// run (the machine is noisy: only ratios compare). Run with `pnpm bench hbone`.
import { fork } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { HbonePool, createHboneSecureContext } from '@mesh/hbone-core';
import { createTestCa } from '@mesh/pki/testing';
import { createRecorder, median, percentile, pingPong } from '../../../scripts/bench-lib.mjs';

const CLIENT = 'spiffe://cluster.local/ns/default/sa/sleep';
const SERVER = 'spiffe://cluster.local/ns/default/sa/reviews';
const MiB = 1024 * 1024;

// The client side runs in the bench process, started without --expose-gc: get a gc() anyway, so
// its heap figure counts live objects only, as the peer's does.
setFlagsFromString('--expose-gc');
const gc = globalThis.gc ?? runInNewContext('gc');

function startPeer(credentials) {
  const child = fork(fileURLToPath(new URL('./peer.mjs', import.meta.url)), [], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = new Promise((resolve) => child.once('message', resolve));
  child.send({ credentials });
  return { child, ready, ask: (msg) => new Promise((r) => { child.once('message', r); child.send(msg); }) };
}


/** Sends `bytes` on each of the streams and waits until the far side has seen them all (its end comes back). */
async function blast(streams, bytes) {
  const block = Buffer.alloc(MiB, 7);
  const start = process.hrtime.bigint();
  await Promise.all(
    streams.map(async (s) => {
      const ended = new Promise((r) => { s.on('end', r); s.resume(); });
      for (let sent = 0; sent < bytes; sent += block.length) {
        if (!s.write(block)) await new Promise((r) => s.once('drain', r));
      }
      s.end();
      await ended;
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return (streams.length * bytes * 8) / seconds / 1e9; // Gbit/s
}

const tcp = (port) =>
  new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true }, () => resolve(s));
    s.once('error', reject);
  });

export async function run({ quick = false } = {}) {
  const ca = createTestCa();
  const server = ca.issue(SERVER);
  const client = ca.issue(CLIENT);
  const peer = startPeer({ keyPem: server.keyPem, certChainPem: server.chainPem, rootCertPem: ca.rootPem });
  const { sinkPort, echoPort, hbonePort } = await peer.ready;
  const clientContext = createHboneSecureContext({ keyPem: client.keyPem, certChainPem: client.chainPem, rootCertPem: ca.rootPem });
  const newPool = () => new HbonePool({ trustDomain: 'cluster.local', secureContextFor: () => clientContext });
  const destination = `127.0.0.1:${hbonePort}`;
  const open = (pool, port, waitForResponse = true) =>
    pool.open({ sourceIdentity: CLIENT, destination, expectedIdentities: [SERVER], authority: `127.0.0.1:${port}`, waitForResponse });
  const { results, record } = createRecorder();
  const reps = quick ? 1 : 3;
  const bytes = (quick ? 128 : 1024) * MiB;
  try {
    // Memory per idle tunnel, each side: 10,000 open tunnels held open (100 per connection), then 20,000.
    // Measured first, while neither process has grown its heap for the throughput runs.
    const n = quick ? 2000 : 10000;
    const memPool = newPool();
    gc();
    const clientBefore = process.memoryUsage();
    const serverBefore = (await peer.ask('memory')).memory;
    const held = [];
    for (let i = 0; i < n; i += 500) held.push(...(await Promise.all(Array.from({ length: 500 }, () => open(memPool, 1)))));
    await new Promise((r) => setTimeout(r, 200));
    gc();
    const clientAfter = process.memoryUsage();
    const serverAfter = (await peer.ask('memory')).memory;
    const perTunnel = (a, b, field = 'rss') => (b[field] - a[field]) / n / 1024;
    // Most of the RSS growth is V8's heap reserve (heapTotal), chiefly the young generation the
    // burst of opens grew, not objects the tunnels keep (heapUsed): say how much in the note.
    const split = (a, b) => `heap committed +${perTunnel(a, b, 'heapTotal').toFixed(1)} KiB/tunnel, of it live +${perTunnel(a, b, 'heapUsed').toFixed(1)}`;
    record('memory per idle tunnel, client (RSS)', perTunnel(clientBefore, clientAfter), 'KiB', { target: { max: 4 }, note: `${n} tunnels, ${memPool.connections().length} connections; ${split(clientBefore, clientAfter)}` });
    record('memory per idle tunnel, server (RSS)', perTunnel(serverBefore, serverAfter), 'KiB', { target: { max: 4 }, note: `${n} tunnels; ${split(serverBefore, serverAfter)}` });
    record('heap per idle tunnel, client', (clientAfter.heapUsed - clientBefore.heapUsed) / n / 1024, 'KiB');
    record('heap per idle tunnel, server', (serverAfter.heapUsed - serverBefore.heapUsed) / n / 1024, 'KiB');
    // The same again from n to 2n tunnels: what one more idle tunnel costs once the heap's
    // reserve has grown (the rows above include that one-time growth, spread over n).
    for (let i = 0; i < n; i += 500) held.push(...(await Promise.all(Array.from({ length: 500 }, () => open(memPool, 1)))));
    await new Promise((r) => setTimeout(r, 200));
    gc();
    const clientAfter2 = process.memoryUsage();
    const serverAfter2 = (await peer.ask('memory')).memory;
    record('memory per idle tunnel, marginal, client (RSS)', perTunnel(clientAfter, clientAfter2), 'KiB', { note: `tunnels ${n} → ${2 * n}; ${split(clientAfter, clientAfter2)}` });
    record('memory per idle tunnel, marginal, server (RSS)', perTunnel(serverAfter, serverAfter2), 'KiB', { note: `tunnels ${n} → ${2 * n}; ${split(serverAfter, serverAfter2)}` });
    for (const s of held) s.destroy();
    memPool.destroy();

    // Warm up both paths (JIT, TLS session).
    const pool = newPool();
    await blast([await open(pool, sinkPort)], 64 * MiB);
    await blast([await tcp(sinkPort)], 64 * MiB);

    const direct1 = [], tunnel1 = [];
    for (let i = 0; i < reps; i++) {
      direct1.push(await blast([await tcp(sinkPort)], bytes));
      tunnel1.push(await blast([await open(pool, sinkPort)], bytes));
    }
    record('single-stream throughput', median(tunnel1), 'Gbit/s', { baseline: median(direct1) });

    const per = bytes / 100;
    const direct100 = [], tunnel100 = [];
    for (let i = 0; i < reps; i++) {
      direct100.push(await blast(await Promise.all(Array.from({ length: 100 }, () => tcp(sinkPort))), per));
      tunnel100.push(await blast(await Promise.all(Array.from({ length: 100 }, () => open(pool, sinkPort))), per));
    }
    record('100-stream aggregate throughput', median(tunnel100), 'Gbit/s', { baseline: median(direct100) });

    const rounds = quick ? 2000 : 10000;
    const directEcho = await tcp(echoPort);
    const tunnelEcho = await open(pool, echoPort);
    await pingPong(directEcho, 500);
    await pingPong(tunnelEcho, 500);
    // Alternating blocks, so a burst of load from elsewhere on the machine hits both alike.
    const d = [];
    const t = [];
    for (let b = 0; b < 4; b++) {
      d.push(...(await pingPong(directEcho, rounds / 4)));
      t.push(...(await pingPong(tunnelEcho, rounds / 4)));
    }
    record('1-byte ping-pong p50', percentile(t, 50), 'µs', { baseline: percentile(d, 50) });
    record('1-byte ping-pong p99', percentile(t, 99), 'µs', { baseline: percentile(d, 99) });
    directEcho.destroy();
    tunnelEcho.destroy();

    // Opening a tunnel on a warm pooled connection: CONNECT → 200. Port 1 is accepted without an
    // upstream (the pool's own cost); the second figure includes the server's upstream connect.
    const timeOpen = async (port, n, waitForResponse = true) => {
      const samples = [];
      for (let i = 0; i < n; i++) {
        const t0 = process.hrtime.bigint();
        const s = await open(pool, port, waitForResponse);
        samples.push(Number(process.hrtime.bigint() - t0) / 1000);
        // Close cleanly: a burst of RST_STREAMs trips nghttp2's rapid-reset limit.
        s.end();
        s.resume();
        await new Promise((r) => s.once('close', r));
      }
      return samples;
    };
    const directConnects = [];
    for (let i = 0; i < (quick ? 300 : 2000); i++) {
      const t0 = process.hrtime.bigint();
      const c = await tcp(sinkPort);
      directConnects.push(Number(process.hrtime.bigint() - t0) / 1000);
      c.destroy();
    }
    const opens = await timeOpen(1, quick ? 300 : 2000);
    record('open stream on pooled connection p50', percentile(opens, 50), 'µs', { baseline: percentile(directConnects, 50), target: { max: 100 }, note: 'until the 200; baseline: TCP connect on loopback' });
    const opensEarly = await timeOpen(1, quick ? 300 : 2000, false);
    record('open stream, early data (no wait for 200) p50', percentile(opensEarly, 50), 'µs', { baseline: percentile(directConnects, 50) });
    const opensUpstream = await timeOpen(sinkPort, quick ? 300 : 2000);
    record('open stream incl. upstream connect p50', percentile(opensUpstream, 50), 'µs', { baseline: percentile(directConnects, 50) });

    const fresh = [];
    for (let i = 0; i < (quick ? 20 : 100); i++) {
      const p = newPool();
      const t0 = process.hrtime.bigint();
      const s = await open(p, sinkPort);
      fresh.push(Number(process.hrtime.bigint() - t0) / 1000);
      s.destroy();
      p.destroy();
    }
    record('fresh connection + first stream p50', percentile(fresh, 50), 'µs', { baseline: percentile(directConnects, 50), note: 'TLS 1.3 mutual handshake + HTTP/2 + CONNECT' });
    pool.destroy();

  } finally {
    peer.child.kill();
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(await run({ quick: process.argv.includes('--quick') }));
  process.exit(0);
}
