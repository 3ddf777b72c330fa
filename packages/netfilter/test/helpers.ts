import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Topology } from '@mesh/netfilter';
import { WAIT_TIMEOUT_MS } from '@mesh/testing';

export const isRoot = process.getuid?.() === 0;
const ECHO = fileURLToPath(new URL('./fixtures/tcp-echo.mjs', import.meta.url));

/** A namespace prefix unique to this run and file: `mt-<tag><hex>-`. */
export function uniquePrefix(tag: string): string {
  return `mt-${tag}${randomBytes(3).toString('hex')}-`;
}

/** Starts the echo server in a namespace and resolves once it listens. */
export async function startEchoServer(topology: Topology, netns: string, name: string, port: number): Promise<ChildProcess> {
  const child = topology.spawn(netns, process.execPath, [ECHO, 'server', name, '0.0.0.0', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`echo server ${name} not ready within ${WAIT_TIMEOUT_MS} ms`)), WAIT_TIMEOUT_MS);
    child.stdout?.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => reject(new Error(`echo server ${name} exited ${code}`)));
  });
  return child;
}

/** Runs the echo client in a namespace; resolves with its answer, rejects with its stderr. */
export async function echoClient(topology: Topology, netns: string, host: string, port: number, text: string): Promise<string> {
  const result = await topology.exec(netns, [process.execPath, ECHO, 'client', host, String(port), text]);
  return result.stdout.trim();
}
