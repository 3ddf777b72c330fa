/**
 * The WebSocket protocol (RFC 6455) as far as an echo server and a test client need it: the
 * opening handshake's accept key, and frames (text, binary, close, ping, pong) with any payload
 * length, masked (client to server) or not. No extensions, no fragmentation across frames
 * beyond passing FIN through.
 */
import { createHash, randomBytes } from 'node:crypto';

/** RFC 6455 §1.3: appended to the client's key before hashing. */
const HANDSHAKE_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const OPCODE = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export interface Frame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly payload: Buffer;
}

/** `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`. */
export function acceptKey(key: string): string {
  return createHash('sha1').update(`${key}${HANDSHAKE_GUID}`).digest('base64');
}

/** A fresh `Sec-WebSocket-Key` (16 random bytes, base64). */
export function newKey(): string {
  return randomBytes(16).toString('base64');
}

/** One frame; `mask` is required from a client and forbidden from a server (RFC 6455 §5.1). */
export function encodeFrame(frame: { opcode: number; payload: Buffer; fin?: boolean; mask?: boolean }): Buffer {
  const { payload } = frame;
  const length = payload.length;
  const extended = length < 126 ? 0 : length < 65_536 ? 2 : 8;
  const head = Buffer.alloc(2 + extended + (frame.mask ? 4 : 0));
  head[0] = ((frame.fin ?? true) ? 0x80 : 0) | frame.opcode;
  head[1] = (frame.mask ? 0x80 : 0) | (extended === 0 ? length : extended === 2 ? 126 : 127);
  if (extended === 2) head.writeUInt16BE(length, 2);
  if (extended === 8) head.writeBigUInt64BE(BigInt(length), 2);
  if (!frame.mask) return Buffer.concat([head, payload]);
  const key = randomBytes(4);
  key.copy(head, 2 + extended);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] = (masked[i] as number) ^ (key[i % 4] as number);
  return Buffer.concat([head, masked]);
}

/** Collects bytes and hands out whole frames, unmasked. */
export class FrameParser {
  #buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const frames: Frame[] = [];
    for (;;) {
      const frame = this.#take();
      if (!frame) return frames;
      frames.push(frame);
    }
  }

  #take(): Frame | undefined {
    const b = this.#buffer;
    if (b.length < 2) return undefined;
    const masked = ((b[1] as number) & 0x80) !== 0;
    let length = (b[1] as number) & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (b.length < 4) return undefined;
      length = b.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (b.length < 10) return undefined;
      length = Number(b.readBigUInt64BE(2));
      offset = 10;
    }
    const keyOffset = offset;
    if (masked) offset += 4;
    if (b.length < offset + length) return undefined;
    const payload = Buffer.from(b.subarray(offset, offset + length));
    if (masked) for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (b[keyOffset + (i % 4)] as number);
    this.#buffer = b.subarray(offset + length);
    return { fin: ((b[0] as number) & 0x80) !== 0, opcode: (b[0] as number) & 0x0f, payload };
  }
}

/**
 * A client's view of its connection after the opening request: first the server's handshake
 * response (`head`), then frames. Feed it every chunk read.
 */
export class ClientConnectionReader {
  head = '';
  readonly frames: Frame[] = [];
  readonly #parser = new FrameParser();

  push(chunk: Buffer): void {
    if (!this.head.includes('\r\n\r\n')) {
      this.head += chunk.toString('latin1');
      const end = this.head.indexOf('\r\n\r\n');
      if (end < 0) return;
      chunk = Buffer.from(this.head.slice(end + 4), 'latin1');
      this.head = this.head.slice(0, end + 4);
    }
    this.frames.push(...this.#parser.push(chunk));
  }

  /** The handshake completed with the accept key `key` calls for. */
  accepted(key: string): boolean {
    return /^HTTP\/1\.1 101 /.test(this.head) && this.head.toLowerCase().includes(`sec-websocket-accept: ${acceptKey(key).toLowerCase()}`);
  }
}
