import { describe, expect, it } from 'vitest';
import { encodeError, encodeQuery, encodeResponse, parseQuery, readAnswers, Rcode, RecordType, type DnsQuestion } from './wire.js';

const header = (id: number, flags: number, qd: number, an = 0, ns = 0, ar = 0) => {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(flags, 2);
  b.writeUInt16BE(qd, 4);
  b.writeUInt16BE(an, 6);
  b.writeUInt16BE(ns, 8);
  b.writeUInt16BE(ar, 10);
  return b;
};
const tail = (type: number) => Buffer.from([type >> 8, type & 0xff, 0, 1]);

describe('parseQuery', () => {
  it('reads a query with EDNS: id, RD, the question as sent, the payload size', () => {
    const parsed = parseQuery(encodeQuery(0x1234, 'Reviews.Default', RecordType.AAAA, { edns: { udpPayloadSize: 1232, version: 0, dnssecOk: true } }));
    expect(parsed.kind).toBe('query');
    if (parsed.kind !== 'query') return;
    expect(parsed.query.header.id).toBe(0x1234);
    expect(parsed.query.header.rd).toBe(true);
    expect(parsed.query.question).toEqual({ labels: ['reviews', 'default'], type: RecordType.AAAA, class: 1 });
    expect(parsed.query.edns).toEqual({ udpPayloadSize: 1232, version: 0, dnssecOk: true });
  });

  it('drops what has no header and responses (answering them could loop between servers)', () => {
    expect(parseQuery(Buffer.alloc(0)).kind).toBe('drop');
    expect(parseQuery(Buffer.alloc(11)).kind).toBe('drop');
    expect(parseQuery(Buffer.concat([header(1, 0x8100, 1), Buffer.from([0]), tail(1)])).kind).toBe('drop');
    expect(parseQuery(Buffer.alloc(70_000)).kind).toBe('drop');
  });

  const formerr = (buf: Buffer) => {
    const parsed = parseQuery(buf);
    expect(parsed.kind).toBe('error');
    return parsed.kind === 'error' ? parsed : undefined;
  };

  it('answers FORMERR to truncated questions and bad counts', () => {
    expect(formerr(header(7, 0x0100, 0))?.rcode).toBe(Rcode.FORMERR);
    expect(formerr(header(7, 0x0100, 2))?.rcode).toBe(Rcode.FORMERR);
    expect(formerr(header(7, 0x0100, 1))?.reason).toMatch(/past the end/);
    expect(formerr(Buffer.concat([header(7, 0x0100, 1), Buffer.from([3, 0x61])]))?.reason).toMatch(/label runs past/);
    expect(formerr(Buffer.concat([header(7, 0x0100, 1), Buffer.from([1, 0x61, 0, 0])]))?.reason).toMatch(/type and class/);
    // An answer count the message does not hold.
    expect(formerr(Buffer.concat([header(7, 0x0100, 1, 1), Buffer.from([0]), tail(1)]))?.reason).toMatch(/past the end/);
    expect(formerr(header(9, 0x0100, 0))?.header.id).toBe(9);
  });

  it('refuses compression loops, forward pointers and self-pointers without hanging', () => {
    // Pointer to itself at offset 12.
    expect(formerr(Buffer.concat([header(1, 0, 1), Buffer.from([0xc0, 12]), tail(1)]))?.reason).toMatch(/backwards/);
    // Forward pointer.
    expect(formerr(Buffer.concat([header(1, 0, 1), Buffer.from([0xc0, 20]), tail(1), Buffer.from([0])]))?.reason).toMatch(/backwards/);
    // Two labels pointing at each other through the header area: a → b → a.
    const loop = Buffer.concat([header(1, 0, 1), Buffer.from([1, 0x61, 0xc0, 12]), tail(1)]);
    expect(formerr(loop)?.reason).toMatch(/backwards/);
    // A pointer into the header whose bytes (the id 0xc000) point at themselves.
    expect(formerr(Buffer.concat([header(0xc000, 0, 1), Buffer.from([1, 0x61, 0xc0, 0]), tail(1)]))?.reason).toMatch(/backwards/);
  });

  it('refuses over-long names and labels and unknown label types', () => {
    const long = Buffer.concat([header(1, 0, 1), ...Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([60]), Buffer.alloc(60, 0x61)])), Buffer.from([0]), tail(1)]);
    expect(formerr(long)?.reason).toMatch(/longer than 255/);
    expect(formerr(Buffer.concat([header(1, 0, 1), Buffer.from([0x40, 0x61]), tail(1)]))?.reason).toMatch(/label type/);
    expect(formerr(Buffer.concat([header(1, 0, 1), Buffer.from([0x80, 0x61]), tail(1)]))?.reason).toMatch(/label type/);
  });

  it('answers NOTIMP to other opcodes, keeping the question', () => {
    const parsed = parseQuery(Buffer.concat([header(3, 0x2800, 1), Buffer.from([1, 0x61, 0]), tail(1)]));
    expect(parsed.kind === 'error' && parsed.rcode).toBe(Rcode.NOTIMP);
  });

  it('never throws on random bytes', () => {
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let i = 0; i < 5000; i++) {
      const buf = Buffer.from(Array.from({ length: Math.floor(rand() * 80) }, () => Math.floor(rand() * 256)));
      if (buf.length > 2) buf[2] = (buf[2] as number) & 0x7f;
      expect(() => parseQuery(buf)).not.toThrow();
      expect(() => readAnswers(buf)).not.toThrow();
    }
  });
});

describe('encodeResponse', () => {
  const question: DnsQuestion = { labels: ['reviews', 'default', 'default', 'svc', 'cluster', 'local'], type: RecordType.A, class: 1 };

  it('round-trips CNAME + A with compressed names, the flags and OPT', () => {
    const out = encodeResponse({
      id: 77,
      rd: true,
      aa: true,
      ra: true,
      rcode: 0,
      question,
      answers: [
        { labels: question.labels, type: RecordType.CNAME, ttl: 30, data: 'reviews.default' },
        { labels: ['reviews', 'default'], type: RecordType.A, ttl: 30, data: '10.77.100.11' },
      ],
      edns: { udpPayloadSize: 4096, version: 0, dnssecOk: false },
    });
    const read = readAnswers(out);
    expect(read?.header).toMatchObject({ id: 77, qr: true, aa: true, rd: true, ra: true, rcode: 0, qdcount: 1, ancount: 2, arcount: 1 });
    expect(read?.answers).toEqual([
      { name: 'reviews.default.default.svc.cluster.local', type: RecordType.CNAME, ttl: 30, data: 'reviews.default' },
      { name: 'reviews.default', type: RecordType.A, ttl: 30, data: '10.77.100.11' },
    ]);
    // The answer owner is a pointer to the question name.
    expect(out.includes(Buffer.from([0xc0, 12]))).toBe(true);
  });

  it('encodes AAAA records', () => {
    const out = encodeResponse({ id: 1, rd: false, aa: true, ra: true, rcode: 0, question: { ...question, type: RecordType.AAAA }, answers: [{ labels: ['a'], type: RecordType.AAAA, ttl: 30, data: 'fd00::a:1' }] });
    expect(readAnswers(out)?.answers[0]?.data).toBe('fd00:0:0:0:0:0:a:1');
  });

  it('encodes errors with the request id and question', () => {
    const parsed = parseQuery(encodeQuery(5, 'x', RecordType.A));
    if (parsed.kind !== 'query') throw new Error('parse');
    const read = readAnswers(encodeError(parsed.query.header, Rcode.SERVFAIL, parsed.query.question));
    expect(read?.header).toMatchObject({ id: 5, qr: true, rcode: Rcode.SERVFAIL, qdcount: 1, ancount: 0 });
  });
});
