/**
 * Hostile input for an HBONE port (15008): each attack does one class of thing a peer should not
 * do, many times, and says what the server answered. Tests run them one by one against a real
 * server (an HboneServer process, a ztunnel, a waypoint), then check that the port still serves
 * a valid tunnel and that the server's memory stayed bounded; docs/operations.md lists the
 * answers ("Hostile input").
 *
 * An attack never throws for what the server does (a reset, a close, silence): that is its answer.
 */
import { randomBytes } from 'node:crypto';
import { connect as h2connect, constants as h2constants, type ClientHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { tlsAlertName } from '../tls.js';
import { FLAG, FRAME, FrameLog, PREFACE, connectFrame, frame, headerBlock, rstStreamFrame, settingsFrame } from './h2-frames.js';

export interface HostileTarget {
  /** A new TCP connection to the HBONE port (started; may still be connecting). */
  connect(): Socket;
  /** A valid client certificate (key, chain, and the root to verify the server with). */
  clientContext: SecureContext;
  /** The mesh root alone, for clients without a certificate. */
  rootPem: string;
  /** `ip:port` whose tunnel the server accepts and that echoes (the proof the port still serves). */
  echoAuthority: string;
  /** How long to wait for the server's answer to one attack connection (default 5 s). */
  answerTimeoutMs?: number;
}

export interface AttackResult {
  /** How many times the input was sent (connections, streams or frames, as `unit` says). */
  count: number;
  unit: string;
  /** What the server answered, in words: `TLS alert certificate_required ×50`, `GOAWAY ENHANCE_YOUR_CALM`. */
  answer: string;
  /**
   * Closes what the attack keeps open on purpose (the half-open handshakes), so the caller can
   * check the port while it is under that load and release it afterwards.
   */
  release?: () => void;
}

export interface Attack {
  /** The input class (a row of the table in docs/operations.md). */
  name: string;
  run(target: HostileTarget): Promise<AttackResult>;
}

const H2_CODE_NAMES = ['NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED'];
const codeName = (code: number) => H2_CODE_NAMES[code] ?? `code ${code}`;

function timeoutOf(target: HostileTarget): number {
  return target.answerTimeoutMs ?? 5_000;
}

/** Resolves when `socket` closes, or after `ms` (then destroys it): true if the server closed it. */
function closedWithin(socket: Socket | TLSSocket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(true);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function tally(outcomes: string[]): string {
  const counts = new Map<string, number>();
  for (const o of outcomes) counts.set(o, (counts.get(o) ?? 0) + 1);
  return [...counts].map(([o, n]) => `${o} ×${n}`).join(', ');
}

/** Runs `fn` for 0..n-1, `concurrency` at a time. */
async function inParallel<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      for (let i = next++; i < n; i = next++) out[i] = await fn(i);
    }),
  );
  return out;
}

/** A TLS connection with ALPN h2 and the valid client certificate, after its handshake (or its failure). */
function tlsTo(target: HostileTarget, options: { context?: SecureContext; alpn?: string[] } = {}): Promise<{ socket: TLSSocket; error?: Error }> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      socket: target.connect(),
      secureContext: options.context ?? target.clientContext,
      ALPNProtocols: options.alpn ?? ['h2'],
      checkServerIdentity: () => undefined,
    });
    socket.once('secureConnect', () => resolve({ socket }));
    socket.once('error', (error) => resolve({ socket, error }));
  });
}

/** The alert (or other error) that ends a TLS connection within the timeout, after a first read. */
async function tlsOutcome(target: HostileTarget, options: { context?: SecureContext; alpn?: string[] }): Promise<string> {
  const { socket, error } = await tlsTo(target, options);
  if (error) return describeTlsError(error);
  // TLS 1.3: a refusal of our certificate arrives after our handshake, with the first read.
  const late = await new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve(`accepted (ALPN ${String(socket.alpnProtocol)})`), timeoutOf(target));
    socket.once('error', (err) => {
      clearTimeout(timer);
      resolve(describeTlsError(err));
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve('closed after the handshake');
    });
    socket.write(PREFACE);
  });
  socket.destroy();
  return late;
}

function describeTlsError(err: Error): string {
  const alert = tlsAlertName(err);
  return alert ? `TLS alert ${alert}` : `closed (${(err as { code?: string }).code ?? err.message})`;
}

/** An HTTP/2 connection at the frame level: preface and empty SETTINGS sent, frames logged. */
async function rawSession(target: HostileTarget, settings: Array<[number, number]> = []): Promise<{ socket: TLSSocket; log: FrameLog }> {
  const { socket, error } = await tlsTo(target);
  if (error) throw error;
  const log = new FrameLog(socket);
  socket.write(Buffer.concat([PREFACE, settingsFrame(settings)]));
  return { socket, log };
}

function waitUntil(check: () => boolean, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const started = Date.now();
    const tick = () => {
      if (check()) return resolve(true);
      if (Date.now() - started > ms) return resolve(false);
      setTimeout(tick, 20);
    };
    tick();
  });
}

function sessionEnd(log: FrameLog): string {
  const goaway = log.goaway.at(-1);
  if (goaway) return `GOAWAY ${codeName(goaway.code)}`;
  return log.closed ? 'connection closed' : 'connection open';
}

/** Writes `chunks` as fast as the socket takes them; stops quietly when the server closes it. */
async function flood(socket: TLSSocket, chunks: Iterable<Buffer>): Promise<number> {
  let written = 0;
  for (const chunk of chunks) {
    if (socket.destroyed || !socket.writable) break;
    if (!socket.write(chunk)) await new Promise<void>((r) => {
      const done = () => {
        socket.off('close', done);
        socket.off('drain', done);
        r();
      };
      socket.once('drain', done);
      socket.once('close', done);
    });
    written++;
  }
  return written;
}

function* repeat<T>(n: number, make: (i: number) => T): Generator<T> {
  for (let i = 0; i < n; i++) yield make(i);
}

export const HOSTILE_ATTACKS: Attack[] = [
  {
    name: 'plaintext garbage (no TLS)',
    async run(target) {
      const n = 200;
      const outcomes = await inParallel(n, 50, async (i) => {
        const socket = target.connect();
        socket.on('error', () => undefined);
        let answered = 0;
        socket.on('data', (d: Buffer) => (answered += d.length));
        socket.write(i % 2 === 0 ? randomBytes(1024) : Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
        const closed = await closedWithin(socket, timeoutOf(target));
        return closed ? (answered > 0 ? 'TLS alert, closed' : 'closed') : 'left open';
      });
      return { count: n, unit: 'connections', answer: tally(outcomes) };
    },
  },
  {
    name: 'TLS without a client certificate',
    async run(target) {
      const n = 50;
      const context = createSecureContext({ ca: target.rootPem, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
      const outcomes = await inParallel(n, 10, () => tlsOutcome(target, { context }));
      return { count: n, unit: 'connections', answer: tally(outcomes) };
    },
  },
  {
    name: 'wrong ALPN (http/1.1, none)',
    async run(target) {
      const n = 50;
      const outcomes = await inParallel(n, 10, (i) => tlsOutcome(target, { alpn: i % 2 === 0 ? ['http/1.1'] : ['h3', 'spdy/3'] }));
      return { count: n, unit: 'connections', answer: tally(outcomes) };
    },
  },
  {
    name: 'HTTP/2 preface, then garbage frames',
    async run(target) {
      const n = 50;
      const outcomes = await inParallel(n, 10, async (i) => {
        const { socket, log } = await rawSession(target);
        // A frame header announcing 16 MiB, a HEADERS frame of random bytes, or plain noise.
        const garbage = [Buffer.from([0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]), frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, randomBytes(64)), randomBytes(4096)][i % 3]!;
        socket.write(garbage);
        await closedWithin(socket, timeoutOf(target));
        return sessionEnd(log);
      });
      return { count: n, unit: 'connections', answer: tally(outcomes) };
    },
  },
  {
    name: 'CONNECT flood past the concurrent-stream limit (1,200 open streams on one connection)',
    async run(target) {
      const n = 1200;
      const { socket, log } = await rawSession(target);
      await flood(socket, repeat(n, (i) => connectFrame(1 + 2 * i, target.echoAuthority)));
      await waitUntil(() => log.responses.size + log.resets.size >= n || log.goaway.length > 0 || log.closed, 3 * timeoutOf(target));
      const ok = [...log.responses.values()].filter((s) => s === 200).length;
      const refused = [...log.resets.values()].filter((c) => c === h2constants.NGHTTP2_REFUSED_STREAM).length;
      socket.destroy();
      return { count: n, unit: 'streams', answer: `200 ×${ok}, RST_STREAM REFUSED_STREAM ×${refused}, ${sessionEnd(log)}` };
    },
  },
  {
    name: 'HTTP/2 rapid reset (CONNECT then RST_STREAM, 10,000 times)',
    async run(target) {
      const n = 10_000;
      const { socket, log } = await rawSession(target);
      const sent = await flood(socket, repeat(n, (i) => Buffer.concat([connectFrame(1 + 2 * i, target.echoAuthority), rstStreamFrame(1 + 2 * i, h2constants.NGHTTP2_CANCEL)])));
      await waitUntil(() => log.closed || log.goaway.length > 0, timeoutOf(target));
      socket.destroy();
      return { count: sent, unit: 'streams', answer: sessionEnd(log) };
    },
  },
  {
    name: 'CONTINUATION flood (a header block that never ends)',
    async run(target) {
      const n = 2000;
      const { socket, log } = await rawSession(target);
      const block = headerBlock([[':method', 'CONNECT'], [':authority', target.echoAuthority]]);
      const filler = headerBlock([['x-filler', 'a'.repeat(8000)]]);
      const sent = await flood(socket, [frame(FRAME.HEADERS, 0, 1, block), ...repeat(n, () => frame(FRAME.CONTINUATION, 0, 1, filler))]);
      await waitUntil(() => log.closed || log.goaway.length > 0, timeoutOf(target));
      socket.destroy();
      return { count: sent, unit: 'frames', answer: sessionEnd(log) };
    },
  },
  {
    name: 'SETTINGS flood (10,000, ACKs never read)',
    async run(target) {
      const n = 10_000;
      const { socket, log } = await rawSession(target);
      socket.pause();
      const sent = await flood(socket, repeat(n, () => settingsFrame([[h2constants.NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 4096]])));
      socket.resume();
      await waitUntil(() => log.closed || log.goaway.length > 0, timeoutOf(target));
      socket.destroy();
      return { count: sent, unit: 'frames', answer: `${sessionEnd(log)} (${log.settingsAcks} ACKs read)` };
    },
  },
  {
    name: 'PING flood (10,000, ACKs never read)',
    async run(target) {
      const n = 10_000;
      const { socket, log } = await rawSession(target);
      socket.pause();
      const sent = await flood(socket, repeat(n, (i) => frame(FRAME.PING, 0, 0, Buffer.from(i.toString(16).padStart(16, '0'), 'hex'))));
      socket.resume();
      await waitUntil(() => log.closed || log.goaway.length > 0, timeoutOf(target));
      socket.destroy();
      return { count: sent, unit: 'frames', answer: `${sessionEnd(log)} (${log.pingAcks} ACKs read)` };
    },
  },
  {
    name: 'a 60 KB header block',
    async run(target) {
      const n = 20;
      const outcomes = await inParallel(n, 5, async () => {
        const { socket, log } = await rawSession(target);
        // CONNECT plus 60 KB of headers, split into 16 KiB frames as any client would.
        const block = headerBlock([[':method', 'CONNECT'], [':authority', target.echoAuthority], ...Array.from({ length: 15 }, (_, i) => [`x-pad-${i}`, 'p'.repeat(4000)] as [string, string])]);
        const frames: Buffer[] = [];
        for (let offset = 0; offset < block.length; offset += 16_384) {
          const last = offset + 16_384 >= block.length;
          frames.push(frame(offset === 0 ? FRAME.HEADERS : FRAME.CONTINUATION, last ? FLAG.END_HEADERS : 0, 1, block.subarray(offset, offset + 16_384)));
        }
        socket.write(Buffer.concat(frames));
        await waitUntil(() => log.responses.has(1) || log.resets.has(1) || log.goaway.length > 0 || log.closed, timeoutOf(target));
        const answer = log.responses.has(1) ? `${log.responses.get(1) || 'HEADERS'}` : log.resets.has(1) ? `RST_STREAM ${codeName(log.resets.get(1)!)}` : sessionEnd(log);
        socket.destroy();
        return answer;
      });
      return { count: n, unit: 'requests', answer: tally(outcomes) };
    },
  },
  {
    name: 'zero-window stall (20 tunnels on one connection, client window 0, up to 64 MiB sent into each)',
    async run(target) {
      const n = 20;
      const { socket, error } = await tlsTo(target);
      if (error) throw error;
      const session: ClientHttp2Session = h2connect('https://hbone', { createConnection: () => socket, settings: { initialWindowSize: 0 } });
      session.on('error', () => undefined);
      const block = Buffer.alloc(64 * 1024, 7);
      let accepted = 0;
      let written = 0;
      const streams = Array.from({ length: n }, () => {
        const stream = session.request({ ':method': 'CONNECT', ':authority': target.echoAuthority }, { endStream: false });
        stream.on('error', () => undefined);
        stream.once('response', (h) => {
          if (Number(h[':status']) === 200) accepted++;
        });
        // Never read: the echo's answers can never be sent to us.
        stream.pause();
        return stream;
      });
      await Promise.all(
        streams.map(async (stream) => {
          for (let sent = 0; sent < 64 * 1024 * 1024 && !stream.destroyed; sent += block.length) {
            if (stream.write(block)) {
              written += block.length;
              continue;
            }
            const moved = await new Promise<boolean>((r) => {
              const timer = setTimeout(() => r(false), 2_000);
              stream.once('drain', () => {
                clearTimeout(timer);
                r(true);
              });
            });
            if (!moved) break;
            written += block.length;
          }
        }),
      );
      session.destroy();
      const taken = written / 1024 / 1024;
      return {
        count: n,
        unit: 'tunnels',
        answer: `200 ×${accepted}; ${taken >= n * 64 ? 'the server took everything' : `the server stopped taking data at ${taken.toFixed(1)} MiB of ${n * 64} (windows and socket buffers full)`}`,
      };
    },
  },
  {
    name: '5,000 half-open TLS handshakes (ClientHello, then nothing)',
    async run(target) {
      const n = 5000;
      const hello = await captureClientHello(target);
      const sockets: Socket[] = [];
      await inParallel(n, 200, async () => {
        const socket = target.connect();
        socket.on('error', () => undefined);
        // Read (and drop) the server's handshake, so a close by the server is noticed.
        socket.resume();
        sockets.push(socket);
        await new Promise<void>((resolve) => {
          const done = () => resolve();
          socket.once('connect', () => socket.write(hello, done));
          socket.once('error', done);
          socket.once('close', done);
        });
      });
      // Give the server a moment to drop what it will not hold, then count what it holds.
      await new Promise((r) => setTimeout(r, 1_000));
      const open = sockets.filter((s) => !s.destroyed).length;
      // While they hang, the port must still serve a tunnel: the caller checks, then releases them.
      return {
        count: n,
        unit: 'connections',
        answer: open === n ? 'all held open, waiting for their handshakes' : `${open} held open, the other ${n - open} (the oldest) closed by the server`,
        release: () => {
          for (const s of sockets) s.destroy();
        },
      };
    },
  },
  {
    name: 'bad :authority (empty, no port, port 0, port > 65535, unbalanced brackets, 5,000 bytes, CR/LF, NUL)',
    async run(target) {
      const host = target.echoAuthority.slice(0, target.echoAuthority.lastIndexOf(':'));
      const values = ['', host, `${host}:0`, `${host}:65536`, `${host}:99999`, '[fd00::1:80', 'fd00::1]:80', `${host}:${'9'.repeat(5000)}`, `${host}:80\r\nx-injected: 1`, `${host}:80\nx`, `${host}\u0000:80`];
      const outcomes: string[] = [];
      const { socket, log } = await rawSession(target);
      values.forEach((value, i) => socket.write(connectFrame(1 + 2 * i, value)));
      await waitUntil(() => values.every((_, i) => log.responses.has(1 + 2 * i) || log.resets.has(1 + 2 * i)) || log.closed, timeoutOf(target));
      values.forEach((value, i) => {
        const id = 1 + 2 * i;
        const answer = log.responses.has(id) ? String(log.responses.get(id) || 'HEADERS') : log.resets.has(id) ? `RST_STREAM ${codeName(log.resets.get(id)!)}` : 'no answer';
        outcomes.push(`${JSON.stringify(value.length > 40 ? `${value.slice(0, 20)}…(${value.length} bytes)` : value)} → ${answer}`);
      });
      const end = sessionEnd(log);
      socket.destroy();
      return { count: values.length, unit: 'streams on one connection', answer: `${outcomes.join('; ')}; ${end}` };
    },
  },
];

/** The bytes of one real TLS 1.3 ClientHello (ALPN h2) to `target`, for replaying. */
async function captureClientHello(target: HostileTarget): Promise<Buffer> {
  const { Duplex } = await import('node:stream');
  return new Promise((resolve) => {
    let captured = Buffer.alloc(0);
    const sink = new Duplex({
      write(chunk: Buffer, _enc, cb) {
        captured = Buffer.concat([captured, chunk]);
        cb();
        resolve(captured);
      },
      read() {},
    });
    const tls = tlsConnect({ socket: sink as unknown as Socket, secureContext: target.clientContext, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
    tls.on('error', () => undefined);
    setTimeout(() => tls.destroy(), 1000).unref();
  });
}

/** A process's resident memory from /proc (Linux): now, and the peak since `resetPeakMemory`. */
export async function processMemory(pid: number): Promise<{ rssBytes: number; peakBytes: number }> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rssBytes: kib('VmRSS'), peakBytes: kib('VmHWM') };
}

/** Resets the peak (VmHWM) to the current RSS (`/proc/<pid>/clear_refs` 5; needs the process's owner or root). */
export async function resetPeakMemory(pid: number): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(`/proc/${pid}/clear_refs`, '5');
}

export interface HostileServer {
  /** Its process, for memory. */
  pid: number;
  /** True while the process runs. */
  alive(): boolean;
  /** Opens a valid tunnel to `echoAuthority` and checks it echoes; rejects otherwise. */
  tunnelEchoes(): Promise<void>;
}

export interface HostileRun extends AttackResult {
  attack: string;
  /** RSS before, peak during (and while the port was checked), and after, MiB. */
  memoryMiB: { before: number; peak: number; after: number };
}

/**
 * How much a server's RSS may grow while one attack runs. Generous: the largest growth measured
 * is the zero-window stall, whose buffering the HTTP/2 windows bound (a waypoint, which also holds
 * its upstream tunnel's window, grew ~205 MiB for 20 stalled tunnels). Yet below what unbounded
 * buffering takes: 5,000 half-open handshakes took ~330 MiB before pending handshakes were
 * bounded (MAX_PENDING_HANDSHAKES). What RSS keeps after an attack is reported, not asserted:
 * freed memory stays in the allocator and V8's heap.
 */
export const HOSTILE_PEAK_GROWTH_BOUND_MIB = 256;

const MIB = 1024 * 1024;

/**
 * Runs one attack against a server process, then proves the port still serves (a valid tunnel
 * echoes, checked while anything the attack holds open is still open), and measures the
 * process's memory. Throws when the process died or the tunnel failed.
 */
export async function runHostileAttack(attack: Attack, target: HostileTarget, server: HostileServer): Promise<HostileRun> {
  await resetPeakMemory(server.pid);
  const before = await processMemory(server.pid);
  const result = await attack.run(target);
  try {
    if (!server.alive()) throw new Error(`the server process exited during "${attack.name}"`);
    await server.tunnelEchoes();
  } finally {
    result.release?.();
  }
  const during = await processMemory(server.pid);
  // Let the server drop what the attack's connections held, then measure what stays.
  await new Promise((r) => setTimeout(r, 500));
  const after = await processMemory(server.pid);
  if (!server.alive()) throw new Error(`the server process exited after "${attack.name}"`);
  const round = (bytes: number) => Math.round((bytes / MIB) * 10) / 10;
  return { ...result, attack: attack.name, memoryMiB: { before: round(before.rssBytes), peak: round(during.peakBytes), after: round(after.rssBytes) } };
}
