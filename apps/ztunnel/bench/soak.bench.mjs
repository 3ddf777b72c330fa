// Soak (issue 13): long-lived connections through the mesh that each echo a line every second,
// plus a steady churn of new short connections, for minutes; then what a user of a long-running
// ztunnel cares about: did anything fail, does memory grow, are descriptors given back.
//
//   pnpm bench soak            1,000 connections, 50 new connections/s, 10 minutes
//   pnpm bench soak --quick    the same for 60 s
//   SOAK_CONNECTIONS, SOAK_CHURN_PER_S, SOAK_SECONDS override the three; SOAK_SAMPLES=<file>
//   writes every memory sample there (JSON) besides the figures.
//
// The client pod (node-a) talks to the server pod (node-b) through its Service VIP: ztunnel A
// (TPROXY 15001) → HBONE → ztunnel B (15008) → the pod's echo server. Figures:
//   errors                          connections that failed, echoes that did not come back intact
//                                   within 10 s, churn connections that did not echo
//   echoes                          lines echoed on the long-lived connections
//   ztunnel A/B rss slope MiB/min   least-squares slope of the memory a ztunnel keeps: RSS of a
//                                   garbage-collected process is a sawtooth (garbage piles up
//                                   until a major GC), so the slope is taken over the lowest
//                                   sample of each tenth of the run, the first fifth (warm-up)
//                                   left out; ≈ 0 when nothing is retained. RSS also keeps pages
//                                   V8 has not given back, so it cannot tell a leak from a lazy
//                                   collector: the heap rows below can
//   ztunnel A/B heap slope MiB/min  the same slope of each ztunnel's V8 heap in use (`heap_used`
//                                   of its admin `/memory`, sampled every 2 s): the lowest sample
//                                   of a tenth of the run is taken just after a collection, so it
//                                   approximates the live heap; ≈ 0 when nothing is retained
//   ztunnel A/B heap start/end      that lowest heap in use in the first tenth after warm-up and
//                                   in the last tenth
//   leaked file descriptors         descriptors of both ztunnels that no live HBONE connection
//                                   accounts for, after everything closed (and a grace period),
//                                   minus the same before: idle pooled HBONE connections stay
//                                   open for minutes by design, so they are not counted
// Not a test: it never fails on a figure; needs root and `pnpm build`.
import { CLK_TCK, adminJson, connectFrom, cpuTicks, createBenchMesh, openFds, rssMiB, sleep, statusMiB, ISTIOD_MAIN, ZTUNNEL_MAIN } from './bench-mesh.mjs';
import { existsSync, writeFileSync } from 'node:fs';

const ECHO_PORT = 9080;
const ECHO_TIMEOUT_MS = 10_000;
const RSS_SAMPLE_MS = 1_000;
/** The heap is read over the admin API (an HTTP request into the node's namespace): less often. */
const HEAP_SAMPLE_MS = 2_000;
const MIB = 1024 * 1024;
/** After the last connection closed: how long descriptors may take to be given back. */
const FD_GRACE_MS = 20_000;

const envNumber = (name, fallback) => (process.env[name] ? Number(process.env[name]) : fallback);

const WINDOWS = 10;
const WARMUP_WINDOWS = 2;

/**
 * The parts of a ztunnel's memory kept over the run besides heap_used, so a climbing RSS can be
 * told apart (docs/performance.md, "Soak: memory"): from its admin `/memory`, V8's heap as
 * reserved (heap_total) and by space (new_space: the young generation, old_space), off-heap
 * buffers (external, array_buffers: socket, TLS and HTTP/2 buffers), V8's own malloc, and RSS
 * outside V8's heap (rss − the heap's resident pages: malloc arenas of OpenSSL, nghttp2 and libuv,
 * stacks, node's code); from /proc, the anonymous part of RSS.
 */
const MEMORY_PARTS = ['heap_total', 'external', 'array_buffers', 'malloced_memory'];
const HEAP_SPACES = ['new_space', 'old_space'];
const memoryParts = () => Object.fromEntries([...MEMORY_PARTS, ...HEAP_SPACES, 'outside_heap', 'rss_anon'].map((p) => [p, []]));

/** The lowest sample of each tenth of the run (what survives garbage collection). */
function lows(samples, minutes) {
  const out = [];
  for (let w = 0; w < WINDOWS; w++) {
    const inWindow = samples.filter((p) => p.min >= (w * minutes) / WINDOWS && p.min < ((w + 1) * minutes) / WINDOWS);
    if (inWindow.length > 0) out.push(inWindow.reduce((a, b) => (b.mib < a.mib ? b : a)));
  }
  return out;
}

/** Least-squares slope of (minutes, MiB) samples. */
function slopePerMinute(samples) {
  const n = samples.length;
  if (n < 2) return 0;
  const mx = samples.reduce((s, p) => s + p.min, 0) / n;
  const my = samples.reduce((s, p) => s + p.mib, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of samples) {
    num += (p.min - mx) * (p.mib - my);
    den += (p.min - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Reads newline-terminated lines from a socket, one callback per line. */
function onLines(socket, onLine) {
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      onLine(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  });
}

/** Open descriptors of a ztunnel minus one per HBONE connection it holds (pooled out, accepted in). */
async function unaccountedFds(pid, netns) {
  const tunnels = await adminJson(netns, '/tunnels');
  return openFds(pid) - (tunnels.pool?.length ?? 0) - (tunnels.server?.length ?? 0);
}

export async function run({ quick = false } = {}) {
  if (process.getuid?.() !== 0) return [{ name: 'soak', note: 'skipped: needs root (network namespaces, TPROXY)' }];
  if (!existsSync(ISTIOD_MAIN) || !existsSync(ZTUNNEL_MAIN)) return [{ name: 'soak', note: 'skipped: run `pnpm build` first' }];
  const connections = envNumber('SOAK_CONNECTIONS', 1_000);
  const churnPerSecond = envNumber('SOAK_CHURN_PER_S', 50);
  const seconds = envNumber('SOAK_SECONDS', quick ? 60 : 600);

  const mesh = await createBenchMesh({ tag: 'sk', subnet: '10.79' });
  const errors = [];
  const failure = (what) => {
    errors.push(what);
    if (errors.length <= 10) process.stderr.write(`soak: ${what}\n`);
  };
  try {
    // Access logs of a few hundred thousand connections are not what is measured.
    const { ztunnels } = await mesh.startMesh({ ztunnelArgs: ['--log-level', 'warn'] });
    const pids = { A: ztunnels['node-a'].child.pid, B: ztunnels['node-b'].child.pid };
    const clientNs = mesh.topology.pod('client').netns;
    const nodeNs = { A: mesh.topology.node('node-a').netns, B: mesh.topology.node('node-b').netns };
    const fdsBefore = { A: openFds(pids.A), B: openFds(pids.B) };
    const unaccountedBefore = { A: await unaccountedFds(pids.A, nodeNs.A), B: await unaccountedFds(pids.B, nodeNs.B) };

    // The long-lived connections, opened 50 at a time.
    const live = [];
    let closing = false;
    for (let i = 0; i < connections; i += 50) {
      live.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(50, connections - i) }, async (_, j) => {
            const id = i + j;
            const socket = await connectFrom(clientNs, mesh.serviceIp, ECHO_PORT);
            const conn = { id, socket, pending: new Map(), seq: 0, echoes: 0 };
            socket.on('error', (err) => !closing && failure(`connection ${id}: ${err.message}`));
            socket.on('close', () => !closing && failure(`connection ${id} closed`));
            onLines(socket, (line) => {
              const sentAt = conn.pending.get(line);
              if (sentAt === undefined) return failure(`connection ${id}: unexpected "${line.slice(0, 40)}"`);
              conn.pending.delete(line);
              conn.echoes++;
            });
            return conn;
          }),
        )),
      );
    }
    process.stderr.write(`soak: ${live.length} connections open; running ${seconds} s with ${churnPerSecond} new connections/s\n`);

    const cpuAtStart = { A: cpuTicks(pids.A), B: cpuTicks(pids.B) };
    const started = Date.now();
    const endAt = started + seconds * 1000;
    const rss = { A: [], B: [] };
    const parts = { A: memoryParts(), B: memoryParts() };
    let lastProgress = started;
    const sampleRss = () => {
      const min = (Date.now() - started) / 60_000;
      for (const k of ['A', 'B']) {
        rss[k].push({ min, mib: rssMiB(pids[k]) });
        // Anonymous (heap, malloc, stacks) apart from file-backed (node's code, shared libraries).
        parts[k].rss_anon.push({ min, mib: statusMiB(pids[k], 'RssAnon') });
      }
      if (Date.now() - lastProgress >= 60_000) {
        lastProgress = Date.now();
        const heapNow = (k) => (heap[k].length > 0 ? heap[k].at(-1).mib.toFixed(1) : '?');
        process.stderr.write(`soak: ${min.toFixed(1)} min, RSS A ${rss.A.at(-1).mib.toFixed(1)} MiB, B ${rss.B.at(-1).mib.toFixed(1)} MiB, heap used A ${heapNow('A')} MiB, B ${heapNow('B')} MiB, ${errors.length} errors\n`);
      }
    };
    sampleRss();
    const rssTimer = setInterval(sampleRss, RSS_SAMPLE_MS);
    const heap = { A: [], B: [] };
    let heapSampleFailures = 0;
    let heapSampling = false;
    const sampleHeap = async () => {
      if (heapSampling) return; // the previous reads are still out
      heapSampling = true;
      try {
        await Promise.all(
          ['A', 'B'].map(async (k) => {
            const min = (Date.now() - started) / 60_000;
            try {
              const m = await adminJson(nodeNs[k], '/memory');
              heap[k].push({ min, mib: m.heap_used / MIB });
              for (const part of MEMORY_PARTS) parts[k][part].push({ min, mib: m[part] / MIB });
              for (const space of HEAP_SPACES) parts[k][space].push({ min, mib: (m.heap_spaces?.[space]?.size ?? 0) / MIB });
              const heapResident = Object.values(m.heap_spaces ?? {}).reduce((sum, space) => sum + space.physical, 0);
              parts[k].outside_heap.push({ min, mib: (m.rss - heapResident) / MIB });
            } catch (err) {
              if (heapSampleFailures++ < 3) process.stderr.write(`soak: heap of ztunnel ${k}: ${err.message}\n`);
            }
          }),
        );
      } finally {
        heapSampling = false;
      }
    };
    await sampleHeap();
    const heapTimer = setInterval(sampleHeap, HEAP_SAMPLE_MS);

    // Each long-lived connection echoes a line every second (spread over the second).
    const echoTimers = live.map((conn) =>
      setTimeout(() => {
        conn.timer = setInterval(() => {
          const now = Date.now();
          for (const [line, sentAt] of conn.pending) {
            if (now - sentAt > ECHO_TIMEOUT_MS) {
              conn.pending.delete(line);
              failure(`connection ${conn.id}: no echo of "${line}" within ${ECHO_TIMEOUT_MS} ms`);
            }
          }
          const line = `${conn.id}:${conn.seq++}`;
          conn.pending.set(line, now);
          conn.socket.write(`${line}\n`);
        }, 1000);
      }, (conn.id * 1000) / live.length),
    );

    // The churn: new connections at a steady rate, each echoing one line and closing.
    let churned = 0;
    const churnInFlight = new Set();
    const churnOne = async () => {
      const socket = await connectFrom(clientNs, mesh.serviceIp, ECHO_PORT);
      try {
        await new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no echo within ${ECHO_TIMEOUT_MS} ms`)), ECHO_TIMEOUT_MS);
          socket.once('error', reject);
          socket.once('data', () => {
            clearTimeout(timer);
            resolve();
          });
          socket.write('churn\n');
        });
        churned++;
      } finally {
        socket.destroy();
      }
    };
    const churnTimer = setInterval(() => {
      const p = churnOne().catch((err) => failure(`churn connection: ${err.message}`));
      churnInFlight.add(p);
      p.finally(() => churnInFlight.delete(p));
    }, 1000 / churnPerSecond);

    while (Date.now() < endAt) await sleep(Math.min(10_000, endAt - Date.now()));
    clearInterval(churnTimer);
    await Promise.all(churnInFlight);
    for (const t of echoTimers) clearTimeout(t);
    for (const conn of live) clearInterval(conn.timer);
    await sleep(ECHO_TIMEOUT_MS / 5); // the last echoes
    clearInterval(rssTimer);
    clearInterval(heapTimer);
    sampleRss();
    // CPU share over the run: what a smaller young generation (more scavenges) costs.
    const cpuShare = (k) => (cpuTicks(pids[k]) - cpuAtStart[k]) / CLK_TCK / ((Date.now() - started) / 1000);
    for (const conn of live) if (conn.pending.size > 0) failure(`connection ${conn.id}: ${conn.pending.size} echoes outstanding at the end`);
    const echoes = live.reduce((sum, c) => sum + c.echoes, 0);
    const kept = { A: lows(rss.A, seconds / 60), B: lows(rss.B, seconds / 60) };
    const liveHeap = { A: lows(heap.A, seconds / 60).slice(WARMUP_WINDOWS), B: lows(heap.B, seconds / 60).slice(WARMUP_WINDOWS) };
    const heapStartEnd = (k) => (liveHeap[k].length > 0 ? `${liveHeap[k][0].mib.toFixed(1)}/${liveHeap[k].at(-1).mib.toFixed(1)}` : 'no samples');
    const heapNote = (k) => `lowest heap_used (admin /memory) per tenth of the run after warm-up, of ${heap[k].length} samples${heapSampleFailures > 0 ? ` (${heapSampleFailures} reads failed)` : ''}; target ≈ 0`;

    closing = true;
    for (const conn of live) conn.socket.destroy();
    // Descriptors back to where they were, or the grace period is over.
    const unaccounted = async () => ({ A: await unaccountedFds(pids.A, nodeNs.A), B: await unaccountedFds(pids.B, nodeNs.B) });
    const graceEnd = Date.now() + FD_GRACE_MS;
    let unaccountedAfter = await unaccounted();
    while (Date.now() < graceEnd && (unaccountedAfter.A > unaccountedBefore.A || unaccountedAfter.B > unaccountedBefore.B)) {
      await sleep(500);
      unaccountedAfter = await unaccounted();
    }
    const fdsAfter = { A: openFds(pids.A), B: openFds(pids.B) };
    const leaked = Math.max(0, unaccountedAfter.A - unaccountedBefore.A) + Math.max(0, unaccountedAfter.B - unaccountedBefore.B);

    if (process.env.SOAK_SAMPLES) writeFileSync(process.env.SOAK_SAMPLES, JSON.stringify({ rss, heap, parts }));
    const r = (name, value, unit, note) => ({ name, value: typeof value === 'number' ? +value.toFixed(3) : value, unit, ...(note ? { note } : {}) });
    return [
      r('errors', errors.length, 'count', errors.length > 0 ? `first: ${errors[0]}` : 'target 0'),
      r('echoes', echoes, 'count', `${live.length} connections × ${seconds} s`),
      r('churn connections', churned, 'count', `${churnPerSecond}/s`),
      r('ztunnel A rss slope MiB/min', slopePerMinute(kept.A.slice(WARMUP_WINDOWS)), 'MiB/min', 'lowest RSS per tenth of the run; target ≈ 0'),
      r('ztunnel B rss slope MiB/min', slopePerMinute(kept.B.slice(WARMUP_WINDOWS)), 'MiB/min', 'lowest RSS per tenth of the run; target ≈ 0'),
      r('ztunnel A rss start/end', `${kept.A[0].mib.toFixed(1)}/${kept.A.at(-1).mib.toFixed(1)}`, 'MiB', 'lowest in the first/last tenth'),
      r('ztunnel B rss start/end', `${kept.B[0].mib.toFixed(1)}/${kept.B.at(-1).mib.toFixed(1)}`, 'MiB', 'lowest in the first/last tenth'),
      r('ztunnel A heap slope MiB/min', slopePerMinute(liveHeap.A), 'MiB/min', heapNote('A')),
      r('ztunnel B heap slope MiB/min', slopePerMinute(liveHeap.B), 'MiB/min', heapNote('B')),
      r('ztunnel A heap start/end', heapStartEnd('A'), 'MiB', 'lowest heap_used in the first tenth after warm-up/the last tenth'),
      r('ztunnel B heap start/end', heapStartEnd('B'), 'MiB', 'lowest heap_used in the first tenth after warm-up/the last tenth'),
      r('ztunnel A rss peak', Math.max(...rss.A.map((p) => p.mib)), 'MiB'),
      r('ztunnel B rss peak', Math.max(...rss.B.map((p) => p.mib)), 'MiB'),
      ...['A', 'B'].flatMap((k) =>
        Object.entries(parts[k]).map(([part, samples]) => {
          const tenths = lows(samples, seconds / 60);
          return r(`ztunnel ${k} ${part} slope MiB/min`, slopePerMinute(tenths.slice(WARMUP_WINDOWS)), 'MiB/min', `lowest per tenth: ${tenths.map((p) => p.mib.toFixed(1)).join(' ')}`);
        }),
      ),
      r('ztunnel A CPU', cpuShare('A'), 'vCPU', 'average over the run (/proc/<pid>/stat)'),
      r('ztunnel B CPU', cpuShare('B'), 'vCPU', 'average over the run (/proc/<pid>/stat)'),
      r('ztunnel A file descriptors before/after', `${fdsBefore.A}/${fdsAfter.A}`, 'fds', 'after: idle pooled HBONE connections included'),
      r('ztunnel B file descriptors before/after', `${fdsBefore.B}/${fdsAfter.B}`, 'fds', 'after: idle pooled HBONE connections included'),
      r('leaked file descriptors', leaked, 'count', 'not held by a live HBONE connection; target 0'),
    ];
  } finally {
    await mesh.cleanup();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = await run({ quick: process.argv.includes('--quick') });
  console.table(results);
  process.exit(0);
}
