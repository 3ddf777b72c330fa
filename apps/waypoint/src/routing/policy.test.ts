import { describe, expect, it } from 'vitest';
import { backoffDelayMs, mirrors, pickWeighted, remainingMs, shouldRetry, type AttemptOutcome } from './policy.js';
import type { RetryOn, RetryPolicy } from './routes.js';

describe('pickWeighted', () => {
  const split = [
    { name: 'v1', weight: 90 },
    { name: 'v2', weight: 10 },
  ];
  it.each([
    [0, 'v1'],
    [0.5, 'v1'],
    [0.8999, 'v1'],
    [0.9, 'v2'],
    [0.9999, 'v2'],
  ])('random %f → %s', (random, want) => {
    expect(pickWeighted(split, random)?.name).toBe(want);
  });
  it('never picks a weight-0 cluster', () => {
    const clusters = [
      { name: 'zero', weight: 0 },
      { name: 'one', weight: 1 },
    ];
    for (const r of [0, 0.3, 0.99]) expect(pickWeighted(clusters, r)?.name).toBe('one');
  });
  it('nothing to pick when all weights are 0', () => {
    expect(pickWeighted([{ name: 'a', weight: 0 }], 0.5)).toBeUndefined();
  });
  it('a uniform draw lands on each cluster in proportion to its weight', () => {
    let seed = 1;
    const lcg = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const counts = { v1: 0, v2: 0 };
    for (let i = 0; i < 10_000; i++) counts[pickWeighted(split, lcg())?.name as 'v1' | 'v2']++;
    expect(counts.v2 / 10_000).toBeGreaterThan(0.08);
    expect(counts.v2 / 10_000).toBeLessThan(0.12);
  });
});

const policy = (retryOn: string, numRetries = 2, codes: number[] = []): RetryPolicy => ({ retryOn: new Set(retryOn.split(',') as RetryOn[]), numRetries, retriableStatusCodes: codes, backoffBaseMs: 25 });

describe('shouldRetry', () => {
  const cases: Array<[string, RetryPolicy | undefined, AttemptOutcome, number, boolean]> = [
    ['no policy never retries', undefined, { status: 503 }, 1, false],
    ['listed code retried', policy('retriable-status-codes', 2, [503]), { status: 503 }, 1, true],
    ['listed code on the last allowed retry', policy('retriable-status-codes', 2, [503]), { status: 503 }, 2, true],
    ['attempts exhausted', policy('retriable-status-codes', 2, [503]), { status: 503 }, 3, false],
    ['unlisted code not retried', policy('retriable-status-codes', 2, [503]), { status: 500 }, 1, false],
    ['success not retried', policy('5xx'), { status: 200 }, 1, false],
    ['5xx retries any 5xx', policy('5xx'), { status: 500 }, 1, true],
    ['5xx retries a connect failure', policy('5xx'), { failure: 'connect' }, 1, true],
    ['gateway-error: 502', policy('gateway-error'), { status: 502 }, 1, true],
    ['gateway-error: not 500', policy('gateway-error'), { status: 500 }, 1, false],
    ['retriable-status-codes alone does not retry a connect failure', policy('retriable-status-codes', 2, [503]), { failure: 'connect' }, 1, false],
    ['connect-failure', policy('connect-failure'), { failure: 'connect' }, 1, true],
    ['connect-failure is not a reset', policy('connect-failure'), { failure: 'reset' }, 1, false],
    ['reset', policy('reset'), { failure: 'reset' }, 1, true],
    ['4xx never retried by 5xx', policy('5xx'), { status: 404 }, 1, false],
    ['reset-before-request: a reset before the request went out', policy('reset-before-request'), { failure: 'reset-before-request' }, 1, true],
    ['reset-before-request: not a reset after it', policy('reset-before-request'), { failure: 'reset' }, 1, false],
    ['reset-before-request covers a failed connect', policy('reset-before-request'), { failure: 'connect' }, 1, true],
    ['refused-stream', policy('refused-stream'), { failure: 'refused' }, 1, true],
    ['a per-try timeout is retried under gateway-error (Envoy)', policy('gateway-error'), { failure: 'timeout' }, 1, true],
    ['a per-try timeout is retried under 5xx', policy('5xx'), { failure: 'timeout' }, 1, true],
    ['a per-try timeout is not retried under reset or connect-failure', policy('reset,connect-failure,retriable-status-codes', 2, [504]), { failure: 'timeout' }, 1, false],
    ["the Gateway API's retry: connect failures", policy('connect-failure,refused-stream,reset-before-request,retriable-status-codes', 2, [500]), { failure: 'connect' }, 1, true],
    ["the Gateway API's retry: not a reset after the request (it may have been processed)", policy('connect-failure,refused-stream,reset-before-request,retriable-status-codes', 2, [500]), { failure: 'reset' }, 1, false],
  ];
  it.each(cases)('%s', (_why, p, outcome, attempt, want) => {
    expect(shouldRetry(p, outcome, attempt)).toBe(want);
  });
});

describe('backoffDelayMs: fully jittered exponential, capped at 10 × base', () => {
  it.each([
    [1, 0.999, 24],
    [2, 0.999, 49],
    [3, 0.5, 50],
    [10, 0.999, 249],
    [1, 0, 0],
  ])('retry %i, random %f → %i ms', (retry, random, want) => {
    expect(backoffDelayMs(policy('5xx'), retry, random)).toBe(want);
  });
});

describe('mirrors: a share of requests by FractionalPercent', () => {
  it.each([
    [undefined, 0.999, true],
    [{ numerator: 35, denominator: 100 }, 0.349, true],
    [{ numerator: 35, denominator: 100 }, 0.35, false],
    [{ numerator: 333_333, denominator: 1_000_000 }, 0.3333, true],
    [{ numerator: 0, denominator: 100 }, 0, false],
  ])('fraction %j, random %f → %s', (fraction, random, want) => {
    expect(mirrors({ cluster: 'm', ...(fraction ? { fraction } : {}) }, random)).toBe(want);
  });
});

describe('remainingMs', () => {
  it.each([
    [5000, 0, 1000, 4000],
    [5000, 0, 6000, 0],
    [0, 0, 1_000_000, Number.POSITIVE_INFINITY],
  ])('timeout %i started %i now %i → %f', (timeout, started, now, want) => {
    expect(remainingMs(timeout, started, now)).toBe(want);
  });
});
