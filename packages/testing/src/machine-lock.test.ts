import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { machineLock } from './machine-lock.js';

const lockFile = (name: string) => `/run/lock/mesh-tests/${name}.lock`;

describe('machineLock', () => {
  it('waits while another live process holds it, naming the holder', async () => {
    const name = `test-live-${process.pid}`;
    const release = await machineLock(name, 1_000);
    release();
    writeFileSync(lockFile(name), '1'); // init: alive
    try {
      await expect(machineLock(name, 300)).rejects.toThrow(/held by pid 1/);
    } finally {
      rmSync(lockFile(name), { force: true });
    }
  });

  it('takes over from a holder that is gone, and releases', async () => {
    const name = `test-dead-${process.pid}`;
    mkdirSync('/run/lock/mesh-tests', { recursive: true });
    const gone = spawnSync('true').pid!;
    writeFileSync(lockFile(name), String(gone));
    const release = await machineLock(name, 2_000);
    release();
    const again = await machineLock(name, 1_000);
    again();
  });
});
