/**
 * The dev mesh's processes: each in its own process group (a stop reaches whatever it started),
 * output appended to `<logs>/<name>.log`, JSON log lines kept for readiness checks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { MeshError } from '@mesh/errors';
import { jsonLineSplitter } from '@mesh/log';

/** Grace between SIGTERM and SIGKILL when stopping. */
export const STOP_GRACE_MS = 2_000;
const LOG_TAIL_CHARS = 2_000;

export class DevProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  /** Epoch ms of the spawn: start-up milestones are measured from it. */
  readonly spawnedAtMs = Date.now();
  private readonly lines: Record<string, unknown>[] = [];
  private readonly log: WriteStream;
  private tail = '';

  constructor(name: string, argv: readonly string[], logsDir: string, env: NodeJS.ProcessEnv = process.env) {
    this.name = name;
    this.log = createWriteStream(join(logsDir, `${name}.log`), { flags: 'a' });
    const [command, ...args] = argv as [string, ...string[]];
    this.child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.child.once('error', (err) => this.log.write(`spawn failed: ${err.message}\n`));
    for (const stream of [this.child.stdout, this.child.stderr]) {
      // Lines that are not JSON log lines are kept in the file only.
      const split = jsonLineSplitter((entry) => this.lines.push(entry));
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        this.log.write(chunk);
        this.tail = (this.tail + chunk).slice(-LOG_TAIL_CHARS);
        split(chunk);
      });
    }
  }

  /** The JSON log lines so far. */
  get logLines(): readonly Record<string, unknown>[] {
    return this.lines;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first JSON log line `predicate` accepts; fails if the process exits first. */
  async waitForLog(predicate: (entry: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(predicate);
      if (found) return found;
      if (!this.running) throw this.failure(`exited (${this.child.exitCode ?? this.child.signalCode}) before it was ready`);
      if (Date.now() > deadline) throw this.failure(`not ready within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  failure(what: string): MeshError {
    return new MeshError('MESHCTL_ERR_DEV_PROCESS', `${this.name} ${what}; last output:\n${this.tail.trimEnd()}`, {
      hint: `the full log is ${this.log.path as string}`,
    });
  }

  /** SIGTERM to the group, SIGKILL after the grace period. Idempotent. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    if (this.running && this.child.pid !== undefined) {
      killGroup(this.child.pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(this.child.pid as number, 'SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    this.log.end();
  }
}

export function killGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}
