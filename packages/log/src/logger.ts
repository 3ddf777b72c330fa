/**
 * Structured JSON logs, one object per line: `{"time","level","scope","msg",...fields}` (apps
 * log; packages only publish events on `node:diagnostics_channel`). Each scope has a level that
 * can change at runtime (the proxies' admin `/logging?<scope>=<level>`, as in Envoy and ztunnel).
 * The `access` scope can be its own stream (`streams.access`), as Envoy's access log is apart
 * from its application log.
 *
 * Hand-rolled rather than pino: the line is formatted with one `JSON.stringify` of the fields
 * and a prefix cached per scope and level, which measured faster than pino (and a little faster
 * than the proxies' previous logger) on the access-log hot path (packages/log/bench/log.bench.mjs;
 * docs/performance.md, "Logging").
 */
import { fdLogSink, queuedWriter, type LineWriter } from './writer.js';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'off'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** The levels a line can have (`off` only silences a scope). */
export type EmitLevel = Exclude<LogLevel, 'off'>;
export type LogFields = Record<string, unknown>;

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, off: 4 };

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/** One logger per process, with a level per scope. */
export interface Logger<S extends string = string> {
  readonly scopes: readonly S[];
  /** The current level of each scope (read by the admin `/logging` endpoint). */
  readonly levels: Readonly<Record<S, LogLevel>>;
  log(scope: S, level: EmitLevel, msg: string, fields?: LogFields): void;
  /** Whether a line of `level` in `scope` would be written (to skip building costly fields). */
  enabled(scope: S, level: EmitLevel): boolean;
  setLevel(scope: S | 'all', level: LogLevel): void;
  /** The same logger bound to one scope. */
  scoped(scope: S): ScopedLogger;
}

export interface ScopedLogger {
  log(level: EmitLevel, msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export interface LoggerOptions<S extends string> {
  scopes: readonly S[];
  /** Every scope's level at start (default `info`). */
  level?: LogLevel;
  /** Where lines go (default: queued, non-blocking writes to stdout). */
  write?: LineWriter;
  /** Scopes with a stream of their own, e.g. `{ access: … }`; the others go to `write`. */
  streams?: Partial<Record<S, LineWriter>>;
}

/** Queued, non-blocking writes to a file descriptor (1: stdout, 2: stderr). */
export function fdWriter(fd: 1 | 2 | number, dropScope?: string): LineWriter {
  return queuedWriter(fdLogSink(fd), undefined, dropScope);
}

export function createLogger<S extends string>(options: LoggerOptions<S>): Logger<S> {
  const { scopes } = options;
  const write = options.write ?? fdWriter(1);
  const levels = Object.fromEntries(scopes.map((s) => [s, options.level ?? 'info'])) as Record<S, LogLevel>;
  const writers = Object.fromEntries(scopes.map((s) => [s, options.streams?.[s] ?? write])) as Record<S, LineWriter>;
  // `","level":"<level>","scope":<scope>,"msg":` per scope and level, built once.
  const prefixes = Object.fromEntries(
    scopes.map((s) => [s, Object.fromEntries(LOG_LEVELS.map((l) => [l, `","level":"${l}","scope":${JSON.stringify(s)},"msg":`]))]),
  ) as Record<S, Record<LogLevel, string>>;
  const logger: Logger<S> = {
    scopes,
    levels,
    enabled: (scope, level) => RANK[level] >= RANK[levels[scope]],
    log(scope, level, msg, fields) {
      if (RANK[level] < RANK[levels[scope]]) return;
      // Same JSON as stringify({ time, level, scope, msg, ...fields }): a field named like a
      // leading key comes again later, and the later one wins when the line is parsed.
      const rest = fields === undefined ? '}' : fieldsJson(fields);
      writers[scope](`{"time":"${new Date().toISOString()}${prefixes[scope][level]}${JSON.stringify(msg)}${rest}\n`);
    },
    setLevel(scope, level) {
      for (const s of scope === 'all' ? scopes : [scope]) levels[s] = level;
    },
    scoped: (scope) => scopedLogger(logger, scope),
  };
  return logger;
}

/** `,"k":v,…}` for the fields, or `}` when they add nothing. */
function fieldsJson(fields: LogFields): string {
  const json = JSON.stringify(fields);
  return json.length <= 2 ? '}' : `,${json.slice(1)}`;
}

function scopedLogger<S extends string>(logger: Logger<S>, scope: S): ScopedLogger {
  return {
    log: (level, msg, fields) => logger.log(scope, level, msg, fields),
    debug: (msg, fields) => logger.log(scope, 'debug', msg, fields),
    info: (msg, fields) => logger.log(scope, 'info', msg, fields),
    warn: (msg, fields) => logger.log(scope, 'warn', msg, fields),
    error: (msg, fields) => logger.log(scope, 'error', msg, fields),
  };
}

export type MemoryLogger<S extends string> = Logger<S> & { entries: Array<Record<string, unknown>> };

/** A logger that keeps its lines as parsed entries, every scope at `debug`, for tests. */
export function createMemoryLogger<S extends string>(scopes: readonly S[]): MemoryLogger<S> {
  const entries: Array<Record<string, unknown>> = [];
  const logger = createLogger({ scopes, level: 'debug', write: (line) => void entries.push(JSON.parse(line) as Record<string, unknown>) });
  return Object.assign(logger, { entries });
}

/**
 * Applies an admin `/logging` query (`?level=<l>` for every scope, `?<scope>=<l>` for one) and
 * says what to answer: the levels after the change, or what was wrong with the query.
 */
export function applyLoggingQuery<S extends string>(logger: Logger<S>, query: URLSearchParams): { status: 200 | 400; body: Record<string, unknown> } {
  for (const [key, value] of query) {
    if (!isLogLevel(value)) return { status: 400, body: { error: `unknown level ${value}; use ${LOG_LEVELS.join(', ')}` } };
    if (key === 'level') logger.setLevel('all', value);
    else if ((logger.scopes as readonly string[]).includes(key)) logger.setLevel(key as S, value);
    else return { status: 400, body: { error: `unknown scope ${key}; use level or ${logger.scopes.join(', ')}` } };
  }
  return { status: 200, body: { levels: logger.levels } };
}
