/**
 * What a request may ask the sample workload to do before it answers, in the Gateway API
 * conformance suite's echo server's terms (so the suite's requests work as written):
 *
 * - `?delay=<duration>` (Go syntax: `1s`, `500ms`, `1m30s`): answer that much later.
 * - `/status/<code>`: answer with that status and no body.
 * - `X-Echo-Set-Header: Name:value, Other:value`: set those response headers (repeats of a name
 *   are joined with commas).
 * - retry simulation, `?uuid=<key>&succeedAfter=<n>[&responseCode=<code>][&delayRetry=<duration>]`:
 *   the first n requests carrying that key answer `responseCode` (default 500) after
 *   `delayRetry`, later ones answer normally; a retrying proxy shows as the request succeeding.
 *
 * Pure but for the retry counters, which live in a bounded `RetryCounters`.
 */

export interface Behaviour {
  readonly delayMs: number;
  /** Answer with this status and no body instead of the normal answer. */
  readonly status?: number;
  /** Response headers to set, in order. */
  readonly headers: readonly (readonly [string, string])[];
}

export type BehaviourResult = { readonly ok: true; readonly behaviour: Behaviour } | { readonly ok: false; readonly message: string };

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go `time.ParseDuration` string in milliseconds; undefined when it is not one. */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    consumed = re.lastIndex;
  }
  return consumed > 0 && consumed === text.length ? total : undefined;
}

/** `X-Echo-Set-Header` values → headers, a repeated name's values joined with commas (echo-basic). */
export function echoSetHeaders(values: readonly string[]): [string, string][] {
  const out = new Map<string, [string, string]>();
  for (const list of values) {
    for (const item of list.split(',')) {
      const trimmed = item.trim();
      const colon = trimmed.indexOf(':');
      if (colon <= 0) continue;
      const name = trimmed.slice(0, colon);
      const value = trimmed.slice(colon + 1).trim();
      const key = name.toLowerCase();
      const prev = out.get(key);
      out.set(key, prev ? [prev[0], `${prev[1]},${value}`] : [name, value]);
    }
  }
  return [...out.values()];
}

/** How many requests each retry-simulation key has seen; the oldest keys are forgotten past `capacity`. */
export class RetryCounters {
  readonly #seen = new Map<string, number>();
  constructor(private readonly capacity = 10_000) {}

  /** Counts one more request for `key`; returns its number (1 = the first). */
  next(key: string): number {
    const n = (this.#seen.get(key) ?? 0) + 1;
    this.#seen.delete(key);
    this.#seen.set(key, n);
    if (this.#seen.size > this.capacity) this.#seen.delete(this.#seen.keys().next().value as string);
    return n;
  }
}

function integerParam(params: URLSearchParams, name: string, min: number, max: number): number | string | undefined {
  const raw = params.get(name);
  if (raw === null) return undefined;
  const n = Number(raw);
  return Number.isInteger(n) && n >= min && n <= max ? n : `${name}=${raw} is not an integer ${min}-${max}`;
}

function durationParam(params: URLSearchParams, name: string): number | string | undefined {
  const raw = params.get(name);
  if (raw === null) return undefined;
  return parseGoDuration(raw) ?? `${name}=${raw} is not a duration like 1s or 500ms`;
}

/** What `target` (path and query) and the request headers ask for. */
export function requestBehaviour(target: string, setHeader: readonly string[], counters: RetryCounters): BehaviourResult {
  const url = new URL(target, 'http://sample.invalid');
  const params = url.searchParams;
  const delay = durationParam(params, 'delay');
  if (typeof delay === 'string') return { ok: false, message: delay };
  const headers = echoSetHeaders(setHeader);
  const statusMatch = /^\/status\/(\d{3})$/.exec(url.pathname);
  let status = statusMatch ? Number(statusMatch[1]) : undefined;
  let delayMs = delay ?? 0;
  const succeedAfter = integerParam(params, 'succeedAfter', 0, 1_000_000);
  if (succeedAfter !== undefined) {
    if (typeof succeedAfter === 'string') return { ok: false, message: succeedAfter };
    const code = integerParam(params, 'responseCode', 100, 599) ?? 500;
    if (typeof code === 'string') return { ok: false, message: code };
    const delayRetry = durationParam(params, 'delayRetry') ?? 0;
    if (typeof delayRetry === 'string') return { ok: false, message: delayRetry };
    if (counters.next(params.get('uuid') ?? '') <= succeedAfter) {
      status = code;
      delayMs += delayRetry;
    }
  }
  return { ok: true, behaviour: { delayMs, ...(status !== undefined ? { status } : {}), headers } };
}
