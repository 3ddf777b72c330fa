/**
 * Waiting for an asynchronous effect (a log line, a metric, a pushed config, a process state)
 * with a deadline. On a busy machine a test must neither read once, too early, nor sleep a fixed
 * time and hope: it polls until the effect shows, and when the deadline passes it fails naming
 * what it waited for and what it saw last, so the failure explains itself.
 *
 * The deadline is generous on purpose: a wait that succeeds returns as soon as the effect shows,
 * so only a failing test pays for it. A single attempt that hangs (a connection into a dead
 * link) is cut off at the deadline too.
 */
import { once, type EventEmitter } from 'node:events';
import { inspect } from 'node:util';

/** How long a wait lasts unless told otherwise. */
export const WAIT_TIMEOUT_MS = 15_000;
/** Pause between two attempts. */
export const WAIT_INTERVAL_MS = 50;
const LAST_SEEN_MAX_CHARS = 4_000;

export interface WaitOptions {
  /** What is awaited, for the failure message ("ztunnel node-b ready"). */
  what?: string;
  timeoutMs?: number;
  intervalMs?: number;
  /** What to report on failure instead of the last attempt's result (e.g. a process's output). */
  lastSeen?: () => unknown;
  /** Checked before each attempt: a reason here ends the wait at once (e.g. the process exited). */
  giveUpIf?: () => string | undefined | false;
}

/** A wait that ran out of time (or gave up); the message says what was last seen. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
  constructor(
    message: string,
    /** The last attempt's value or error, or what `lastSeen` returned. */
    readonly lastSeen: unknown,
  ) {
    super(message);
  }
}

type Falsy = undefined | null | false | 0 | '';
type Attempt<T> = { done: true; value: T } | { done: false; seen: unknown };

/**
 * Polls `check` until it returns a truthy value, and resolves with that value. A falsy result or
 * a thrown error means "not yet"; after the deadline it rejects with a WaitTimeoutError naming
 * `what` and the last result or error.
 *
 *   const line = await waitFor(() => logs.find((e) => e.msg === 'ready'), 20_000, 'ready log line');
 */
export async function waitFor<T>(check: () => T | Promise<T>, options?: WaitOptions | number, what?: string): Promise<Exclude<T, Falsy>> {
  return poll(normalize(options, what), async (): Promise<Attempt<Exclude<T, Falsy>>> => {
    const value = await check();
    return value ? { done: true, value: value as Exclude<T, Falsy> } : { done: false, seen: value };
  });
}

/**
 * Retries `assertion` until it does not throw, and resolves with what it returned. Suits
 * `expect(...)` inside: the failure shows the last assertion's own message.
 *
 *   await eventually(async () => expect(await answer('sleep', VIP)).toBe('ratings-v1'), { what: 'DENY lifted' });
 */
export async function eventually<T>(assertion: () => T | Promise<T>, options?: WaitOptions | number, what?: string): Promise<T> {
  return poll(normalize(options, what), async (): Promise<Attempt<T>> => ({ done: true, value: await assertion() }));
}

/**
 * The arguments of the next `event` from `emitter` (as `events.once`, which an 'error' event
 * rejects), or a WaitTimeoutError naming the event after the deadline.
 */
export async function nextEvent<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, options?: WaitOptions | number, what?: string): Promise<T> {
  const { timeoutMs = WAIT_TIMEOUT_MS, what: description = `the '${event}' event` } = normalize(options, what);
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    return (await once(emitter, event, { signal })) as T;
  } catch (err) {
    if (signal.aborted) throw new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for ${description}; last seen: no '${event}' event`, undefined);
    throw err;
  }
}

function normalize(options: WaitOptions | number | undefined, what: string | undefined): WaitOptions {
  if (typeof options === 'number') return { timeoutMs: options, ...(what === undefined ? {} : { what }) };
  return { ...(what === undefined ? {} : { what }), ...options };
}

const NOT_DONE = Symbol('still running at the deadline');

async function poll<T>(options: WaitOptions, attempt: () => Promise<Attempt<T>>): Promise<T> {
  const timeoutMs = options.timeoutMs ?? WAIT_TIMEOUT_MS;
  const intervalMs = options.intervalMs ?? WAIT_INTERVAL_MS;
  const what = options.what ?? 'a condition';
  const deadline = Date.now() + timeoutMs;
  const NONE = '(no attempt finished before the deadline)';
  let seen: unknown = NONE;
  const fail = (why: string) => {
    const last = options.lastSeen ? options.lastSeen() : seen;
    return new WaitTimeoutError(`${why} waiting for ${what}; last seen: ${describe(last)}`, last);
  };
  for (;;) {
    const reason = options.giveUpIf?.();
    if (reason) throw fail(`gave up (${reason})`);
    let timer: NodeJS.Timeout | undefined;
    const cutOff = new Promise<typeof NOT_DONE>((resolve) => (timer = setTimeout(() => resolve(NOT_DONE), Math.max(0, deadline - Date.now()))));
    try {
      const result = await Promise.race([attempt().catch((err: unknown): Attempt<T> => ({ done: false, seen: err })), cutOff]);
      if (result === NOT_DONE) {
        // Cut off in flight: report the last attempt that finished, if one did.
      } else if (result.done) {
        return result.value;
      } else {
        seen = result.seen;
      }
    } finally {
      clearTimeout(timer);
    }
    if (Date.now() >= deadline) throw fail(`timed out after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}

function describe(value: unknown): string {
  let text: string;
  if (value instanceof Error) text = value.message.includes(value.name) ? value.message : `${value.name}: ${value.message}`;
  else if (typeof value === 'string' && value !== '') text = value;
  else text = inspect(value, { depth: 4, breakLength: 160 });
  if (text.length > LAST_SEEN_MAX_CHARS) text = `…${text.slice(-LAST_SEEN_MAX_CHARS)}`;
  return text.includes('\n') ? `\n${text}` : text;
}
