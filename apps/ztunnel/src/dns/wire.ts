/**
 * The DNS wire format (RFC 1035 §4, EDNS(0) RFC 6891 §6) as far as a forwarding stub needs it:
 * parse one query, encode an answer or an error. Pure: bytes in, values out, never throws on
 * peer input.
 *
 * Written here rather than taken from npm: the subset is small (a header, one question, the OPT
 * pseudo-record, A/AAAA/CNAME answers) and the parser must be strict about hostile input in ways
 * the general-purpose packages (`dns-packet`) are not: it follows compression pointers only
 * backwards (so a pointer loop cannot exist), bounds names to 255 octets and labels to 63, and
 * reports every malformation as a value (`formerr` with the id to answer, or `drop` when not even
 * a header arrived) instead of an exception.
 *
 * Forwarded queries are relayed as the client's own bytes (only the id is rewritten), so nothing
 * here needs to encode a record type it does not answer itself.
 */
import { isIPv4, isIPv6 } from 'node:net';

export const DNS_HEADER_BYTES = 12;
/** RFC 1035 §2.3.4. */
export const MAX_NAME_OCTETS = 255;
export const MAX_LABEL_OCTETS = 63;
/** Without EDNS a UDP answer holds at most 512 bytes (RFC 1035 §4.2.1). */
export const CLASSIC_UDP_PAYLOAD = 512;
/** A TCP message's length prefix is 16 bits (RFC 1035 §4.2.2; RFC 7766). */
export const MAX_MESSAGE_BYTES = 65_535;

export const RecordType = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, ANY: 255 } as const;
export const CLASS_IN = 1;
export const Rcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type RcodeValue = (typeof Rcode)[keyof typeof Rcode];

const TYPE_NAMES = new Map<number, string>(Object.entries(RecordType).map(([name, value]) => [value, name]));
const RCODE_NAMES = new Map<number, string>(Object.entries(Rcode).map(([name, value]) => [value, name]));

/** `A`, `AAAA`, … or `TYPE65` (RFC 3597 §5) for types without a mnemonic here. */
export function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `TYPE${type}`;
}

export function rcodeName(rcode: number): string {
  return RCODE_NAMES.get(rcode) ?? `RCODE${rcode}`;
}

export interface DnsHeader {
  readonly id: number;
  /** Query (false) or response (true). */
  readonly qr: boolean;
  readonly opcode: number;
  readonly aa: boolean;
  readonly tc: boolean;
  readonly rd: boolean;
  readonly ra: boolean;
  readonly rcode: number;
  readonly qdcount: number;
  readonly ancount: number;
  readonly nscount: number;
  readonly arcount: number;
}

export interface DnsQuestion {
  /** Labels as sent (bytes as latin1), without the root label; compare them case-insensitively. */
  readonly labels: readonly string[];
  readonly type: number;
  readonly class: number;
}

export interface Edns {
  /** The requester's UDP payload size (RFC 6891 §6.2.3), at least 512 when used. */
  readonly udpPayloadSize: number;
  readonly version: number;
  readonly dnssecOk: boolean;
}

export interface DnsQuery {
  readonly header: DnsHeader;
  readonly question: DnsQuestion;
  readonly edns: Edns | undefined;
}

export type ParsedQuery =
  | { readonly kind: 'query'; readonly query: DnsQuery }
  /** Answer with this rcode and the request's id (and question when it parsed). */
  | { readonly kind: 'error'; readonly rcode: RcodeValue; readonly header: DnsHeader; readonly question?: DnsQuestion; readonly reason: string }
  /** Nothing to answer: not even a header, or a response (answering one could loop between two servers). */
  | { readonly kind: 'drop'; readonly reason: string };

/** `reviews.default` from its labels; the root name is `.`. */
export function nameOf(labels: readonly string[]): string {
  return labels.length === 0 ? '.' : labels.join('.');
}

/** `Reviews.Default.` → `['reviews', 'default']`: lower case, empty labels dropped. */
export function labelsOf(name: string): string[] {
  return name.split('.').filter((l) => l.length > 0).map((l) => l.toLowerCase());
}

export function readHeader(buf: Uint8Array): DnsHeader | undefined {
  if (buf.length < DNS_HEADER_BYTES) return undefined;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const flags = view.getUint16(2);
  return {
    id: view.getUint16(0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    rcode: flags & 0xf,
    qdcount: view.getUint16(4),
    ancount: view.getUint16(6),
    nscount: view.getUint16(8),
    arcount: view.getUint16(10),
  };
}

class Malformed extends Error {}

/**
 * Reads a (possibly compressed) name at `offset`. Pointers must point strictly before the
 * label sequence that holds them (RFC 1035 §4.1.4 only ever produces such pointers), so the walk
 * makes progress towards the start of the message and ends: a loop is a malformation, not a hang.
 */
export function readName(buf: Uint8Array, offset: number): { labels: string[]; next: number } {
  const labels: string[] = [];
  let octets = 1;
  let pos = offset;
  let next: number | undefined;
  let floor = offset;
  for (;;) {
    if (pos >= buf.length) throw new Malformed('name runs past the end of the message');
    const len = buf[pos] as number;
    if (len === 0) {
      next ??= pos + 1;
      return { labels, next };
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) throw new Malformed('compression pointer runs past the end of the message');
      const target = ((len & 0x3f) << 8) | (buf[pos + 1] as number);
      if (target >= floor) throw new Malformed('compression pointer does not point backwards (a loop)');
      next ??= pos + 2;
      floor = target;
      pos = target;
      continue;
    }
    if (kind !== 0) throw new Malformed(`label type 0x${kind.toString(16)} is not supported`);
    if (pos + 1 + len > buf.length) throw new Malformed('label runs past the end of the message');
    octets += len + 1;
    if (octets > MAX_NAME_OCTETS) throw new Malformed(`name longer than ${MAX_NAME_OCTETS} octets`);
    labels.push(Buffer.from(buf.subarray(pos + 1, pos + 1 + len)).toString('latin1'));
    pos += 1 + len;
  }
}

/** Skips one resource record; returns its type, rdata position and the offset after it. */
function readRecord(buf: Uint8Array, offset: number): { labels: string[]; type: number; klass: number; ttl: number; rdata: number; rdlength: number; next: number } {
  const { labels, next: fixed } = readName(buf, offset);
  if (fixed + 10 > buf.length) throw new Malformed('resource record header runs past the end of the message');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const rdlength = view.getUint16(fixed + 8);
  if (fixed + 10 + rdlength > buf.length) throw new Malformed('rdata runs past the end of the message');
  return { labels, type: view.getUint16(fixed), klass: view.getUint16(fixed + 2), ttl: view.getUint32(fixed + 4), rdata: fixed + 10, rdlength, next: fixed + 10 + rdlength };
}

/** Parses a message a client sent to the proxy. */
export function parseQuery(buf: Uint8Array): ParsedQuery {
  const header = readHeader(buf);
  if (!header) return { kind: 'drop', reason: `message shorter than the ${DNS_HEADER_BYTES}-byte header` };
  if (buf.length > MAX_MESSAGE_BYTES) return { kind: 'drop', reason: `message longer than ${MAX_MESSAGE_BYTES} bytes` };
  if (header.qr) return { kind: 'drop', reason: 'a response, not a query' };
  if (header.qdcount !== 1) return { kind: 'error', rcode: Rcode.FORMERR, header, reason: `${header.qdcount} questions (exactly one is answered)` };
  let question: DnsQuestion | undefined;
  try {
    const { labels, next } = readName(buf, DNS_HEADER_BYTES);
    if (next + 4 > buf.length) throw new Malformed('question type and class run past the end of the message');
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    question = { labels, type: view.getUint16(next), class: view.getUint16(next + 2) };
    if (header.opcode !== 0) return { kind: 'error', rcode: Rcode.NOTIMP, header, question, reason: `opcode ${header.opcode} is not implemented` };
    let pos = next + 4;
    let edns: Edns | undefined;
    for (let i = 0; i < header.ancount + header.nscount + header.arcount; i++) {
      const rr = readRecord(buf, pos);
      pos = rr.next;
      if (i < header.ancount + header.nscount || rr.type !== RecordType.OPT) continue;
      if (edns) throw new Malformed('more than one OPT record');
      if (rr.labels.length > 0) throw new Malformed('OPT record with a name other than the root');
      edns = { udpPayloadSize: Math.max(CLASSIC_UDP_PAYLOAD, rr.klass), version: (rr.ttl >>> 16) & 0xff, dnssecOk: (rr.ttl & 0x8000) !== 0 };
    }
    return { kind: 'query', query: { header, question, edns } };
  } catch (err) {
    if (!(err instanceof Malformed)) throw err;
    return { kind: 'error', rcode: Rcode.FORMERR, header, ...(question ? { question } : {}), reason: err.message };
  }
}

export interface DnsAnswerRecord {
  readonly labels: readonly string[];
  readonly type: typeof RecordType.A | typeof RecordType.AAAA | typeof RecordType.CNAME;
  readonly ttl: number;
  /** An IPv4/IPv6 address (A/AAAA) or a name (CNAME). */
  readonly data: string;
}

export interface DnsResponse {
  readonly id: number;
  readonly opcode?: number;
  readonly rd: boolean;
  readonly aa: boolean;
  readonly ra: boolean;
  readonly rcode: number;
  readonly question?: DnsQuestion;
  readonly answers?: readonly DnsAnswerRecord[];
  /** Echo an OPT record (RFC 6891 §7: a responder that understands EDNS answers with one). */
  readonly edns?: Edns;
}

class Writer {
  private chunks: number[] = [];
  /** Lower-cased name suffix → offset, for compression. */
  private names = new Map<string, number>();
  get length(): number {
    return this.chunks.length;
  }
  u8(v: number) {
    this.chunks.push(v & 0xff);
  }
  u16(v: number) {
    this.chunks.push((v >> 8) & 0xff, v & 0xff);
  }
  u32(v: number) {
    this.u16((v >>> 16) & 0xffff);
    this.u16(v & 0xffff);
  }
  bytes(b: Iterable<number>) {
    for (const v of b) this.chunks.push(v);
  }
  name(labels: readonly string[]) {
    for (let i = 0; i < labels.length; i++) {
      const key = labels.slice(i).join('.').toLowerCase();
      const at = this.names.get(key);
      if (at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.length < 0x4000) this.names.set(key, this.length);
      const label = Buffer.from(labels[i] as string, 'latin1').subarray(0, MAX_LABEL_OCTETS);
      this.u8(label.length);
      this.bytes(label);
    }
    this.u8(0);
  }
  /** Writes a 16-bit value at an earlier offset (an rdlength known only after the rdata). */
  patchU16(at: number, v: number) {
    this.chunks[at] = (v >> 8) & 0xff;
    this.chunks[at + 1] = v & 0xff;
  }
  done(): Buffer {
    return Buffer.from(this.chunks);
  }
}

function ipv4Bytes(ip: string): number[] {
  return ip.split('.').map(Number);
}

function ipv6Bytes(ip: string): number[] {
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tail: number[] = [];
  if (v4?.[1]) {
    tail = ipv4Bytes(v4[1]);
    text = `${text.slice(0, -v4[1].length)}0:0`;
  }
  const [head = '', rest] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = rest ? rest.split(':') : [];
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right].map((g) => parseInt(g, 16));
  const out = groups.flatMap((g) => [(g >> 8) & 0xff, g & 0xff]);
  if (tail.length === 4) out.splice(12, 4, ...tail);
  return out;
}

/** Encodes a response (header, the question echoed, answers, OPT). */
export function encodeResponse(response: DnsResponse): Buffer {
  const w = new Writer();
  const answers = response.answers ?? [];
  w.u16(response.id);
  const flags = 0x8000 | ((response.opcode ?? 0) & 0xf) << 11 | (response.aa ? 0x0400 : 0) | (response.rd ? 0x0100 : 0) | (response.ra ? 0x0080 : 0) | (response.rcode & 0xf);
  w.u16(flags);
  w.u16(response.question ? 1 : 0);
  w.u16(answers.length);
  w.u16(0);
  w.u16(response.edns ? 1 : 0);
  if (response.question) {
    w.name(response.question.labels);
    w.u16(response.question.type);
    w.u16(response.question.class);
  }
  for (const record of answers) {
    w.name(record.labels);
    w.u16(record.type);
    w.u16(CLASS_IN);
    w.u32(record.ttl);
    if (record.type === RecordType.CNAME) {
      const lengthAt = w.length;
      w.u16(0);
      w.name(labelsOf(record.data));
      w.patchU16(lengthAt, w.length - lengthAt - 2);
    } else {
      const data = record.type === RecordType.A ? ipv4Bytes(record.data) : ipv6Bytes(record.data);
      w.u16(data.length);
      w.bytes(data);
    }
  }
  if (response.edns) {
    // OPT: root name, type 41, class = our payload size, ttl = ext-rcode 0 | version 0 | DO echoed.
    w.u8(0);
    w.u16(RecordType.OPT);
    w.u16(Math.max(CLASSIC_UDP_PAYLOAD, Math.min(response.edns.udpPayloadSize, 1232)));
    w.u32(response.edns.dnssecOk ? 0x8000 : 0);
    w.u16(0);
  }
  return w.done();
}

/** An error answer to a message that at least had a header (FORMERR, SERVFAIL, NOTIMP, REFUSED). */
export function encodeError(header: DnsHeader, rcode: number, question?: DnsQuestion, edns?: Edns): Buffer {
  return encodeResponse({ id: header.id, opcode: header.opcode, rd: header.rd, aa: false, ra: true, rcode, ...(question ? { question } : {}), ...(edns ? { edns } : {}) });
}

export function isAddressOfType(ip: string, type: number): boolean {
  return type === RecordType.A ? isIPv4(ip) : type === RecordType.AAAA ? isIPv6(ip) : false;
}

/** Reads the answer section of a response (for tests and the access log's endpoint count). */
export function readAnswers(buf: Uint8Array): { header: DnsHeader; question?: DnsQuestion; answers: { name: string; type: number; ttl: number; data: string }[] } | undefined {
  const header = readHeader(buf);
  if (!header) return undefined;
  try {
    let pos = DNS_HEADER_BYTES;
    let question: DnsQuestion | undefined;
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    for (let i = 0; i < header.qdcount; i++) {
      const { labels, next } = readName(buf, pos);
      if (next + 4 > buf.length) return undefined;
      question ??= { labels, type: view.getUint16(next), class: view.getUint16(next + 2) };
      pos = next + 4;
    }
    const answers: { name: string; type: number; ttl: number; data: string }[] = [];
    for (let i = 0; i < header.ancount; i++) {
      const rr = readRecord(buf, pos);
      pos = rr.next;
      const rdata = buf.subarray(rr.rdata, rr.rdata + rr.rdlength);
      let data: string;
      if (rr.type === RecordType.A && rr.rdlength === 4) data = [...rdata].join('.');
      else if (rr.type === RecordType.AAAA && rr.rdlength === 16) data = Array.from({ length: 8 }, (_, g) => ((rdata[2 * g] as number) << 8 | (rdata[2 * g + 1] as number)).toString(16)).join(':');
      else if (rr.type === RecordType.CNAME) data = nameOf(readName(buf, rr.rdata).labels);
      else data = Buffer.from(rdata).toString('hex');
      answers.push({ name: nameOf(rr.labels), type: rr.type, ttl: rr.ttl, data });
    }
    return { header, ...(question ? { question } : {}), answers };
  } catch (err) {
    if (err instanceof Malformed) return undefined;
    throw err;
  }
}

/** Encodes a query (tests, and the forwarder's probes): one question, RD set, optional EDNS. */
export function encodeQuery(id: number, name: string, type: number, options: { edns?: Edns; rd?: boolean } = {}): Buffer {
  const w = new Writer();
  w.u16(id);
  w.u16(options.rd === false ? 0 : 0x0100);
  w.u16(1);
  w.u16(0);
  w.u16(0);
  w.u16(options.edns ? 1 : 0);
  w.name(labelsOf(name));
  w.u16(type);
  w.u16(CLASS_IN);
  if (options.edns) {
    w.u8(0);
    w.u16(RecordType.OPT);
    w.u16(options.edns.udpPayloadSize);
    w.u32(options.edns.dnssecOk ? 0x8000 : 0);
    w.u16(0);
  }
  return w.done();
}
