// `pnpm test:stress`: the e2e suites (e2e/, the built apps as processes, in network namespaces
// as root) while other processes keep every CPU busy, twice in a row: first in the written
// order, then shuffled (tests and files; the seed is printed, `--seed <n>` repeats an order).
// Proves that the suites wait for what they assert instead of racing it, and that no test
// depends on another. The load is Debian's stress-ng (the set-up installs it as root), or,
// without it, one busy child process per CPU.
//
//   npm run test:stress [--passes <n>] [--seed <n>] [-- <vitest filters>]
//
// Exits non-zero if any pass fails; the load stops however the run ends.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const dashDash = args.indexOf('--');
const own = dashDash >= 0 ? args.slice(0, dashDash) : args;
const filters = dashDash >= 0 ? args.slice(dashDash + 1) : ['e2e/'];
const option = (name, fallback) => {
  const i = own.indexOf(name);
  return i >= 0 && own[i + 1] !== undefined ? Number(own[i + 1]) : fallback;
};
const passes = option('--passes', 2);
const seed = option('--seed', Math.floor(Math.random() * 1_000_000));
const cpus = availableParallelism();

function hasCommand(name) {
  return new Promise((resolve) => {
    const probe = spawn('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    probe.once('exit', (code) => resolve(code === 0));
    probe.once('error', () => resolve(false));
  });
}

/** Keeps every CPU busy until stopped: stress-ng's CPU workers, or busy node children. */
async function startLoad() {
  if (await hasCommand('stress-ng')) {
    // No --timeout: stopped by us; its own process group, so the workers go with it.
    const child = spawn('stress-ng', ['--cpu', String(cpus), '--cpu-method', 'matrixprod', '--quiet'], { detached: true, stdio: 'ignore' });
    return { what: `stress-ng --cpu ${cpus}`, stop: () => killGroup(child) };
  }
  const children = Array.from({ length: cpus }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { detached: true, stdio: 'ignore' }));
  return { what: `${cpus} busy node processes (stress-ng is not installed)`, stop: () => children.forEach(killGroup) };
}

function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

function vitest(extra) {
  return new Promise((resolve) => {
    const child = spawn('pnpm', ['exec', 'vitest', 'run', ...extra, ...filters], { cwd: ROOT, stdio: 'inherit' });
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const load = await startLoad();
const stopLoad = () => load.stop();
process.once('exit', stopLoad);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.once(signal, () => process.exit(130));

const results = [];
try {
  for (let pass = 1; pass <= passes; pass++) {
    const shuffled = pass % 2 === 0;
    const order = shuffled ? ['--sequence.shuffle', `--sequence.seed=${seed}`] : [];
    console.log(`\n== test:stress pass ${pass}/${passes}: ${filters.join(' ')} ${shuffled ? `shuffled (seed ${seed})` : 'in order'}, load: ${load.what}`);
    const started = Date.now();
    const code = await vitest(order);
    results.push({ pass, order: shuffled ? `shuffled, seed ${seed}` : 'in order', seconds: Math.round((Date.now() - started) / 1000), result: code === 0 ? 'passed' : `failed (${code})` });
  }
} finally {
  stopLoad();
}
console.log('\n== test:stress summary');
console.table(results);
process.exitCode = results.every((r) => r.result === 'passed') ? 0 : 1;
