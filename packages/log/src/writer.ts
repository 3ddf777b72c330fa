/**
 * Where log lines go: a queued writer that never makes the event loop wait for the reader of
 * stdout, and a file descriptor as its sink.
 */
import { write as fsWrite, writeSync } from 'node:fs';

/** Log bytes waiting to be written beyond which new lines are dropped (and counted), not queued. */
export const LOG_QUEUE_MAX_BYTES = 8 * 1024 * 1024;

/**
 * How long the first line waits for others before a write. One write per event-loop turn was one
 * per connection under connection churn, and each `fs.write` costs the event loop its submission
 * (≈ 60 µs of ztunnel's CPU per new connection, a sixth of it; docs/performance.md); a 10 ms window
 * makes it one write per dozen connections. Lines are late by at most this much (at exit they are
 * written at once).
 */
export const LOG_FLUSH_MS = 10;

/** Where log chunks go: asynchronously (one at a time), and synchronously at exit. */
export interface LogSink {
  write(chunk: string, done: () => void): void;
  writeSync(chunk: string): void;
}

/** A function that takes one log line (ending in `\n`); a queued one also counts what it dropped. */
export type LineWriter = (line: string) => void;
export type QueuedWriter = LineWriter & { dropped(): number };

/**
 * A log writer that never makes the event loop wait for the reader of stdout. Node writes stdout
 * synchronously when it is a pipe or a file, so with an access-log line per connection ztunnel
 * waited there whenever the reader (a container runtime, a disk) was behind: a tenth of its busy
 * time under connection churn (docs/performance.md). Here the lines of a `flushMs` window (one
 * event-loop turn with 0), and those that arrive while a write is under way, go out together in
 * the next write; at most
 * `maxQueuedBytes` wait, and lines beyond that are dropped and counted (a `warn` line in `scope`
 * says how many once there is room), as a lossy non-blocking log writer does. What waits at exit
 * is written synchronously.
 */
export function queuedWriter(sink: LogSink, maxQueuedBytes = LOG_QUEUE_MAX_BYTES, scope = 'log', flushMs = LOG_FLUSH_MS): QueuedWriter {
  let queue: string[] = [];
  let queued = 0;
  let writing = false;
  let dropped = 0;
  let reported = 0;
  // The timer does not keep the process alive: what waits at exit is written synchronously.
  const schedule = () => (flushMs > 0 ? setTimeout(next, flushMs).unref() : setImmediate(next));
  const written = () => {
    if (queue.length === 0 && dropped === reported) writing = false;
    else schedule();
  };
  const next = () => {
    if (dropped > reported) {
      queue.push(`${JSON.stringify({ time: new Date().toISOString(), level: 'warn', scope, msg: 'log lines dropped: stdout is not read fast enough', dropped: dropped - reported })}\n`);
      reported = dropped;
    }
    if (queue.length === 0) {
      writing = false;
      return;
    }
    const chunk = queue.join('');
    queue = [];
    queued = 0;
    sink.write(chunk, written);
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
      schedule();
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
        // the descriptor is closed or full at exit: nothing more can be done
      }
    },
  };
}
