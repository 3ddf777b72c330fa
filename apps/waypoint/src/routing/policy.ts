/**
 * Pure decisions of the request path: which weighted cluster, whether an attempt's outcome is
 * retried, how long to back off, how much of the request timeout is left, whether a mirror
 * copies this request. Envoy semantics:
 * - weighted_clusters: a uniform draw over the total weight.
 * - retry_on (router docs): `retriable-status-codes` retries the listed codes; `5xx` any 5xx and
 *   any failure to get an answer; `gateway-error` 502/503/504 and the same failures; `reset` a
 *   failure to get an answer (disconnect, reset, timeout); `reset-before-request` a reset before
 *   the request was sent; `connect-failure` a connection that could not be made;
 *   `refused-stream` an HTTP/2 REFUSED_STREAM. A per-try timeout is retried only under `5xx`
 *   or `gateway-error` (Envoy's RetryStateImpl). `num_retries` retries after the first attempt.
 * - backoff: fully jittered exponential, base × 2^(retry-1), capped at 10 × base.
 * - the route timeout covers all attempts and the backoff; when it fires the answer is 504.
 */
import type { MirrorPolicy, RetryPolicy, WeightedCluster } from './routes.js';

/** `random` in [0, 1). Clusters with weight ≤ 0 are never chosen. */
export function pickWeighted<C extends Pick<WeightedCluster, 'weight'>>(clusters: readonly C[], random: number): C | undefined {
  const total = clusters.reduce((sum, c) => sum + Math.max(0, c.weight), 0);
  if (total <= 0) return undefined;
  let point = random * total;
  for (const c of clusters) {
    if (c.weight <= 0) continue;
    if (point < c.weight) return c;
    point -= c.weight;
  }
  return clusters.filter((c) => c.weight > 0).at(-1);
}

/** How an attempt failed to get an answer. */
export type AttemptFailure = 'connect' | 'refused' | 'reset-before-request' | 'reset' | 'timeout';

/** What one attempt produced: a response status, or a failure to get one. */
export type AttemptOutcome = { readonly status: number } | { readonly failure: AttemptFailure };

/** Whether `outcome` of attempt number `attempt` (1 = the first try) is retried under `policy`. */
export function shouldRetry(policy: RetryPolicy | undefined, outcome: AttemptOutcome, attempt: number): boolean {
  if (!policy || attempt > policy.numRetries) return false;
  const on = policy.retryOn;
  if ('failure' in outcome) {
    if (on.has('5xx') || on.has('gateway-error')) return true;
    switch (outcome.failure) {
      case 'timeout':
        return false;
      case 'connect':
        return on.has('connect-failure') || on.has('reset') || on.has('reset-before-request');
      case 'refused':
        return on.has('refused-stream') || on.has('reset') || on.has('reset-before-request');
      case 'reset-before-request':
        return on.has('reset') || on.has('reset-before-request');
      case 'reset':
        return on.has('reset');
    }
  }
  const s = outcome.status;
  if (on.has('retriable-status-codes') && policy.retriableStatusCodes.includes(s)) return true;
  if (on.has('5xx') && s >= 500 && s <= 599) return true;
  return on.has('gateway-error') && (s === 502 || s === 503 || s === 504);
}

/** Delay before retry number `retry` (1 = first retry); `random` in [0, 1). */
export function backoffDelayMs(policy: RetryPolicy, retry: number, random: number): number {
  const ceiling = Math.min(policy.backoffBaseMs * 2 ** (retry - 1), policy.backoffBaseMs * 10);
  return Math.floor(random * ceiling);
}

/** Milliseconds left of a route timeout started at `startedAt`; Infinity when there is none (0). */
export function remainingMs(timeoutMs: number, startedAt: number, now: number): number {
  return timeoutMs <= 0 ? Number.POSITIVE_INFINITY : Math.max(0, timeoutMs - (now - startedAt));
}

/** Whether this request is copied to the mirror; `random` in [0, 1). */
export function mirrors(policy: MirrorPolicy, random: number): boolean {
  return policy.fraction === undefined || random * policy.fraction.denominator < policy.fraction.numerator;
}
