/**
 * ztunnel's DNS proxy: UDP and TCP on one port (15053, Istio's), answering pods' A/AAAA queries
 * for Service names from the mesh config (plan.ts) and forwarding the rest to the node's
 * resolver (forwarder.ts). This file is the socket code; every decision is made by the pure
 * parts (wire.ts, plan.ts).
 *
 * Invariants:
 * - No peer input ends the process or grows memory without bound: a message that is not even a
 *   header, or is a response, is dropped; any other malformation is answered FORMERR (wire.ts
 *   `parseQuery` never throws); at most `maxInflight` forwards wait upstream at once (more are
 *   answered SERVFAIL); at most `maxTcpConnections` TCP clients are held, each for at most
 *   `tcpIdleTimeoutMs` between messages and with at most one 64 KiB message buffered.
 * - Who is answered: a local captured pod (its namespace gives the search path), and any other
 *   source `servesUnknown` accepts (explicit mode: anyone, since clients have no pod address;
 *   transparent mode: the node itself, not the underlay). Other sources get REFUSED.
 * - Lifecycle: `start()` once; `close()` stops listening and lets answers in flight finish;
 *   `destroy()` drops everything; both idempotent; `start()` after either fails with
 *   ZTUNNEL_ERR_DNS_CLOSED.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { MeshError } from '@mesh/errors';
import type { DnsForwarder } from './forwarder.js';
import type { DnsLabels, DnsMetrics } from './metrics.js';
import { planDnsQuestion, type DnsClient, type DnsTable } from './plan.js';
import { CLASSIC_UDP_PAYLOAD, encodeError, encodeResponse, nameOf, parseQuery, Rcode, rcodeName, RecordType, typeName, type DnsQuery } from './wire.js';

/** Istio's DNS capture port. */
export const DNS_PROXY_PORT = 15053;
/** Istio's ztunnel waits 5 s for a TCP request. */
export const DNS_TCP_IDLE_TIMEOUT_MS = 5_000;
export const DNS_MAX_INFLIGHT = 1_024;
export const DNS_MAX_TCP_CONNECTIONS = 256;

/** One access-log line per query, with Istio ztunnel's fields (target `dns`) plus address, protocol, rcode and duration. */
export interface DnsAccessEntry {
  readonly 'src.addr': string;
  readonly 'src.workload': string;
  readonly 'src.namespace': string;
  readonly protocol: 'udp' | 'tcp';
  /** Record type of the question (`A`, `AAAA`, …). */
  readonly query: string;
  /** The name asked, with its trailing dot as Istio writes it. */
  readonly domain: string;
  /** `success`, `no records`, `forwarded`, `forwarding failed (…)`, `refused`, `malformed (…)`, `overloaded`. */
  readonly result: string;
  readonly endpoints: number;
  readonly rcode: string;
  readonly duration: string;
}

export interface DnsServerOptions {
  readonly host: string;
  readonly port: number;
  readonly table: () => DnsTable;
  readonly clientOf: (sourceIp: string) => DnsClient | undefined;
  readonly forwarder: DnsForwarder;
  readonly metrics: DnsMetrics;
  readonly onQuery?: (entry: DnsAccessEntry) => void;
  /** Whether a source that is not a local pod is answered (default: yes). */
  readonly servesUnknown?: (sourceIp: string) => boolean;
  readonly maxInflight?: number;
  readonly maxTcpConnections?: number;
  readonly tcpIdleTimeoutMs?: number;
}

export class DnsServer {
  readonly #o: DnsServerOptions;
  #udp: UdpSocket | undefined;
  #tcp: Server | undefined;
  readonly #connections = new Set<Socket>();
  #inflight = 0;
  #state: 'new' | 'started' | 'closed' = 'new';

  constructor(options: DnsServerOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    if (this.#state === 'closed') throw new MeshError('ZTUNNEL_ERR_DNS_CLOSED', 'the DNS proxy was closed');
    if (this.#state === 'started') return;
    this.#state = 'started';
    const { host, port } = this.#o;
    // Port 0 (tests) takes an ephemeral UDP port and the same number for TCP, which another
    // process may hold: then both are given up and another pair tried.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#listen(host, port);
        return;
      } catch (err) {
        this.#udp?.close();
        this.#udp = undefined;
        this.#tcp = undefined;
        if (port !== 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 10) throw err;
      }
    }
  }

  async #listen(host: string, port: number): Promise<void> {
    const udp = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', reuseAddr: false });
    this.#udp = udp;
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    udp.on('error', () => {
      // A send that failed (an unreachable client) costs that answer only.
    });
    udp.on('message', (msg, from) => {
      this.#answer(msg, from.address, from.port, 'udp').then(
        (out) => {
          if (out && this.#udp) this.#udp.send(out, from.port, from.address);
        },
        () => undefined, // a failure costs that query only (no answer); the client retries
      );
    });
    const tcp = createServer({ allowHalfOpen: false }, (socket) => this.#onTcp(socket));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      // The same port as the UDP socket.
      tcp.listen(this.udpAddress().port, host, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    this.#tcp = tcp;
  }

  udpAddress(): { address: string; port: number } {
    const a = this.#udp?.address();
    return { address: a?.address ?? this.#o.host, port: a?.port ?? this.#o.port };
  }

  /** Stops listening; answers in flight are still sent over TCP connections that stay open until then. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#udp?.close();
    this.#udp = undefined;
    const tcp = this.#tcp;
    this.#tcp = undefined;
    for (const socket of this.#connections) socket.end();
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }

  destroy(): void {
    void this.close();
    for (const socket of this.#connections) socket.destroy();
    this.#connections.clear();
  }

  #onTcp(socket: Socket): void {
    if (this.#connections.size >= (this.#o.maxTcpConnections ?? DNS_MAX_TCP_CONNECTIONS)) {
      socket.destroy();
      return;
    }
    this.#connections.add(socket);
    socket.on('close', () => this.#connections.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(this.#o.tcpIdleTimeoutMs ?? DNS_TCP_IDLE_TIMEOUT_MS, () => socket.destroy());
    let buffered = Buffer.alloc(0);
    let busy = false;
    const pump = async () => {
      if (busy) return;
      busy = true;
      // One message at a time per connection (RFC 7766 §6.2.1.1 allows pipelining; answers keep order).
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0) && !socket.destroyed) {
        const length = buffered.readUInt16BE(0);
        const message = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        socket.pause();
        const out = await this.#answer(message, socket.remoteAddress ?? '', socket.remotePort ?? 0, 'tcp');
        if (out && !socket.destroyed) {
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(out.length, 0);
          socket.write(Buffer.concat([prefix, out]));
        }
        if (!socket.destroyed) socket.resume();
      }
      busy = false;
    };
    socket.on('data', (chunk) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      // A length prefix bounds a message to 64 KiB; more than one whole message plus a prefix waiting means a client that does not read.
      if (buffered.length > 2 * (2 + 0xffff)) {
        socket.destroy();
        return;
      }
      pump().catch(() => socket.destroy());
    });
  }

  /** One message from a client → the bytes to send back (undefined: send nothing). */
  async #answer(message: Uint8Array, sourceIp: string, sourcePort: number, protocol: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    const started = process.hrtime.bigint();
    const parsed = parseQuery(message);
    if (parsed.kind === 'drop') return undefined;
    const client = this.#o.clientOf(sourceIp);
    const log = (query: DnsQuery | undefined, result: string, rcode: number, endpoints: number, q = query?.question) => {
      this.#o.onQuery?.({
        'src.addr': `${isIPv6(sourceIp) ? `[${sourceIp}]` : sourceIp}:${sourcePort}`,
        'src.workload': client?.workload ?? 'unknown',
        'src.namespace': client?.namespace ?? 'unknown',
        protocol,
        query: q ? typeName(q.type) : 'unknown',
        domain: q ? `${nameOf(q.labels)}${q.labels.length > 0 ? '.' : ''}` : 'unknown',
        result,
        endpoints,
        rcode: rcodeName(rcode),
        duration: `${Number((process.hrtime.bigint() - started) / 1000n) / 1000}ms`,
      });
    };
    if (parsed.kind === 'error') {
      log(undefined, `malformed (${parsed.reason})`, parsed.rcode, 0, parsed.question);
      return encodeError(parsed.header, parsed.rcode, parsed.question);
    }
    const { query } = parsed;
    const { header, question, edns } = query;
    const labels: DnsLabels = {
      request_query_type: typeName(question.type).toLowerCase(),
      request_protocol: protocol,
      source_canonical_service: client?.workload ?? 'unknown',
      source_canonical_revision: 'unknown',
    };
    this.#o.metrics.increment('istio_dns_requests_total', labels);
    if (!client && this.#o.servesUnknown && !this.#o.servesUnknown(sourceIp)) {
      log(query, 'refused', Rcode.REFUSED, 0);
      return encodeError(header, Rcode.REFUSED, question, edns);
    }
    const plan = planDnsQuestion(this.#o.table(), question, client);
    if (plan.kind === 'answer') {
      log(query, plan.result, Rcode.NOERROR, plan.records.filter((r) => r.type !== RecordType.CNAME).length);
      const response = { id: header.id, rd: header.rd, aa: true, ra: true, rcode: Rcode.NOERROR, question, answers: plan.records, ...(edns ? { edns } : {}) };
      const out = encodeResponse(response);
      const limit = protocol === 'udp' ? (edns?.udpPayloadSize ?? CLASSIC_UDP_PAYLOAD) : Infinity;
      // Too large for the client's UDP buffer: say so with TC and no answers; it retries over TCP (RFC 2181 §9).
      if (out.length > limit) return truncated(encodeResponse({ ...response, answers: [] }));
      return out;
    }
    if (this.#inflight >= (this.#o.maxInflight ?? DNS_MAX_INFLIGHT)) {
      log(query, 'overloaded', Rcode.SERVFAIL, 0);
      return encodeError(header, Rcode.SERVFAIL, question, edns);
    }
    this.#o.metrics.increment('istio_dns_upstream_requests_total', labels);
    this.#inflight++;
    const forwardStart = process.hrtime.bigint();
    try {
      const result = await this.#o.forwarder.forward(message, question, protocol);
      this.#o.metrics.observeUpstream(labels, Number(process.hrtime.bigint() - forwardStart) / 1e9);
      if (!result.ok) {
        this.#o.metrics.increment('istio_dns_upstream_failures_total', labels);
        log(query, `forwarding failed (${result.error})`, Rcode.SERVFAIL, 0);
        return encodeError(header, Rcode.SERVFAIL, question, edns);
      }
      log(query, 'forwarded', result.rcode, result.answers);
      return result.response;
    } finally {
      this.#inflight--;
    }
  }
}

/** Sets the TC bit of an encoded response. */
function truncated(out: Buffer): Buffer {
  out[2] = (out[2] as number) | 0x02;
  return out;
}
