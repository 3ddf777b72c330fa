/**
 * The ztunnel process's runtime settings: the one place for them, applied by ztunnel's own entry
 * point (main.ts) however it is started — `pnpm dev`, the e2e suites, the benchmarks, the
 * container image, the DaemonSet — so that no launcher has to know them.
 *
 * Why (docs/performance.md, "Soak: memory"): Node 24's V8 sizes the young generation from the
 * heap limit, up to 64 MiB per semi-space (a 128 MiB new space) on a host with a large limit, and
 * grows it toward that bound while a busy ztunnel's survival rate is high. Under the soak (1,000
 * long-lived connections + 50 new per second) that growth was the RSS that climbed while the live
 * heap stayed flat. 16 MiB per semi-space (Node 20's default) keeps the young generation at
 * 32 MiB; objects of a connection's turn die young all the same.
 *
 * Must not import anything heavy: it runs before the proxy's modules are loaded.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** V8 flags ztunnel runs with, unless the operator set the same flag (command line or NODE_OPTIONS). */
export const ZTUNNEL_V8_FLAGS = ['--max-semi-space-size=16'] as const;

/** How the process is to be started again with the settings in force; undefined when they are. */
export interface Relaunch {
  file: string;
  args: string[];
}

/** A flag's name as V8 reads it: `--max_semi_space_size=8` and `--max-semi-space-size 8` are the same flag. */
const flagName = (flag: string): string => flag.split('=')[0]!.replaceAll('_', '-');

/**
 * Pure: given how this process was started, the `execve` that applies the missing settings, or
 * undefined when nothing is missing. A flag the operator gave (`node --max-semi-space-size=32
 * main.js`, or in NODE_OPTIONS) wins; so the relaunched process, which has them all, never
 * relaunches again.
 */
export function planRelaunch(execPath: string, execArgv: readonly string[], argv: readonly string[], env: NodeJS.ProcessEnv): Relaunch | undefined {
  const given = [...execArgv, ...(env['NODE_OPTIONS'] ?? '').split(/\s+/)].map(flagName);
  const missing = ZTUNNEL_V8_FLAGS.filter((flag) => !given.includes(flagName(flag)));
  if (missing.length === 0) return undefined;
  return { file: execPath, args: [execPath, ...missing, ...execArgv, ...argv.slice(1)] };
}

/** V8's `gc` function as `--expose-gc` defines it (the options this module uses). */
type GcFunction = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/**
 * Once, after start-up: a full collection that also gives V8's free pages back to the system.
 *
 * Why (docs/performance.md, "ztunnel: where the memory goes"): decoding the first full config
 * (protobufjs, the Envoy resources → the runtime model) grows the young generation to its
 * 16 MiB semi-spaces (32 MiB resident, 5.5 MiB of it used at idle), and an idle ztunnel allocates
 * too little for V8 to collect again and shrink it: it stayed resident for as long as it was idle
 * (measured over 60 s). The `last-resort` flavour is the collection V8 runs under memory pressure
 * (`LowMemoryNotification`): it shrinks the semi-spaces and releases empty pages. Under traffic the
 * young generation grows back to its bound as before. `--expose-gc` is set only while the
 * function is taken from a fresh context, so no other code gets a global `gc`. It stops the event
 * loop once for the collection (`pauseMs`, logged: 62–86 ms in the bench mesh, up to 217 ms on a
 * busy machine); a single regular full collection (34–67 ms) released nothing.
 */
export function releaseStartupMemory(): { pauseMs: number } {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as GcFunction;
  setFlagsFromString('--no-expose-gc');
  const startedAt = performance.now();
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  return { pauseMs: Math.round(performance.now() - startedAt) };
}
