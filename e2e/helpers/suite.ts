/**
 * What a network-namespace e2e suite starts (app processes inside namespaces, pod servers),
 * so one teardown stops all of it, removes the suite's namespaces and files, and `E2E_DEBUG=1`
 * shows the processes' output. Each suite has its own name prefix (`<tag><4 hex>-`), so suites
 * can run at once; a run killed before its afterAll is swept by the next one.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:net';
import { destroyTopology, listNamespaces } from '@mesh/netfilter';
import { AppProcess } from './process.js';

export class NamespaceSuite {
  readonly prefix: string;
  readonly processes: AppProcess[] = [];
  readonly servers: Server[] = [];
  readonly #tag: string;

  /** `tag`: two lower-case letters naming the suite (`zt`, `wp`). */
  constructor(tag: string) {
    this.#tag = tag;
    this.prefix = `${tag}${randomBytes(2).toString('hex')}-`;
  }

  /** Namespaces an earlier run of this suite left behind (killed before its afterAll). */
  async removeStale(): Promise<void> {
    const ours = new RegExp(`^(${this.#tag}[0-9a-f]{4}-)`);
    for (const name of await listNamespaces(this.#tag)) {
      const stale = ours.exec(name)?.[1];
      if (stale) await destroyTopology(stale);
    }
  }

  /** Runs `node <main> <args>` inside `netns`; stopped by teardown(). */
  start(name: string, netns: string, main: string, args: readonly string[]): AppProcess {
    const p = new AppProcess(name, 'ip', ['netns', 'exec', netns, process.execPath, main, ...args]);
    this.processes.push(p);
    return p;
  }

  /** With E2E_DEBUG set, the last `chars` of every process's output on stderr. */
  dumpOutput(chars = 20_000): void {
    if (!process.env['E2E_DEBUG']) return;
    for (const p of this.processes) process.stderr.write(`--- ${p.name}\n${p.output.slice(-chars)}\n`);
  }

  /** Stops servers and processes, then removes the suite's namespaces. */
  async teardown(): Promise<void> {
    for (const s of this.servers) s.close();
    for (const p of this.processes) await p.stop(1_000);
    await destroyTopology(this.prefix);
  }
}
