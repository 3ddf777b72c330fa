import { spawn } from 'node:child_process';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { fdLogSink, LOG_FLUSH_MS, queuedWriter, type LogSink } from './writer.js';

/** A sink whose writes complete when the test says so. */
function heldSink() {
  const writes: string[] = [];
  const pending: Array<() => void> = [];
  const sink: LogSink = {
    write: (chunk, done) => {
      writes.push(chunk);
      pending.push(done);
    },
    writeSync: (chunk) => void writes.push(`sync:${chunk}`),
  };
  return { sink, writes, complete: () => pending.shift()?.() };
}

const msgs = (chunk: string | undefined) => (chunk ?? '').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { msg: string }).msg);

describe('queuedWriter', () => {
  /** Past the writer's flush window (its timer was set first, so it fires first). */
  const window = () => sleep(LOG_FLUSH_MS + 5);

  it('writes the lines of a flush window together, in order, and what came during a write in the next window', async () => {
    const { sink, writes, complete } = heldSink();
    const logger = createLogger({ scopes: ['access'], write: queuedWriter(sink), level: 'info' });
    logger.log('access', 'info', 'one');
    logger.log('access', 'info', 'two');
    logger.log('access', 'debug', 'not at this level');
    await nextTurn();
    expect(writes).toEqual([]); // the window is still open
    logger.log('access', 'info', 'three');
    await window();
    expect(writes.map(msgs)).toEqual([['one', 'two', 'three']]);
    logger.log('access', 'info', 'four');
    logger.log('access', 'info', 'five');
    await window();
    expect(writes).toHaveLength(1); // the first write is still under way
    complete();
    expect(writes).toHaveLength(1);
    await window();
    expect(writes.map(msgs)).toEqual([['one', 'two', 'three'], ['four', 'five']]);
    complete();
    await window();
    expect(writes).toHaveLength(2); // nothing more to write: no empty write
  });

  it('with a window of 0, writes the lines of one event-loop turn together', async () => {
    const { sink, writes, complete } = heldSink();
    const write = queuedWriter(sink, undefined, 'log', 0);
    write('{"msg":"one"}\n');
    write('{"msg":"two"}\n');
    expect(writes).toEqual([]);
    await nextTurn();
    expect(writes.map(msgs)).toEqual([['one', 'two']]);
    write('{"msg":"three"}\n');
    complete();
    await nextTurn();
    expect(writes.map(msgs)).toEqual([['one', 'two'], ['three']]);
  });

  it('drops lines beyond its queue while the reader is behind, counts them and says so once there is room', async () => {
    const { sink, writes, complete } = heldSink();
    const write = queuedWriter(sink, 1000);
    write('first\n');
    await window();
    const line = `${'x'.repeat(99)}\n`;
    for (let i = 0; i < 15; i++) write(line);
    expect(write.dropped()).toBe(5);
    complete();
    await window();
    expect(writes[1]!.split('\n').filter((l) => l === line.trim())).toHaveLength(10);
    expect(JSON.parse(writes[1]!.trim().split('\n').at(-1)!)).toMatchObject({ level: 'warn', msg: expect.stringContaining('dropped'), dropped: 5 });
  });
});

describe('fdLogSink', () => {
  it('never makes the event loop wait for a reader that is behind, and delivers every line in order', async () => {
    // The reader starts reading after 1 s; the pipe holds 64 KiB, the lines are 2 MiB.
    const reader = spawn('sh', ['-c', 'sleep 1; exec cat'], { stdio: ['pipe', 'pipe', 'ignore'] });
    const fd = (reader.stdin as unknown as { _handle: { fd: number } })._handle.fd;
    const received: Buffer[] = [];
    reader.stdout.on('data', (c: Buffer) => received.push(c));
    const write = queuedWriter(fdLogSink(fd));
    const lines = Array.from({ length: 20_000 }, (_, i) => `${String(i).padStart(99, '0')}\n`);
    for (const line of lines) write(line);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    await sleep(500);
    clearInterval(ticker);
    // The event loop ran its timers while the pipe was full (a blocking write would have held it
    // until the reader started: one late tick at most).
    expect(ticks).toBeGreaterThan(5);
    const deadline = Date.now() + 30_000;
    while (Buffer.concat(received).length < lines.length * 100 && Date.now() < deadline) await sleep(50);
    reader.stdin.destroy();
    reader.kill();
    expect(Buffer.concat(received).toString()).toBe(lines.join(''));
    expect(write.dropped()).toBe(0);
  });
});
