/**
 * One run at a time on this machine, across test processes and worktrees: for tests of
 * something there is one of per machine (the dev mesh's `mdev-` namespaces, its ownership file),
 * which several engineers' suites would otherwise use at once. The lock is a file naming the
 * holder's pid, created exclusively; a file whose process is gone is taken over.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WaitTimeoutError, waitFor } from './wait.js';

const LOCK_DIR = '/run/lock/mesh-tests';

/** Waits (up to `timeoutMs`) until this process holds the lock `name`; resolves with its release. */
export async function machineLock(name: string, timeoutMs: number): Promise<() => void> {
  mkdirSync(LOCK_DIR, { recursive: true });
  const file = join(LOCK_DIR, `${name}.lock`);
  const mine = String(process.pid);
  let holder = '';
  await waitFor(
    () => {
      try {
        writeFileSync(file, mine, { flag: 'wx' });
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      holder = readFileSync(file, 'utf8').trim();
      if (holder === mine) return true;
      if (!isAlive(Number(holder))) rmSync(file, { force: true });
      return false;
    },
    { timeoutMs, intervalMs: 250, what: `the machine-wide lock ${file}`, lastSeen: () => `held by pid ${holder}` },
  ).catch((err: unknown) => {
    throw err instanceof WaitTimeoutError ? new WaitTimeoutError(`${err.message} (another run of the same tests?)`, err.lastSeen) : err;
  });
  return () => {
    try {
      if (readFileSync(file, 'utf8').trim() === mine) rmSync(file, { force: true });
    } catch {
      // Gone already.
    }
  };
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
