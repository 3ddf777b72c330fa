/**
 * Leftovers of a killed owner: a process that started a LocalKube and was SIGKILLed (a test
 * worker, a `meshctl dev up`) never ran `close()`, so its etcd, kube-apiserver and
 * kube-controller-manager (each its own process group) and its directory stay. Each LocalKube
 * records its owner in OWNERS_DIR (one JSON file: the owner's pid, the directory, the programs'
 * pids), as e2e/helpers/suite.ts does for network namespaces; the next `startLocalKube` sweeps
 * the records whose owner is gone.
 *
 * Invariants: a record whose owner runs is never touched (concurrent runs are safe); a recorded
 * pid is killed only if its command line still names the record's directory (every program's
 * arguments do), so a reused pid is left alone; the sweep is best effort and never fails a start.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** One directory per user (a root run and a user's run do not share it). */
export const OWNERS_DIR = path.join(tmpdir(), `kube-local-owners-${process.getuid?.() ?? 'user'}`);

export interface OwnerRecord {
  readonly owner: number;
  readonly dir: string;
  readonly pids: readonly number[];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** Writes (replaces) the record `name` for this process. */
export function writeOwnerRecord(name: string, dir: string, pids: readonly number[]): void {
  try {
    mkdirSync(OWNERS_DIR, { recursive: true, mode: 0o700 });
    const file = path.join(OWNERS_DIR, `${name}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify({ owner: process.pid, dir, pids } satisfies OwnerRecord));
    renameSync(`${file}.tmp`, file);
  } catch {
    // Best effort: without a record only the sweep of a crash is lost.
  }
}

export function removeOwnerRecord(name: string): void {
  rmSync(path.join(OWNERS_DIR, `${name}.json`), { force: true });
}

/** Running and not a zombie (a killed program whose new parent has not reaped it yet is gone for us). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const SWEEP_WAIT_MS = 5_000;

/**
 * Kills (SIGKILL, by process group) the programs of every record whose owner is gone, waits until
 * they are, removes their directories and the records; returns what it swept. A directory that
 * a live record names too (a new run in the same place) is left to that run.
 */
export async function sweepOrphans(): Promise<OwnerRecord[]> {
  let files: string[];
  try {
    files = readdirSync(OWNERS_DIR).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const records = files.flatMap((file) => {
    try {
      return [{ file, record: JSON.parse(readFileSync(path.join(OWNERS_DIR, file), 'utf8')) as OwnerRecord }];
    } catch {
      return [];
    }
  });
  const liveDirs = new Set(records.filter(({ record }) => alive(record.owner)).map(({ record }) => record.dir));
  const swept: OwnerRecord[] = [];
  for (const { file, record } of records) {
    if (alive(record.owner)) continue;
    if (!liveDirs.has(record.dir)) {
      const killed = record.pids.filter((pid) => commandLine(pid).includes(record.dir));
      for (const pid of killed) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // Gone meanwhile.
        }
      }
      for (const deadline = Date.now() + SWEEP_WAIT_MS; killed.some(running) && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 50));
      rmSync(record.dir, { recursive: true, force: true, maxRetries: 3 });
    }
    rmSync(path.join(OWNERS_DIR, file), { force: true });
    swept.push(record);
  }
  return swept;
}
