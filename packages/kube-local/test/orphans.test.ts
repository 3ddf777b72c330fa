/**
 * A LocalKube whose owner is SIGKILLed before `close()` leaves etcd and kube-apiserver running
 * and its directory on disk; the next `startLocalKube` sweeps them (src/owners.ts). The owner is
 * a child process running the built package (needs `pnpm build`), killed once its cluster serves.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { kubeToolsMissing, startLocalKube } from '../src/index.js';

const BUILT_INDEX = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const missing = kubeToolsMissing(['etcd', 'kube-apiserver']) ?? (existsSync(BUILT_INDEX) ? undefined : 'packages/kube-local is not built (pnpm build)');

/** Running and not a zombie. */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe.skipIf(missing)(`kube-local sweeps what a killed owner left${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('a cluster whose owner was SIGKILLed is gone (processes and directory) after the next start', { timeout: 240_000 }, async () => {
    const script = `const { startLocalKube } = await import(${JSON.stringify(BUILT_INDEX)});
const kube = await startLocalKube();
console.log(JSON.stringify({ dir: kube.dir, pids: kube.pids() }));
setInterval(() => {}, 1000);`;
    const owner = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    owner.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    owner.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // Whatever happens below, the owner does not outlive the test.
    const killOwner = () => owner.kill('SIGKILL');
    process.once('exit', killOwner);
    const orphan = await new Promise<{ dir: string; pids: number[] }>((resolve, reject) => {
      owner.stdout.on('data', () => {
        const line = output.split('\n').find((l) => l.startsWith('{"dir"'));
        if (line) resolve(JSON.parse(line) as { dir: string; pids: number[] });
      });
      owner.once('exit', (code) => reject(new Error(`the owner exited (${code}) before its cluster served:\n${output}`)));
    }).finally(() => process.off('exit', killOwner));
    owner.kill('SIGKILL');
    await new Promise((resolve) => (owner.exitCode === null && owner.signalCode === null ? owner.once('exit', resolve) : resolve(undefined)));
    // Left behind: the programs (their own process groups) and the directory.
    expect(orphan.pids).toHaveLength(2);
    expect(orphan.pids.every(running)).toBe(true);
    expect(existsSync(orphan.dir)).toBe(true);

    const next = await startLocalKube();
    try {
      expect(orphan.pids.filter(running)).toEqual([]);
      expect(existsSync(orphan.dir)).toBe(false);
    } finally {
      await next.close();
    }
  });
});
