/**
 * What a network-namespace e2e suite starts (app processes inside namespaces, pod servers),
 * so one teardown stops all of it, removes the suite's namespaces and files, and `E2E_DEBUG=1`
 * shows the processes' output.
 *
 * Each run of a suite has its own name prefix (`<tag><6 hex>-`), so suites, and several runs of
 * the same suite (other engineers, CI), run at once on one machine. A run records itself as the
 * owner of its prefix (a file naming its pid under OWNERS_DIR); the sweep of a later run removes
 * only namespaces whose owner is gone (killed before its afterAll), never a live run's.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { destroyTopology, listNamespaces } from '@mesh/netfilter';
import { AppProcess, showOutputOnFailure } from './process.js';

/** One file per live run: its prefix as the name, its pid inside. tmpfs, gone after a reboot like the namespaces. */
const OWNERS_DIR = '/run/mesh-e2e-suites';
/** A namespace without an owner file (from a run before owner files existed) counts as stale after this long. */
const UNOWNED_STALE_MS = 60 * 60_000;

export class NamespaceSuite {
  readonly prefix: string;
  readonly processes: AppProcess[] = [];
  readonly servers: Server[] = [];
  readonly #tag: string;

  /** `tag`: two lower-case letters naming the suite (`zt`, `wp`, `fl`). */
  constructor(tag: string) {
    this.#tag = tag;
    this.prefix = `${tag}${randomBytes(3).toString('hex')}-`;
  }

  /**
   * Claims this run's prefix, then removes the namespaces (and the processes inside them) that
   * runs of this suite killed before their afterAll left behind. Call it first in beforeAll.
   */
  async removeStale(): Promise<void> {
    mkdirSync(OWNERS_DIR, { recursive: true });
    writeFileSync(join(OWNERS_DIR, this.prefix), String(process.pid));
    // Both the current `<tag><6 hex>-` and the earlier `<tag><4 hex>-` prefixes.
    const ours = new RegExp(`^(${this.#tag}(?:[0-9a-f]{6}|[0-9a-f]{4})-)`);
    const stale = new Set<string>();
    for (const name of await listNamespaces(this.#tag)) {
      const prefix = ours.exec(name)?.[1];
      if (prefix && prefix !== this.prefix && !stale.has(prefix) && isStale(prefix, name)) stale.add(prefix);
    }
    for (const prefix of stale) {
      await destroyTopology(prefix);
      rmSync(join(OWNERS_DIR, prefix), { force: true });
    }
  }

  /** Runs `node [nodeFlags] <main> <args>` inside `netns`; stopped by teardown(). */
  start(name: string, netns: string, main: string, args: readonly string[], nodeFlags: readonly string[] = []): AppProcess {
    const p = new AppProcess(name, 'ip', ['netns', 'exec', netns, process.execPath, ...nodeFlags, main, ...args]);
    this.processes.push(p);
    return p;
  }

  /**
   * Registers (inside the suite's describe) its beforeAll and afterAll: stale namespaces removed,
   * then `start`; a start that fails shows the processes' output (E2E_DEBUG), runs `cleanup` and
   * fails the suite. afterAll runs `cleanup` and checks that none of the suite's namespaces is left.
   */
  runAround(options: { start: () => Promise<void>; cleanup: () => Promise<void>; startTimeoutMs: number; stopTimeoutMs: number }): void {
    beforeAll(async () => {
      await this.removeStale();
      try {
        await options.start();
      } catch (err) {
        this.dumpOutput(10_000);
        await options.cleanup();
        throw err;
      }
    }, options.startTimeoutMs);
    afterAll(async () => {
      this.dumpOutput();
      await options.cleanup();
      expect(await listNamespaces(this.prefix)).toEqual([]);
    }, options.stopTimeoutMs);
  }

  /** Registers (inside the suite's describe) the output dump of every process when a test fails. */
  showOutputOnFailure(): void {
    showOutputOnFailure(() => this.processes);
  }

  /** With E2E_DEBUG set, the last `chars` of every process's output on stderr. */
  dumpOutput(chars = 20_000): void {
    if (!process.env['E2E_DEBUG']) return;
    for (const p of this.processes) process.stderr.write(`--- ${p.name}\n${p.output.slice(-chars)}\n`);
  }

  /**
   * Stops servers and processes, then removes the suite's namespaces and its owner file. The
   * suite is empty afterwards and can run again (the e2e suites run once per xDS dialect).
   */
  async teardown(): Promise<void> {
    for (const s of this.servers.splice(0)) s.close();
    for (const p of this.processes.splice(0)) await p.stop(1_000);
    await destroyTopology(this.prefix);
    rmSync(join(OWNERS_DIR, this.prefix), { force: true });
  }
}

/** Whether the run that made `prefix` is gone: its owner process exited, or (no owner file) it is old. */
function isStale(prefix: string, someNamespace: string): boolean {
  let owner: number;
  try {
    owner = Number(readFileSync(join(OWNERS_DIR, prefix), 'utf8'));
  } catch {
    try {
      return Date.now() - statSync(`/run/netns/${someNamespace}`).mtimeMs > UNOWNED_STALE_MS;
    } catch {
      return false;
    }
  }
  try {
    process.kill(owner, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
