/**
 * The built apps as child processes: each in its own process group (so a kill reaches anything
 * it started), stdout/stderr kept, JSON log lines parsed for assertions.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { beforeEach } from 'vitest';
import { LOG_FLUSH_MS, jsonLineSplitter } from '@mesh/log';
import { WAIT_TIMEOUT_MS, waitFor } from '@mesh/testing';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ISTIOD_MAIN = `${REPO_ROOT}apps/istiod-lite/dist/main.js`;
export const ZTUNNEL_MAIN = `${REPO_ROOT}apps/ztunnel/dist/main.js`;
/** How long a failed test waits for the last, batched log lines of the processes before showing them. */
const LOG_SETTLE_MS = LOG_FLUSH_MS * 20;

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
      const split = jsonLineSplitter((entry) => this.logs.push(entry));
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        this.output += chunk;
        split(chunk);
      });
    }
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * The first log line (present or to come) that satisfies `predicate` — of those after `since`
   * (a `logs.length` taken earlier: what a test's own request caused, whatever ran before it) —
   * fails at once if the process exits first, and with the end of its output if the deadline passes.
   */
  waitForLog(predicate: (entry: LogEntry) => boolean, timeoutMs = WAIT_TIMEOUT_MS, since = 0): Promise<LogEntry> {
    return waitFor(() => this.logs.slice(since).find(predicate), {
      timeoutMs,
      what: `a matching log line from ${this.name}`,
      giveUpIf: () => !this.running && `${this.name} exited (${this.child.exitCode ?? this.child.signalCode})`,
      lastSeen: () => this.output.slice(-3000),
    });
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

/**
 * When a test of the calling suite fails, writes what each process printed during that test to
 * stderr, so the failure shows what the mesh logged: every line but the access log (the last
 * `chars` of them), then the last few access log lines. Call it inside the suite's describe.
 * (E2E_DEBUG=1 prints every process's whole output at the end instead.)
 */
export function showOutputOnFailure(processes: () => Iterable<AppProcess>, chars = 8_000): void {
  beforeEach(({ onTestFailed }) => {
    const start = new Map([...processes()].map((p) => [p, p.output.length]));
    onTestFailed(async () => {
      // The proxies batch their log writes (packages/log, LOG_FLUSH_MS): let the last lines about
      // the failure arrive before showing what was logged.
      await sleep(LOG_SETTLE_MS);
      for (const p of processes()) {
        const lines = p.output.slice(start.get(p) ?? 0).split('\n');
        const access = lines.filter((line) => line.includes('"scope":"access"'));
        const other = lines.filter((line) => !line.includes('"scope":"access"')).join('\n');
        process.stderr.write(
          `--- ${p.name}, output during the failed test${other.length > chars ? ` (last ${chars} characters)` : ''}:\n${other.slice(-chars)}\n` +
            `--- ${p.name}: ${access.length} access log lines${access.length > 0 ? `, the last ${Math.min(3, access.length)}:\n${access.slice(-3).join('\n')}` : ''}\n`,
        );
      }
    });
  });
}

/** The one wait-with-a-deadline of the test suites (`@mesh/testing`), re-exported for e2e files. */
export { eventually, nextEvent, waitFor } from '@mesh/testing';
