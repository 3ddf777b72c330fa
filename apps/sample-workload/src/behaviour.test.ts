import { describe, expect, it } from 'vitest';
import { RetryCounters, echoSetHeaders, parseGoDuration, requestBehaviour } from './behaviour.js';

describe('parseGoDuration', () => {
  it.each([
    ['1s', 1000],
    ['500ms', 500],
    ['1m30s', 90_000],
    ['1.5s', 1500],
    ['2h', 7_200_000],
    ['0', 0],
    ['10us', 0.01],
  ])('%s → %f ms', (text, ms) => expect(parseGoDuration(text)).toBeCloseTo(ms));
  it.each(['', '10', 's', '1x', '1s2'])('refuses %j', (text) => expect(parseGoDuration(text)).toBeUndefined());
});

describe('echoSetHeaders', () => {
  it('reads Name:value lists and joins a repeated name with commas, keeping its first spelling', () => {
    expect(echoSetHeaders(['X-Header-Set: set, X-Other:1', 'x-header-set:again'])).toEqual([
      ['X-Header-Set', 'set,again'],
      ['X-Other', '1'],
    ]);
  });
  it('ignores empty and nameless items', () => expect(echoSetHeaders(['', ',', ':v'])).toEqual([]));
});

describe('requestBehaviour', () => {
  it('delay, status path and response headers', () => {
    expect(requestBehaviour('/status/503?delay=250ms', ['A:1'], new RetryCounters())).toEqual({ ok: true, behaviour: { delayMs: 250, status: 503, headers: [['A', '1']] } });
    expect(requestBehaviour('/plain', [], new RetryCounters())).toEqual({ ok: true, behaviour: { delayMs: 0, headers: [] } });
  });

  it('the retry simulation fails the first succeedAfter requests of a uuid with responseCode, after delayRetry', () => {
    const counters = new RetryCounters();
    const ask = (uuid: string) => requestBehaviour(`/retry?responseCode=502&succeedAfter=2&delayRetry=100ms&uuid=${uuid}`, [], counters);
    expect([ask('a'), ask('a'), ask('b'), ask('a')].map((r) => r.ok && r.behaviour)).toEqual([
      { delayMs: 100, status: 502, headers: [] },
      { delayMs: 100, status: 502, headers: [] },
      { delayMs: 100, status: 502, headers: [] },
      { delayMs: 0, headers: [] },
    ]);
  });

  it('forgets the oldest keys past its capacity', () => {
    const counters = new RetryCounters(2);
    counters.next('a');
    counters.next('b');
    counters.next('c');
    expect(counters.next('a')).toBe(1);
    expect(counters.next('c')).toBe(2);
  });

  it.each([
    ['/?delay=soon', 'delay=soon is not a duration like 1s or 500ms'],
    ['/?succeedAfter=x', 'succeedAfter=x is not an integer 0-1000000'],
    ['/?succeedAfter=1&responseCode=700', 'responseCode=700 is not an integer 100-599'],
  ])('refuses %s', (target, message) => expect(requestBehaviour(target, [], new RetryCounters())).toEqual({ ok: false, message }));
});
