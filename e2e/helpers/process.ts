/**
 * The built apps as child processes: each in its own process group (so a kill reaches anything
 * it started), stdout/stderr kept, JSON log lines parsed for assertions.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ISTIOD_MAIN = `${REPO_ROOT}apps/istiod-lite/dist/main.js`;
export const ZTUNNEL_MAIN = `${REPO_ROOT}apps/ztunnel/dist/main.js`;

export type LogEntry = Record<string, unknown>;

export class AppProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logs: LogEntry[] = [];
  output = '';
  readonly exited: Promise<number | null>;

  constructor(name: string, command: string, args: readonly string[], options: SpawnOptions = {}) {
    this.name = name;
    this.child = spawn(command, [...args], { ...options, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let partial = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        this.output += chunk;
        partial += chunk;
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.startsWith('{')) continue;
          try {
            this.logs.push(JSON.parse(line) as LogEntry);
          } catch {
            // not a log line
          }
        }
      });
    }
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async waitForLog(predicate: (entry: LogEntry) => boolean, timeoutMs = 10_000): Promise<LogEntry> {
    const start = Date.now();
    for (;;) {
      const found = this.logs.find(predicate);
      if (found) return found;
      if (!this.running) throw new Error(`${this.name} exited (${this.child.exitCode ?? this.child.signalCode}) before the expected log line:\n${this.output.slice(-3000)}`);
      if (Date.now() - start > timeoutMs) throw new Error(`${this.name}: no matching log line within ${timeoutMs} ms:\n${this.output.slice(-3000)}`);
      await sleep(25);
    }
  }

  /** SIGTERM to the whole group, SIGKILL after `graceMs`. Idempotent. */
  async stop(graceMs = 2_000): Promise<void> {
    if (!this.running || this.child.pid === undefined) return;
    killGroup(this.child.pid, 'SIGTERM');
    const timer = setTimeout(() => this.child.pid !== undefined && killGroup(this.child.pid, 'SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.child.pid !== undefined) killGroup(this.child.pid, 'SIGKILL');
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function waitFor<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const start = Date.now();
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await sleep(50);
  }
}
