/**
 * The live heap of this process after full garbage collections, for tests that bound what a
 * flood of hostile input leaves behind. Exposes V8's `gc` on first use (a test process is not
 * started with `--expose-gc`).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

export function heapAfterGc(): number {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}
