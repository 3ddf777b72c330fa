/**
 * The DNS proxy over real sockets on loopback: queries over UDP and TCP get the mesh's answers,
 * other names are forwarded to a fake upstream resolver (also on loopback) and its answer is
 * relayed, a dead upstream gives SERVFAIL, and hostile input is answered FORMERR or dropped
 * while the server keeps serving.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, Socket, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnsForwarder, parseResolvConf, parseUpstream } from './forwarder.js';
import { DnsMetrics } from './metrics.js';
import type { DnsTable } from './plan.js';
import { DnsServer, type DnsAccessEntry } from './server.js';
import { encodeQuery, encodeResponse, parseQuery, Rcode, readAnswers, RecordType } from './wire.js';

const TABLE: DnsTable = { clusterDomain: 'cluster.local', services: new Map([['reviews.default.svc.cluster.local', ['10.77.100.11']]]) };
const SLEEP_IP = '127.0.0.1';

/** A resolver on loopback: example.test → 192.0.2.7, big.test truncated over UDP, everything else NXDOMAIN. */
async function startFakeUpstream(): Promise<{ port: number; udp: UdpSocket; tcp: Server; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const answer = (msg: Buffer, protocol: 'udp' | 'tcp'): Buffer | undefined => {
    const parsed = parseQuery(msg);
    if (parsed.kind !== 'query') return undefined;
    const { header, question } = parsed.query;
    const name = question.labels.join('.');
    seen.push(`${protocol} ${name}`);
    if (name === 'silent.test') return undefined;
    const base = { id: header.id, rd: header.rd, aa: false, ra: true, question };
    if (name === 'example.test') return encodeResponse({ ...base, rcode: 0, answers: [{ labels: question.labels, type: RecordType.A, ttl: 60, data: '192.0.2.7' }] });
    if (name === 'big.test' && protocol === 'udp') {
      const out = encodeResponse({ ...base, rcode: 0 });
      out[2] = (out[2] as number) | 0x02;
      return out;
    }
    if (name === 'big.test') return encodeResponse({ ...base, rcode: 0, answers: Array.from({ length: 40 }, (_, i) => ({ labels: question.labels, type: RecordType.A, ttl: 60, data: `192.0.2.${i + 1}` })) });
    return encodeResponse({ ...base, rcode: Rcode.NXDOMAIN });
  };
  function serveTcp(socket: Socket): void {
    let buf = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        const out = answer(msg, 'tcp');
        if (out) socket.write(Buffer.concat([Buffer.from([out.length >> 8, out.length & 0xff]), out]));
      }
    });
  }
  // An ephemeral UDP port and the same number for TCP, tried again while another process holds it.
  let udp: UdpSocket;
  let tcp: Server;
  for (let attempt = 1; ; attempt++) {
    const pair = await bindUdpAndTcp((socket) => serveTcp(socket));
    if (pair) {
      ({ udp, tcp } = pair);
      break;
    }
    if (attempt >= 10) throw new Error('no free UDP+TCP port pair on 127.0.0.1 after 10 tries');
  }
  const port = udp.address().port;
  udp.on('message', (msg, from) => {
    // A spoofed-looking answer first (wrong id), which the forwarder must ignore.
    const wrong = Buffer.from(msg);
    wrong.writeUInt16BE((wrong.readUInt16BE(0) + 1) & 0xffff, 0);
    const bogus = answer(wrong, 'udp');
    seen.pop();
    if (bogus) {
      bogus[2] = (bogus[2] as number) | 0x80;
      udp.send(bogus, from.port, from.address);
    }
    const out = answer(msg, 'udp');
    if (out) udp.send(out, from.port, from.address);
  });
  return { port, udp, tcp, seen, close: async () => { udp.close(); await new Promise((r) => tcp.close(r)); } };
}

/** A UDP socket on an ephemeral port and a TCP server on the same number, or undefined when TCP found it taken. */
async function bindUdpAndTcp(onConnection: (socket: Socket) => void): Promise<{ udp: UdpSocket; tcp: Server } | undefined> {
  const udp = createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', () => resolve()));
  const tcp = createServer(onConnection);
  const listening = await new Promise<boolean>((resolve) => {
    tcp.once('error', () => resolve(false));
    tcp.listen(udp.address().port, '127.0.0.1', () => resolve(true));
  });
  if (listening) return { udp, tcp };
  udp.close();
  return undefined;
}

function udpQuery(port: number, message: Buffer, timeoutMs = 3000): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      resolve(undefined);
    }, timeoutMs);
    socket.on('message', (msg) => {
      clearTimeout(timer);
      socket.close();
      resolve(msg);
    });
    socket.send(message, port, '127.0.0.1');
  });
}

function tcpQuery(port: number, message: Buffer): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let buf = Buffer.alloc(0);
    socket.on('error', () => resolve(undefined));
    socket.on('close', () => resolve(undefined));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        socket.destroy();
        resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      }
    });
    socket.connect(port, '127.0.0.1', () => socket.write(Buffer.concat([Buffer.from([message.length >> 8, message.length & 0xff]), message])));
  });
}

describe('DnsServer on loopback', () => {
  let upstream: Awaited<ReturnType<typeof startFakeUpstream>>;
  let server: DnsServer;
  let port: number;
  const metrics = new DnsMetrics();
  const log: DnsAccessEntry[] = [];

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    server = new DnsServer({
      host: '127.0.0.1',
      port: 0,
      table: () => TABLE,
      clientOf: (ip) => (ip === SLEEP_IP ? { namespace: 'default', workload: 'sleep' } : undefined),
      forwarder: new DnsForwarder({ upstreams: [{ address: '127.0.0.1', port: upstream.port }], timeoutMs: 1000 }),
      metrics,
      onQuery: (e) => log.push(e),
      tcpIdleTimeoutMs: 500,
    });
    await server.start();
    port = server.udpAddress().port;
  });
  afterAll(async () => {
    server?.destroy();
    await upstream?.close();
  });

  it('answers a mesh Service name over real UDP from the config', async () => {
    const out = await udpQuery(port, encodeQuery(4242, 'reviews', RecordType.A));
    const read = out && readAnswers(out);
    expect(read?.header).toMatchObject({ id: 4242, qr: true, aa: true, ra: true, rcode: 0 });
    expect(read?.answers).toEqual([{ name: 'reviews', type: RecordType.A, ttl: 30, data: '10.77.100.11' }]);
    expect(log.at(-1)).toMatchObject({ 'src.workload': 'sleep', 'src.namespace': 'default', protocol: 'udp', query: 'A', domain: 'reviews.', result: 'success', endpoints: 1, rcode: 'NOERROR' });
    expect(metrics.get('istio_dns_requests_total', { request_query_type: 'a', request_protocol: 'udp', source_canonical_service: 'sleep' })).toBe(1);
  });

  it('answers over TCP too, and AAAA of an IPv4 Service with no records', async () => {
    const read = readAnswers((await tcpQuery(port, encodeQuery(7, 'reviews.default.svc.cluster.local', RecordType.AAAA))) as Buffer);
    expect(read?.header).toMatchObject({ id: 7, aa: true, rcode: 0, ancount: 0 });
    expect(log.at(-1)).toMatchObject({ protocol: 'tcp', query: 'AAAA', result: 'no records' });
  });

  it('forwards other names upstream and relays the answer, ignoring a wrong-id answer', async () => {
    const read = readAnswers((await udpQuery(port, encodeQuery(99, 'example.test', RecordType.A))) as Buffer);
    expect(read?.header).toMatchObject({ id: 99, aa: false, rcode: 0 });
    expect(read?.answers.map((a) => a.data)).toEqual(['192.0.2.7']);
    expect(upstream.seen).toContain('udp example.test');
    expect(log.at(-1)).toMatchObject({ result: 'forwarded', endpoints: 1 });
    expect(metrics.get('istio_dns_upstream_requests_total')).toBeGreaterThanOrEqual(1);
    expect(metrics.render()).toMatch(/istio_dns_upstream_request_duration_seconds_count\{request_query_type="a",request_protocol="udp",source_canonical_service="sleep",source_canonical_revision="unknown"\} \d/);
  });

  it('relays NXDOMAIN, and the short name of another namespace is forwarded (not answered)', async () => {
    expect(readAnswers((await udpQuery(port, encodeQuery(1, 'nope.test', RecordType.A))) as Buffer)?.header.rcode).toBe(Rcode.NXDOMAIN);
    expect(readAnswers((await udpQuery(port, encodeQuery(2, 'ratings', RecordType.A))) as Buffer)?.header.rcode).toBe(Rcode.NXDOMAIN);
  });

  it('relays a truncated UDP answer; the client retries over TCP and gets it all', async () => {
    const udp = readAnswers((await udpQuery(port, encodeQuery(3, 'big.test', RecordType.A))) as Buffer);
    expect(udp?.header.tc).toBe(true);
    const tcp = readAnswers((await tcpQuery(port, encodeQuery(3, 'big.test', RecordType.A))) as Buffer);
    expect(tcp?.answers).toHaveLength(40);
    expect(upstream.seen).toContain('tcp big.test');
  });

  it('answers SERVFAIL when the upstream does not answer, and counts the failure', async () => {
    const before = metrics.get('istio_dns_upstream_failures_total');
    const read = readAnswers((await udpQuery(port, encodeQuery(5, 'silent.test', RecordType.A))) as Buffer);
    expect(read?.header).toMatchObject({ id: 5, rcode: Rcode.SERVFAIL });
    expect(metrics.get('istio_dns_upstream_failures_total')).toBe(before + 1);
    expect(log.at(-1)?.result).toMatch(/^forwarding failed \(no answer from 127\.0\.0\.1:\d+ within 1000 ms\)$/);
  });

  it('hostile input: FORMERR or silence, never a crash, and it keeps serving', async () => {
    const header = (flags: number, qd: number) => Buffer.from([0xab, 0xcd, flags >> 8, flags & 0xff, 0, qd, 0, 0, 0, 0, 0, 0]);
    // Truncated: no answer.
    expect(await udpQuery(port, Buffer.from([1, 2, 3]), 300)).toBeUndefined();
    // A response sent as a query: dropped.
    expect(await udpQuery(port, Buffer.concat([header(0x8000, 1), Buffer.from([0, 0, 1, 0, 1])]), 300)).toBeUndefined();
    // Compression loop: FORMERR with the id.
    const loop = await udpQuery(port, Buffer.concat([header(0x0100, 1), Buffer.from([0xc0, 12, 0, 1, 0, 1])]));
    expect(readAnswers(loop as Buffer)?.header).toMatchObject({ id: 0xabcd, rcode: Rcode.FORMERR });
    // Oversized: a 9,000-byte datagram of labels.
    const big = Buffer.concat([header(0x0100, 1), Buffer.alloc(9000, 0x3f)]);
    expect(readAnswers((await udpQuery(port, big)) as Buffer)?.header.rcode).toBe(Rcode.FORMERR);
    // TCP: a length prefix promising more than arrives, then silence: closed after the idle timeout.
    const stalled = new Socket();
    const closed = new Promise<void>((resolve) => stalled.on('close', () => resolve()));
    stalled.on('error', () => {});
    stalled.connect(port, '127.0.0.1', () => stalled.write(Buffer.from([0xff, 0xff, 1, 2, 3])));
    await closed;
    // TCP garbage of the announced length: FORMERR.
    const garbage = await tcpQuery(port, Buffer.concat([header(0x0100, 3), Buffer.alloc(20, 0xc0)]));
    expect(readAnswers(garbage as Buffer)?.header.rcode).toBe(Rcode.FORMERR);
    // Still serving.
    const read = readAnswers((await udpQuery(port, encodeQuery(11, 'reviews.default', RecordType.A))) as Buffer);
    expect(read?.answers[0]?.data).toBe('10.77.100.11');
  });
});

describe('DnsServer refusing unknown sources (transparent mode)', () => {
  it('answers REFUSED to a source that is not a local pod and not accepted otherwise', async () => {
    const server = new DnsServer({
      host: '127.0.0.1',
      port: 0,
      table: () => TABLE,
      clientOf: () => undefined,
      forwarder: new DnsForwarder({ upstreams: [] }),
      metrics: new DnsMetrics(),
      servesUnknown: () => false,
    });
    try {
      await server.start();
      const read = readAnswers((await udpQuery(server.udpAddress().port, encodeQuery(1, 'reviews.default', RecordType.A))) as Buffer);
      expect(read?.header).toMatchObject({ id: 1, rcode: Rcode.REFUSED, ancount: 0 });
    } finally {
      server.destroy();
    }
    await expect(server.start()).rejects.toMatchObject({ code: 'ZTUNNEL_ERR_DNS_CLOSED' });
  });
});

describe('upstream configuration', () => {
  it('reads nameservers from resolv.conf text', () => {
    expect(parseResolvConf('# c\nsearch default.svc.cluster.local\nnameserver 10.96.0.10\nnameserver fe80::1%eth0\nnameserver bogus\noptions ndots:5\n')).toEqual([
      { address: '10.96.0.10', port: 53 },
      { address: 'fe80::1', port: 53 },
    ]);
  });
  it('parses --dns-upstream values', () => {
    expect(parseUpstream('10.0.0.1')).toEqual({ address: '10.0.0.1', port: 53 });
    expect(parseUpstream('127.0.0.1:5353')).toEqual({ address: '127.0.0.1', port: 5353 });
    expect(parseUpstream('[::1]:53')).toEqual({ address: '::1', port: 53 });
    expect(() => parseUpstream('dns.example:53')).toThrow(/not ip\[:port\]/);
  });
});
