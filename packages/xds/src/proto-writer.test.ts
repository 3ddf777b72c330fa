import { describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import { ProtoWriter } from './proto-writer.js';

type Op = [method: string, value?: unknown];

/** Runs the same operations on ProtoWriter and protobufjs's Writer (the reference). */
function both(ops: Op[]): [Buffer, Buffer] {
  const ours = new ProtoWriter();
  const reference = protobuf.Writer.create();
  for (const [method, value] of ops) {
    (ours as unknown as Record<string, (v?: unknown) => unknown>)[method]!.call(ours, value);
    (reference as unknown as Record<string, (v?: unknown) => unknown>)[method]!.call(reference, value);
  }
  return [Buffer.from(ours.finish()), Buffer.from(reference.finish())];
}

describe('ProtoWriter writes the same bytes as protobufjs', () => {
  it.each<[string, Op[]]>([
    ['varints', [['uint32', 0], ['uint32', 127], ['uint32', 128], ['uint32', 0xffffffff], ['int32', -1], ['int32', -2147483648], ['sint32', -3], ['sint32', 2147483647]]],
    ['64-bit', [['int64', '0'], ['int64', '1025'], ['int64', '-1'], ['sint64', '-2'], ['fixed64', '1234567890123'], ['sfixed64', '-5']]],
    ['fixed and floating', [['fixed32', 0xdeadbeef], ['sfixed32', -7], ['float', 1.5], ['double', -0.1], ['double', Number.NaN], ['bool', true], ['bool', false]]],
    ['strings', [['string', ''], ['string', 'ztunnel_outbound'], ['string', 'é ✓ 😀'], ['string', 'x'.repeat(127)], ['string', 'y'.repeat(128)], ['string', 'z'.repeat(20000)]]],
    ['bytes', [['bytes', new Uint8Array([0, 1, 255])], ['bytes', new Uint8Array(300).fill(7)]]],
  ])('%s', (_name, ops) => {
    const [ours, reference] = both(ops);
    expect(ours.equals(reference)).toBe(true);
  });

  it('keeps 64-bit values beyond 2^53 exact (protobufjs without long.js rounds them)', () => {
    const hex = (method: 'int64' | 'uint64', value: string) => Buffer.from(new ProtoWriter()[method](value).finish()).toString('hex');
    expect(hex('int64', '9007199254740993')).toBe('8180808080808010');
    expect(hex('uint64', '18446744073709551615')).toBe('ffffffffffffffffff01');
  });

  it('nested forks whose bodies need 1, 2 and 3 length bytes', () => {
    const ops: Op[] = [['uint32', 10], ['fork'], ['string', 'a'], ['uint32', 18], ['fork'], ['string', 'b'.repeat(200)], ['uint32', 26], ['fork'], ['string', 'c'.repeat(20000)], ['ldelim'], ['ldelim'], ['ldelim'], ['uint32', 8], ['uint32', 1]];
    const [ours, reference] = both(ops);
    expect(ours.equals(reference)).toBe(true);
  });

  it('grows past its initial buffer and can be reused after reset()', () => {
    const writer = new ProtoWriter();
    writer.fork().string('q'.repeat(100_000)).ldelim();
    expect(writer.finish().byteLength).toBe(100_000 + 3 + 3);
    expect(Buffer.from(writer.reset().uint32(150).finish())).toEqual(Buffer.from([0x96, 0x01]));
  });
});
