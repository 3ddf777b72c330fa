/**
 * Structured JSON logs, one object per line on stdout (apps log; packages only publish events
 * on `node:diagnostics_channel`). Scopes (`access`, `xds`, `cert`, `proxy`, `admin`, `rbac`: Envoy's logger
 * name, dry-run results at debug; `dns`: a line per DNS query, ztunnel's `dns` target) have levels that `/logging?<scope>=<level>` changes at
 * runtime, as in Envoy and ztunnel.
 */
import { write as fsWrite, writeSync } from 'node:fs';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'off'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_SCOPES = ['access', 'xds', 'cert', 'proxy', 'admin', 'rbac', 'dns'] as const;
export type LogScope = (typeof LOG_SCOPES)[number];

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, off: 4 };

export interface Logger {
  readonly levels: Record<LogScope, LogLevel>;
  log(scope: LogScope, level: Exclude<LogLevel, 'off'>, msg: string, fields?: Record<string, unknown>): void;
  setLevel(scope: LogScope | 'all', level: LogLevel): void;
}

/** Log bytes waiting to be written beyond which new lines are dropped (and counted), not queued. */
export const LOG_QUEUE_MAX_BYTES = 8 * 1024 * 1024;

/** Where log chunks go: asynchronously (one at a time), and synchronously at exit. */
export interface LogSink {
  write(chunk: string, done: () => void): void;
  writeSync(chunk: string): void;
}

/**
 * A log writer that never makes the event loop wait for the reader of stdout. Node writes stdout
 * synchronously when it is a pipe or a file, so with an access-log line per connection ztunnel
 * waited there whenever the reader (a container runtime, a disk) was behind: a tenth of its busy
 * time under connection churn (docs/performance.md). Here the lines of one event-loop turn, and
 * those that arrive while a write is under way, go out together in the next write; at most
 * `maxQueuedBytes` wait, and lines beyond that are dropped and counted (a `warn` line says how
 * many once there is room), as a lossy non-blocking log writer does. What waits at exit is
 * written synchronously.
 */
export function queuedWriter(sink: LogSink, maxQueuedBytes = LOG_QUEUE_MAX_BYTES): ((line: string) => void) & { dropped(): number } {
  let queue: string[] = [];
  let queued = 0;
  let writing = false;
  let dropped = 0;
  let reported = 0;
  const next = () => {
    if (dropped > reported) {
      queue.push(`${JSON.stringify({ time: new Date().toISOString(), level: 'warn', scope: 'proxy', msg: 'log lines dropped: stdout is not read fast enough', dropped: dropped - reported })}\n`);
      reported = dropped;
    }
    if (queue.length === 0) {
      writing = false;
      return;
    }
    const chunk = queue.join('');
    queue = [];
    queued = 0;
    sink.write(chunk, next);
  };
  process.once('exit', () => {
    if (queue.length > 0) sink.writeSync(queue.join(''));
  });
  const write = (line: string) => {
    if (queued + line.length > maxQueuedBytes) {
      dropped++;
      return;
    }
    queue.push(line);
    queued += line.length;
    if (!writing) {
      writing = true;
      setImmediate(next);
    }
  };
  return Object.assign(write, { dropped: () => dropped });
}

/**
 * A file descriptor as a LogSink: writes run on libuv's thread pool (`fs.write`), resumed after a
 * partial write and retried shortly when the descriptor is non-blocking and full; a write error
 * (stdout closed) drops the chunk.
 */
export function fdLogSink(fd: number): LogSink {
  const writeAll = (bytes: Buffer, done: () => void): void =>
    fsWrite(fd, bytes, 0, bytes.length, null, (err, written) => {
      if (err?.code === 'EAGAIN') setTimeout(() => writeAll(bytes, done), 10);
      else if (!err && written < bytes.length) writeAll(bytes.subarray(written), done);
      else done();
    });
  return {
    write: (chunk, done) => writeAll(Buffer.from(chunk), done),
    writeSync(chunk) {
      try {
        writeSync(fd, chunk);
      } catch {
        // stdout closed or full at exit: nothing more can be done
      }
    },
  };
}

export function createLogger(write: (line: string) => void = queuedWriter(fdLogSink(1)), defaultLevel: LogLevel = 'info'): Logger {
  const levels = Object.fromEntries(LOG_SCOPES.map((s) => [s, defaultLevel])) as Record<LogScope, LogLevel>;
  return {
    levels,
    log(scope, level, msg, fields = {}) {
      if (RANK[level] < RANK[levels[scope]]) return;
      write(`${JSON.stringify({ time: new Date().toISOString(), level, scope, msg, ...fields })}\n`);
    },
    setLevel(scope, level) {
      for (const s of scope === 'all' ? LOG_SCOPES : [scope]) levels[s] = level;
    },
  };
}

/** A logger that keeps entries, for tests. */
export function createMemoryLogger(): Logger & { entries: Array<Record<string, unknown>> } {
  const entries: Array<Record<string, unknown>> = [];
  const logger = createLogger((line) => void entries.push(JSON.parse(line) as Record<string, unknown>), 'debug');
  return Object.assign(logger, { entries });
}
