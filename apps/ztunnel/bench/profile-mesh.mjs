// Profiles the two ztunnels of the bench mesh (bench-mesh.mjs, sample mesh loaded) in place:
//
//   node apps/ztunnel/bench/profile-mesh.mjs [out-dir] [--seconds N]   CPU   (root, after `pnpm build`)
//   node apps/ztunnel/bench/profile-mesh.mjs [out-dir] --heap             memory
//   … --workload-dialect                  the ztunnels take Istio's workload API (default: envoy)
//   … --node-arg <flag>                   one more node flag for the ztunnels (repeatable)
//   node apps/ztunnel/bench/profile-mesh.mjs --over-time [--node-arg …]  idle RSS at 2, 5, 10, 30, 60 s
//
// CPU: both ztunnels start under `--cpu-prof`; once ready, the mesh pair carries a mix for N
// seconds (default 20): 1,000 req/s of 1 KiB on 10 connections, new connections 8 at a time, a
// 1-byte ping-pong; then the ztunnels stop with SIGTERM and write `node-a.cpuprofile` and
// `node-b.cpuprofile` (start-up included).
// Memory: both ztunnels start under `--heapsnapshot-signal=SIGUSR2`; once ready and idle for 2 s
// each writes `idle-node-a.heapsnapshot` / `idle-node-b.heapsnapshot`, and their RSS is printed
// with its largest mappings (/proc/<pid>/smaps: which file the file-backed pages come from).
// Over time: no snapshot (it would grow the heap); RSS and its anonymous part at 2, 5, 10, 30 and
// 60 s after ready, to tell start-up garbage V8 returns by itself from what stays.
//
// `node scripts/profile-summary.mjs <file>` prints where the time (cpuprofile) or the memory
// (heapsnapshot) went. docs/performance.md has the figures and the commands behind them.
import { mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { adminJson, connectFrom, createBenchMesh, rssMiB, sleep, statusMiB } from './bench-mesh.mjs';
import { connectionsPerSecond, pingPong, steadyRate } from './mesh.bench.mjs';

const args = process.argv.slice(2);
const secondsAt = args.indexOf('--seconds');
const seconds = secondsAt >= 0 ? Number(args[secondsAt + 1]) : 20;
const heap = args.includes('--heap');
const overTime = args.includes('--over-time');
const outDir = resolve(args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--seconds' && args[i - 1] !== '--node-arg') ?? '/tmp/ztunnel-profile');
mkdirSync(outDir, { recursive: true });
const extraNodeArgs = args.flatMap((a, i) => (args[i - 1] === '--node-arg' ? [a] : []));
process.env.BENCH_ZTUNNEL_NODE_ARGS = [overTime ? '' : heap ? `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${outDir}` : `--cpu-prof --cpu-prof-dir=${outDir}`, ...extraNodeArgs].join(' ');
const ztunnelArgs = args.includes('--workload-dialect') ? ['--xds-dialect', 'workload'] : [];

const bench = await createBenchMesh({ tag: 'zp', sampleMesh: true });
try {
  const { ztunnels } = await bench.startMesh({ ztunnelArgs });
  if (overTime) {
    await rssOverTime(bench, ztunnels, [2, 5, 10, 30, 60]);
    process.exit(0);
  }
  await sleep(2000);
  if (heap) await snapshots(bench, ztunnels);
  else await cpuProfiles(bench, ztunnels);
  console.log(`profiles in ${outDir}: ${readdirSync(outDir).join(', ')}`);
} finally {
  await bench.cleanup();
}
process.exit(0);

async function snapshots(bench, ztunnels) {
  for (const [node, z] of Object.entries(ztunnels)) {
    const pid = z.child.pid;
    console.log(`${node} idle: RSS ${rssMiB(pid).toFixed(1)} MiB (anonymous ${statusMiB(pid, 'RssAnon').toFixed(1)}, file-backed ${statusMiB(pid, 'RssFile').toFixed(1)})`);
    console.log(`  V8 heap: ${await heapLine(bench, node)}`);
    for (const [name, kib] of mappings(pid).slice(0, 10)) console.log(`  ${(kib / 1024).toFixed(1).padStart(6)} MiB  ${name}`);
  }
  const before = new Set(readdirSync(outDir));
  for (const [node, z] of Object.entries(ztunnels)) {
    z.signal('SIGUSR2');
    // The snapshot is written synchronously by the process; wait for its file to appear.
    for (let i = 0; i < 100 && readdirSync(outDir).filter((f) => f.endsWith('.heapsnapshot') && !before.has(f)).length === 0; i++) await sleep(100);
    await sleep(1000);
    for (const f of readdirSync(outDir)) {
      if (f.endsWith('.heapsnapshot') && !before.has(f)) {
        renameSync(join(outDir, f), join(outDir, `idle-${node}.heapsnapshot`));
        before.add(`idle-${node}.heapsnapshot`);
      }
    }
  }
}

/**
 * RSS by mapping (/proc/<pid>/smaps), largest first: a file's path, or `[anon]`, `[heap]`,
 * `[stack]`; the node binary by permissions (`r-xp` its code, `r--p` read-only data such as ICU's).
 */
function mappings(pid) {
  const rss = new Map();
  let name = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) name = head[2] === process.execPath ? `${head[2]} ${head[1]}` : head[2] || '[anon]';
    const m = /^Rss:\s+(\d+) kB/.exec(line);
    if (m) rss.set(name, (rss.get(name) ?? 0) + Number(m[1]));
  }
  return [...rss].sort((a, b) => b[1] - a[1]);
}

/** V8's heap from the ztunnel's admin `/memory`: used / resident (MiB), in all and by space. */
async function heapLine(bench, node) {
  const m = await adminJson(bench.topology.node(node).netns, '/memory');
  const mib = (b) => (b / 2 ** 20).toFixed(1);
  const spaces = Object.entries(m.heap_spaces).map(([name, s]) => `${name.replace('_space', '')} ${mib(s.used)}/${mib(s.physical)}`);
  return `used ${mib(m.heap_used)} of ${mib(m.heap_total)}; by space (used/resident) ${spaces.join(', ')}; malloced ${mib(m.malloced_memory)}, external ${mib(m.external)}`;
}

async function rssOverTime(bench, ztunnels, seconds) {
  const start = Date.now();
  for (const s of seconds) {
    await sleep(start + s * 1000 - Date.now());
    for (const [node, z] of Object.entries(ztunnels)) {
      console.log(`${String(s).padStart(3)} s after ready, ${node}: RSS ${rssMiB(z.child.pid).toFixed(1)} (anon ${statusMiB(z.child.pid, 'RssAnon').toFixed(1)}) MiB; V8 heap ${await heapLine(bench, node)}`);
    }
  }
}

async function cpuProfiles(bench, ztunnels) {
  const { mesh } = bench;
  const echo = await connectFrom(mesh.client, mesh.serverIp, 9080);
  await Promise.all([
    steadyRate(mesh.client, mesh.serverIp, 1000, seconds),
    connectionsPerSecond(mesh.client, mesh.serverIp, seconds),
    (async () => {
      const until = Date.now() + seconds * 1000;
      while (Date.now() < until) await pingPong(echo, 100);
    })(),
  ]);
  echo.destroy();
  const pids = Object.fromEntries(Object.entries(ztunnels).map(([node, z]) => [z.child.pid, node]));
  await Promise.all(Object.values(ztunnels).map((z) => z.stop({ graceful: true })));
  for (const f of readdirSync(outDir)) {
    const pid = /^CPU\.\d+\.\d+\.(\d+)\./.exec(f)?.[1];
    if (pid && pids[pid]) renameSync(join(outDir, f), join(outDir, `${pids[pid]}.cpuprofile`));
  }
}
