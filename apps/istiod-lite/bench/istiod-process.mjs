// istiod-lite as its own process for the benchmarks (the real main: flags, debounce, logging),
// shared by scale.bench.mjs and kube.bench.mjs. Not a benchmark module itself (no `.bench.mjs`).
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const ISTIOD_MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

/**
 * Starts istiod-lite with `args` (its config source and state dir) on free loopback ports and
 * resolves once it logs "istiod-lite ready". `marks`: log messages whose first appearance is timed
 * from the spawn (`marks[msg]` in ms, once seen).
 */
export async function startIstiodProcess(args, { marks: wanted = [] } = {}) {
  const spawned = performance.now();
  const child = spawn(process.execPath, [ISTIOD_MAIN, ...args, '--xds-port', '0', '--xds-tls-port', '0', '--debug-port', '0', '--listen-address', '127.0.0.1'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  const marks = {};
  const ports = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`istiod-lite did not start within 300 s:\n${output.slice(-2000)}`)), 300_000);
    child.stderr.on('data', (chunk) => {
      output = (output + chunk).slice(-100_000);
      for (const msg of wanted) if (marks[msg] === undefined && output.includes(`"msg":"${msg}"`)) marks[msg] = performance.now() - spawned;
      const ready = /"msg":"istiod-lite ready".*?"ports":(\{[^}]*\})/.exec(output);
      if (ready) {
        clearTimeout(timer);
        resolve(JSON.parse(ready[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`istiod-lite exited with ${code}:\n${output.slice(-2000)}`)));
  });
  return {
    ports,
    pid: child.pid,
    spawned,
    marks,
    readyMs: performance.now() - spawned,
    output: () => output,
    async rssMiB() {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const kb = (key) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
      return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
    },
    /** /debug/syncz, or [] when istiod is too busy to answer (a keep-alive socket it closed meanwhile). */
    async syncz() {
      try {
        return await (await fetch(`http://127.0.0.1:${ports.debug}/debug/syncz`, { headers: { connection: 'close' } })).json();
      } catch {
        return [];
      }
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
    },
  };
}
