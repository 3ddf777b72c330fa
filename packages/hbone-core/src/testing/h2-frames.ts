/**
 * Raw HTTP/2 for hostile-input tests: frames written byte by byte (RFC 9113 §4.1), so a test can
 * send what no well-behaved client library would (floods, broken header blocks, forbidden
 * characters), and a reader that records what the server sent back.
 */
import type { Duplex } from 'node:stream';

export const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
/** The client connection preface (RFC 9113 §3.4). */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

/** SETTINGS with the given (identifier, value) pairs. */
export function settingsFrame(settings: Array<[number, number]> = []): Buffer {
  const payload = Buffer.alloc(settings.length * 6);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FRAME.SETTINGS, 0, 0, payload);
}

export function rstStreamFrame(streamId: number, code: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(FRAME.RST_STREAM, 0, streamId, payload);
}

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1). */
function hpackInteger(value: number, prefixBits: number, firstByteFlags: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [firstByteFlags | value];
  const out = [firstByteFlags | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/**
 * A header block of literal fields without indexing, new names, no Huffman (RFC 7541 §6.2.2):
 * every byte of every name and value goes on the wire as given, even ones HTTP/2 forbids.
 */
export function headerBlock(headers: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    parts.push(Buffer.from([0x00, ...hpackInteger(n.length, 7, 0)]), n, Buffer.from(hpackInteger(v.length, 7, 0)), v);
  }
  return Buffer.concat(parts);
}

/** A CONNECT request's HEADERS frame (one frame, END_HEADERS), its stream left open. */
export function connectFrame(streamId: number, authority: string, extra: Array<[string, string]> = []): Buffer {
  return frame(FRAME.HEADERS, FLAG.END_HEADERS, streamId, headerBlock([[':method', 'CONNECT'], [':authority', authority], ...extra]));
}

/** :status of a response header block whose first field is a static-table entry (200, 400, …); else undefined. */
const STATIC_STATUS: Record<number, number> = { 8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500 };

/** What the server sent on one connection, as frames arrive. */
export class FrameLog {
  readonly goaway: Array<{ lastStreamId: number; code: number }> = [];
  readonly resets = new Map<number, number>();
  /** Response HEADERS per stream: the status when the encoder used the static table, else 0. */
  readonly responses = new Map<number, number>();
  settings = 0;
  settingsAcks = 0;
  pingAcks = 0;
  dataBytes = 0;
  closed = false;
  #buffer: Buffer = Buffer.alloc(0);

  constructor(socket: Duplex) {
    socket.on('data', (chunk: Buffer) => this.#feed(chunk));
    socket.once('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  #feed(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    while (this.#buffer.length >= 9) {
      const length = this.#buffer.readUIntBE(0, 3);
      if (this.#buffer.length < 9 + length) return;
      const type = this.#buffer[3] as number;
      const flags = this.#buffer[4] as number;
      const stream = this.#buffer.readUInt32BE(5) & 0x7fffffff;
      const payload = this.#buffer.subarray(9, 9 + length);
      this.#buffer = this.#buffer.subarray(9 + length);
      if (type === FRAME.GOAWAY && payload.length >= 8) this.goaway.push({ lastStreamId: payload.readUInt32BE(0) & 0x7fffffff, code: payload.readUInt32BE(4) });
      else if (type === FRAME.RST_STREAM && payload.length >= 4) this.resets.set(stream, payload.readUInt32BE(0));
      else if (type === FRAME.HEADERS) this.responses.set(stream, firstStaticStatus(payload, flags));
      else if (type === FRAME.SETTINGS) (flags & FLAG.ACK ? this.settingsAcks++ : this.settings++);
      else if (type === FRAME.PING && flags & FLAG.ACK) this.pingAcks++;
      else if (type === FRAME.DATA) this.dataBytes += length;
    }
  }

  /** Counts of RST_STREAM error codes seen. */
  resetCodes(): Map<number, number> {
    const counts = new Map<number, number>();
    for (const code of this.resets.values()) counts.set(code, (counts.get(code) ?? 0) + 1);
    return counts;
  }
}

function firstStaticStatus(payload: Buffer, flags: number): number {
  let offset = 0;
  if (flags & 0x8) offset += 1; // PADDED: pad length byte
  if (flags & 0x20) offset += 5; // PRIORITY
  const first = payload[offset];
  if (first === undefined) return 0;
  if (first & 0x80) return STATIC_STATUS[first & 0x7f] ?? 0;
  return 0;
}
