import { describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import { WaitTimeoutError, eventually, nextEvent, waitFor } from './wait.js';

describe('waitFor', () => {
  it('resolves with the first truthy value', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? { calls } : undefined), { intervalMs: 1 });
    expect(value).toEqual({ calls: 3 });
  });

  it('fails after the deadline naming what it waited for and the last value seen', async () => {
    const error = await waitFor(() => false, 100, 'the answer').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(String(error)).toMatch(/timed out after 100 ms waiting for the answer; last seen: false/);
  });

  it('reports the last error when every attempt threw', async () => {
    const error = await waitFor(() => {
      throw new Error('connection refused');
    }, 80).catch((e: unknown) => e);
    expect(String(error)).toContain('last seen: Error: connection refused');
  });

  it('cuts off an attempt that hangs at the deadline', async () => {
    const started = Date.now();
    const error = await waitFor(() => new Promise<boolean>(() => undefined), 100, 'a hanging probe').catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(String(error)).toContain('no attempt finished before the deadline');
  });

  it('gives up at once when giveUpIf names a reason, and shows lastSeen', async () => {
    const error = await waitFor(() => false, { timeoutMs: 60_000, giveUpIf: () => 'the process exited (1)', lastSeen: () => 'its output' }).catch((e: unknown) => e);
    expect(String(error)).toBe('WaitTimeoutError: gave up (the process exited (1)) waiting for a condition; last seen: its output');
  });
});

describe('eventually', () => {
  it('retries an assertion until it holds and fails with the assertion message', async () => {
    let n = 0;
    await eventually(() => expect(++n).toBe(3), { intervalMs: 1 });
    const error = await eventually(() => expect('refused').toBe('ratings-v1'), 60, 'DENY lifted').catch((e: unknown) => e);
    expect(String(error)).toMatch(/waiting for DENY lifted; last seen: .*expected 'refused' to be 'ratings-v1'/);
  });
});

describe('nextEvent', () => {
  it('resolves with the arguments of the next event, or fails naming it', async () => {
    const emitter = new EventEmitter();
    const next = nextEvent<[number]>(emitter, 'nack');
    emitter.emit('nack', 7);
    expect(await next).toEqual([7]);
    const error = await nextEvent(emitter, 'nack', 50).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(String(error)).toContain("timed out after 50 ms waiting for the 'nack' event");
  });
});
