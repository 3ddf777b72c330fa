/**
 * Starts `hbone-peer.ts` in a child process (the workspace sources, through source-loader.mjs)
 * and talks to it: its ports, its RSS, its counters, and whether it is still running.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { HboneServerStats } from '@mesh/hbone-core';
import type { TestCa } from '@mesh/pki/testing';
import { TEST_SERVER_ID } from '@mesh/hbone-core/testing';

const PEER = fileURLToPath(new URL('./hbone-peer.ts', import.meta.url));
const LOADER = new URL('./source-loader.mjs', import.meta.url).href;

export interface HbonePeer {
  readonly hbonePort: number;
  /** The peer's TCP echo: a tunnel to `127.0.0.1:<echoPort>` echoes. */
  readonly echoPort: number;
  readonly child: ChildProcess;
  /** True while the process runs. */
  alive(): boolean;
  /** Resident set size after a GC, bytes. */
  rss(): Promise<number>;
  stats(): Promise<{ stats: HboneServerStats; connections: number }>;
  /** Output the process wrote (its crash, if it crashed). */
  output(): string;
  close(): Promise<void>;
}

export async function startHbonePeer(ca: TestCa): Promise<HbonePeer> {
  const child = fork(PEER, [], {
    execArgv: ['--conditions=@mesh/source', '--import', LOADER, '--expose-gc', '--no-warnings'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const issued = ca.issue(TEST_SERVER_ID);
  child.send({ credentials: { keyPem: issued.keyPem, certChainPem: issued.chainPem, rootCertPem: ca.rootPem } });
  const ports = await reply<{ hbonePort: number; echoPort: number }>(child, 'hbonePort', () => output);
  const ask = <T>(type: string, key: string) => {
    child.send({ type });
    return reply<T>(child, key, () => output);
  };
  return {
    ...ports,
    child,
    alive: () => child.exitCode === null && child.signalCode === null,
    rss: async () => (await ask<{ memory: NodeJS.MemoryUsage }>('memory', 'memory')).memory.rss,
    stats: () => ask('stats', 'stats'),
    output: () => output,
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

function reply<T>(child: ChildProcess, key: string, output: () => string, timeoutMs = 20_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`the HBONE peer did not answer (${key}) within ${timeoutMs} ms:\n${output()}`)), timeoutMs);
    const onMessage = (message: Record<string, unknown>) => {
      if (key in message) done(undefined, message as T);
    };
    const onExit = (code: number | null, signal: string | null) => done(new Error(`the HBONE peer exited (${code ?? signal}):\n${output()}`));
    const done = (err?: Error, value?: T) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(value as T);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
