// What the benchmark modules share: percentiles, a recorder whose rows carry the baseline
// measured in the same run, the ratio to it, and the target the row is judged against. A target
// is information for the reader (`pnpm bench` prints whether it is met); it never fails a run —
// and the load shapes and echo / sink servers at the end.
import { createServer } from 'node:net';

export const median = (xs) => percentile(xs, 50);

/**
 * ns per call of each candidate (`(i) => void`, called `n` times a turn), the median over `rounds`
 * rounds; in each round every candidate takes one turn, in a rotating order, so a change in the
 * machine's load falls on all of them alike.
 */
export function measureInTurns(n, candidates, rounds) {
  const samples = candidates.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < candidates.length; k++) {
      const c = (r + k) % candidates.length;
      const start = performance.now();
      for (let i = 0; i < n; i++) candidates[c](i);
      samples[c].push(((performance.now() - start) * 1e6) / n);
    }
  }
  return samples.map(median);
}

/** The p-th percentile (nearest rank) of `xs`; NaN for no samples. */
export function percentile(xs, p) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/**
 * Rows for `run()` to return. `target`: `{ min }` or `{ max }` on the value, or on the ratio to
 * the baseline with `{ ratio: true }`, plus `text` when the plain form would mislead.
 */
export function createRecorder() {
  const results = [];
  const record = (name, value, unit, { baseline, target, note } = {}) => {
    const row = { name, value: round(value), unit };
    if (baseline !== undefined) {
      row.baseline = round(baseline);
      row.ratio = round(value / baseline);
    }
    if (target) {
      const judged = target.ratio ? row.ratio : row.value;
      row.target = target.text ?? describeTarget(target, unit);
      row.met = judged === undefined || Number.isNaN(judged) ? undefined : target.min !== undefined ? judged >= target.min : judged <= target.max;
    }
    if (note) row.note = note;
    results.push(row);
    return row;
  };
  return { results, record };
}

function describeTarget(target, unit) {
  const bound = target.min !== undefined ? `≥ ${target.min}` : `≤ ${target.max}`;
  return target.ratio ? `${bound} of baseline` : `${bound} ${unit}`;
}

function round(x) {
  if (!Number.isFinite(x)) return x;
  const digits = Math.abs(x) >= 100 ? 1 : 3;
  return +x.toFixed(digits);
}

// Load shapes and servers shared by the benchmarks (mesh, floor, hbone). `connect()` opens one
// connection and resolves with its socket, wherever it goes: straight to the server, through the
// mesh from a pod's namespace, or through a relay.

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** 1-byte round trips on one connection (or tunnel stream) to an echo server; µs each. */
export async function pingPong(socket, rounds) {
  const samples = [];
  const one = Buffer.from([1]);
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint();
    const got = new Promise((r) => socket.once('data', r));
    socket.write(one);
    await got;
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return samples;
}

/** One connection to a `countingSink()`: `bytes` out, half-close, the sink's count back; Gbit/s. */
export async function sinkThroughput(connect, bytes) {
  const socket = await connect();
  const block = Buffer.alloc(1024 * 1024, 7);
  const reply = new Promise((resolve) => {
    let text = '';
    socket.on('data', (c) => (text += c));
    socket.on('end', () => resolve(text));
  });
  const t0 = process.hrtime.bigint();
  for (let sent = 0; sent < bytes; sent += block.length) if (!socket.write(block)) await new Promise((r) => socket.once('drain', r));
  socket.end();
  const counted = Number(await reply);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  socket.destroy();
  if (counted !== bytes) throw new Error(`sink counted ${counted} of ${bytes} bytes`);
  return (bytes * 8) / seconds / 1e9;
}

/**
 * New connections per second to an echo server, `parallel` at a time for `seconds`: each connects,
 * sends 1 byte, awaits the echo and closes — the connection set-up and tear-down cost, per round.
 */
export async function connectionsPerSecond(connect, seconds, parallel = 8) {
  let done = 0;
  const until = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (Date.now() < until) {
        const socket = await connect();
        await new Promise((r) => {
          socket.once('data', r);
          socket.write('x');
        });
        socket.destroy();
        done++;
      }
    }),
  );
  return done / seconds;
}

/** `rps` requests of 1 KiB to an echo server, each awaiting its 1 KiB answer, spread over `conns` connections; µs each. */
export async function steadyRequests(connect, rps, seconds, conns = 10) {
  const sockets = await Promise.all(Array.from({ length: conns }, () => connect()));
  const payload = Buffer.alloc(1024, 3);
  const samples = [];
  const intervalMs = (1000 * conns) / rps;
  await Promise.all(
    sockets.map(async (socket, i) => {
      await sleep((i * intervalMs) / conns);
      const end = Date.now() + seconds * 1000;
      let next = Date.now();
      while (Date.now() < end) {
        const t0 = process.hrtime.bigint();
        let got = 0;
        await new Promise((resolve) => {
          const onData = (c) => {
            got += c.length;
            if (got >= payload.length) {
              socket.off('data', onData);
              resolve();
            }
          };
          socket.on('data', onData);
          socket.write(payload);
        });
        samples.push(Number(process.hrtime.bigint() - t0) / 1000);
        next += intervalMs;
        const wait = next - Date.now();
        if (wait > 0) await sleep(wait);
      }
    }),
  );
  for (const s of sockets) s.destroy();
  return samples;
}

/** A TCP echo server (not listening yet). */
export function echoServer() {
  return createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
}

/** A TCP server that swallows everything and answers the byte count when the client half-closes (not listening yet). */
export function countingSink() {
  return createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    let bytes = 0;
    socket.on('data', (chunk) => (bytes += chunk.length));
    socket.on('end', () => socket.end(`${bytes}\n`));
  });
}
