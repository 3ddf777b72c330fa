/**
 * A protobuf wire writer over one growable buffer, with the method names of protobufjs's Writer
 * (`uint32`, `int64`, `string`, `fork`/`ldelim`, …) so the codec can dispatch on the proto scalar
 * type name.
 *
 * Why not protobufjs's Writer: it records an object per write and per fork and copies everything
 * at `finish()`, which made garbage collection the largest cost of encoding multi-megabyte
 * listeners. Here `fork()` reserves one byte for the length and `ldelim()` widens it in place
 * (moving the body right) when the body is 128 bytes or longer, so the output is the canonical
 * minimal-varint encoding, byte for byte what protobufjs writes.
 *
 * Invariants: `pos` is the end of written data; every `fork()` is closed by one `ldelim()`.
 */
const INITIAL_CAPACITY = 4096;
const TWO_POW_32 = 0x1_0000_0000;

export class ProtoWriter {
  #buf: Buffer = Buffer.allocUnsafe(INITIAL_CAPACITY);
  #view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength);
  #pos = 0;
  readonly #forks: number[] = [];

  /** Starts a new message, keeping the allocated buffer. */
  reset(): this {
    this.#pos = 0;
    this.#forks.length = 0;
    return this;
  }

  /** A copy of the written bytes. */
  finish(): Uint8Array {
    return new Uint8Array(this.#buf.subarray(0, this.#pos));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#pos;
  }

  /** A copy of the bytes written between two positions (the tail must be complete: no open fork inside). */
  copy(start: number, end: number): Uint8Array {
    return new Uint8Array(this.#buf.subarray(start, end));
  }

  /** Writes bytes as they are (already encoded: a length-prefixed sub-message, say). */
  raw(value: Uint8Array): this {
    this.#ensure(value.byteLength);
    this.#buf.set(value, this.#pos);
    this.#pos += value.byteLength;
    return this;
  }

  fork(): this {
    this.#ensure(1);
    this.#forks.push(this.#pos);
    this.#pos += 1;
    return this;
  }

  ldelim(): this {
    const start = this.#forks.pop();
    if (start === undefined) throw new Error('ProtoWriter.ldelim() without fork()');
    const length = this.#pos - start - 1;
    const size = varint32Size(length);
    if (size > 1) {
      this.#ensure(size - 1);
      this.#buf.copyWithin(start + size, start + 1, this.#pos);
      this.#pos += size - 1;
    }
    let at = start;
    let value = length;
    while (value > 127) {
      this.#buf[at++] = (value & 127) | 128;
      value >>>= 7;
    }
    this.#buf[at] = value;
    return this;
  }

  uint32(value: number): this {
    this.#ensure(5);
    let v = value >>> 0;
    while (v > 127) {
      this.#buf[this.#pos++] = (v & 127) | 128;
      v >>>= 7;
    }
    this.#buf[this.#pos++] = v;
    return this;
  }

  int32(value: number): this {
    // Negative int32 is sign-extended to 64 bits: always 10 bytes (protobuf spec).
    return value < 0 ? this.#varint64(BigInt.asUintN(64, BigInt(value))) : this.uint32(value);
  }

  sint32(value: number): this {
    return this.uint32(((value << 1) ^ (value >> 31)) >>> 0);
  }

  fixed32(value: number): this {
    this.#ensure(4);
    this.#view.setUint32(this.#pos, value >>> 0, true);
    this.#pos += 4;
    return this;
  }

  sfixed32(value: number): this {
    this.#ensure(4);
    this.#view.setInt32(this.#pos, value, true);
    this.#pos += 4;
    return this;
  }

  float(value: number): this {
    this.#ensure(4);
    this.#view.setFloat32(this.#pos, value, true);
    this.#pos += 4;
    return this;
  }

  double(value: number): this {
    this.#ensure(8);
    this.#view.setFloat64(this.#pos, value, true);
    this.#pos += 8;
    return this;
  }

  bool(value: boolean): this {
    this.#ensure(1);
    this.#buf[this.#pos++] = value ? 1 : 0;
    return this;
  }

  /** 64-bit values arrive as decimal strings (proto3 JSON) or safe integers. */
  int64(value: string | number): this {
    const number = typeof value === 'number' ? value : Number(value);
    if (Number.isSafeInteger(number) && number >= 0) return this.#varintNumber(number);
    return this.#varint64(BigInt.asUintN(64, BigInt(value)));
  }

  uint64(value: string | number): this {
    return this.int64(value);
  }

  sint64(value: string | number): this {
    const n = BigInt(value);
    return this.#varint64(BigInt.asUintN(64, (n << 1n) ^ (n >> 63n)));
  }

  fixed64(value: string | number): this {
    this.#ensure(8);
    this.#view.setBigUint64(this.#pos, BigInt.asUintN(64, BigInt(value)), true);
    this.#pos += 8;
    return this;
  }

  sfixed64(value: string | number): this {
    this.#ensure(8);
    this.#view.setBigInt64(this.#pos, BigInt.asIntN(64, BigInt(value)), true);
    this.#pos += 8;
    return this;
  }

  string(value: string): this {
    const length = value.length;
    // Short ASCII strings (names, addresses) are the common case: copy them without a TextEncoder.
    if (length < 128) {
      this.#ensure(1 + length);
      const lengthAt = this.#pos++;
      let i = 0;
      for (; i < length; i++) {
        const code = value.charCodeAt(i);
        if (code >= 128) break;
        this.#buf[this.#pos++] = code;
      }
      if (i === length) {
        this.#buf[lengthAt] = length;
        return this;
      }
      this.#pos = lengthAt; // not ASCII: start over on the general path
    }
    const byteLength = Buffer.byteLength(value, 'utf8');
    this.uint32(byteLength);
    this.#ensure(byteLength);
    this.#pos += this.#buf.write(value, this.#pos, byteLength, 'utf8');
    return this;
  }

  bytes(value: Uint8Array): this {
    this.uint32(value.byteLength);
    this.#ensure(value.byteLength);
    this.#buf.set(value, this.#pos);
    this.#pos += value.byteLength;
    return this;
  }

  #varintNumber(value: number): this {
    if (value < TWO_POW_32) return this.uint32(value);
    this.#ensure(10);
    let v = value;
    while (v > 127) {
      this.#buf[this.#pos++] = (v % 128) | 128;
      v = Math.floor(v / 128);
    }
    this.#buf[this.#pos++] = v;
    return this;
  }

  #varint64(value: bigint): this {
    this.#ensure(10);
    let v = value;
    while (v > 127n) {
      this.#buf[this.#pos++] = Number(v & 127n) | 128;
      v >>= 7n;
    }
    this.#buf[this.#pos++] = Number(v);
    return this;
  }

  #ensure(extra: number): void {
    const needed = this.#pos + extra;
    if (needed <= this.#buf.length) return;
    let capacity = this.#buf.length * 2;
    while (capacity < needed) capacity *= 2;
    const next = Buffer.allocUnsafe(capacity);
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
    this.#view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }
}

function varint32Size(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x20_0000) return 3;
  if (value < 0x1000_0000) return 4;
  return 5;
}
