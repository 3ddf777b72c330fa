/**
 * Forwarding to the node's resolver: names that are not the mesh's go to the nameservers of
 * ztunnel's own /etc/resolv.conf (`--dns-resolv-conf`, or `--dns-upstream` to name them), as
 * Istio's ztunnel forwards with the node's resolver settings in shared mode.
 *
 * The client's message is relayed as it came, with a fresh random id per upstream attempt and
 * from a fresh socket (a random source port: RFC 5452 §9.2), and the answer goes back with the
 * client's id once it matches the id, the question and the upstream's address; anything else
 * arriving on that socket is ignored. Each nameserver is tried in order with its own timeout;
 * when all fail the caller answers SERVFAIL. UDP queries are forwarded over UDP (a truncated
 * answer is relayed as such, and the client retries over TCP as RFC 7766 says); TCP queries
 * over TCP.
 */
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { isIP, Socket } from 'node:net';
import { MeshError } from '@mesh/errors';
import { readAnswers, readHeader, type DnsQuestion } from './wire.js';

export const DNS_PORT = 53;
export const DEFAULT_RESOLV_CONF = '/etc/resolv.conf';
export const UPSTREAM_TIMEOUT_MS = 2_000;

export interface Upstream {
  readonly address: string;
  readonly port: number;
}

/** `nameserver` lines of a resolv.conf (resolv.conf(5)); other lines are not needed here. */
export function parseResolvConf(text: string): Upstream[] {
  const out: Upstream[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [keyword, value] = line.split(/\s+/);
    if (keyword !== 'nameserver' || !value) continue;
    const address = value.replace(/%.*$/, '');
    if (isIP(address)) out.push({ address, port: DNS_PORT });
  }
  return out;
}

/** `10.0.0.10`, `10.0.0.10:5353`, `[::1]:53` → an upstream. */
export function parseUpstream(text: string): Upstream {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const [address, port] = bracketed ? [bracketed[1] ?? '', bracketed[2]] : isIP(text) ? [text, undefined] : [text.slice(0, text.lastIndexOf(':')), text.slice(text.lastIndexOf(':') + 1)];
  const portNumber = port === undefined ? DNS_PORT : Number(port);
  if (!isIP(address) || !Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65_535) {
    throw new MeshError('ZTUNNEL_ERR_CONFIG', `DNS upstream "${text}" is not ip[:port]`, { hint: 'e.g. --dns-upstream 10.96.0.10 or 127.0.0.1:5353' });
  }
  return { address, port: portNumber };
}

/** The upstreams from the flag, else from the resolv.conf file; an empty list forwards nothing (SERVFAIL). */
export function upstreamsFrom(options: { upstream?: readonly string[] | undefined; resolvConf?: string | undefined }): Upstream[] {
  if (options.upstream && options.upstream.length > 0) return options.upstream.map(parseUpstream);
  try {
    return parseResolvConf(readFileSync(options.resolvConf ?? DEFAULT_RESOLV_CONF, 'utf8'));
  } catch {
    return [];
  }
}

export type ForwardResult =
  | { readonly ok: true; readonly response: Buffer; readonly upstream: Upstream; readonly rcode: number; readonly answers: number }
  | { readonly ok: false; readonly error: string };

const sameQuestion = (a: DnsQuestion | undefined, b: DnsQuestion) =>
  a !== undefined && a.type === b.type && a.class === b.class && a.labels.length === b.labels.length && a.labels.every((l, i) => l.toLowerCase() === (b.labels[i] as string).toLowerCase());

function withId(message: Uint8Array, id: number): Buffer {
  const copy = Buffer.from(message);
  copy.writeUInt16BE(id, 0);
  return copy;
}

/** Checks an upstream's answer against what was asked; returns it with the client's id. */
function acceptAnswer(raw: Buffer, id: number, question: DnsQuestion, clientId: number): { response: Buffer; rcode: number; answers: number } | undefined {
  const header = readHeader(raw);
  if (!header || header.id !== id || !header.qr) return undefined;
  const parsed = readAnswers(raw);
  // A truncated answer may lack its answer section but still carries the question.
  if (parsed ? !sameQuestion(parsed.question, question) : !header.tc) return undefined;
  return { response: withId(raw, clientId), rcode: header.rcode, answers: parsed?.answers.length ?? 0 };
}

type Accepted = { response: Buffer; rcode: number; answers: number };
/** An attempt's outcome: the accepted answer, or why there is none. */
type Outcome = Accepted | string;

/**
 * One attempt against one upstream: a fresh id, settled once (by an answer, an error or the
 * timeout), after which `close` releases the socket. `start` sends the query and calls `answer`
 * with each message that arrives.
 */
function attempt(
  upstream: Upstream,
  message: Uint8Array,
  question: DnsQuestion,
  timeoutMs: number,
  label: string,
  start: (io: { id: number; answer: (raw: Buffer) => boolean; fail: (why: string) => void }) => { close: () => void },
): Promise<Outcome> {
  return new Promise((resolve) => {
    const id = randomInt(0, 0x10000);
    const clientId = readHeader(message)?.id ?? 0;
    const where = `${upstream.address}:${upstream.port}${label}`;
    let settled = false;
    let io: { close: () => void } | undefined;
    const done = (value: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      io?.close();
      resolve(value);
    };
    const timer = setTimeout(() => done(`no answer from ${where} within ${timeoutMs} ms`), timeoutMs);
    io = start({
      id,
      answer: (raw) => {
        const accepted = acceptAnswer(raw, id, question, clientId);
        if (accepted) done(accepted);
        return accepted !== undefined;
      },
      fail: (why) => done(`${where}: ${why}`),
    });
    if (settled) io.close();
  });
}

function udpAttempt(upstream: Upstream, message: Uint8Array, question: DnsQuestion, timeoutMs: number): Promise<Outcome> {
  return attempt(upstream, message, question, timeoutMs, '', ({ id, answer, fail }) => {
    const socket = createSocket(isIP(upstream.address) === 6 ? 'udp6' : 'udp4');
    socket.on('error', (err) => fail(err.message));
    socket.on('message', (raw, from) => {
      // Anything but the upstream's own answer to this id and question is ignored (spoofing).
      if (from.address === upstream.address && from.port === upstream.port) answer(raw);
    });
    socket.send(withId(message, id), upstream.port, upstream.address);
    return { close: () => socket.close() };
  });
}

function tcpAttempt(upstream: Upstream, message: Uint8Array, question: DnsQuestion, timeoutMs: number): Promise<Outcome> {
  return attempt(upstream, message, question, timeoutMs, ' (TCP)', ({ id, answer, fail }) => {
    const socket = new Socket();
    let buffered = Buffer.alloc(0);
    socket.on('error', (err) => fail(err.message));
    socket.on('close', () => fail('closed before answering'));
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 2 || buffered.length < 2 + buffered.readUInt16BE(0)) return;
      if (!answer(buffered.subarray(2, 2 + buffered.readUInt16BE(0)))) fail('answered another question');
    });
    socket.connect(upstream.port, upstream.address, () => {
      const body = withId(message, id);
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16BE(body.length, 0);
      socket.write(Buffer.concat([prefix, body]));
    });
    return { close: () => socket.destroy() };
  });
}

export interface ForwarderOptions {
  readonly upstreams: readonly Upstream[];
  readonly timeoutMs?: number;
}

export class DnsForwarder {
  readonly upstreams: readonly Upstream[];
  private readonly timeoutMs: number;

  constructor(options: ForwarderOptions) {
    this.upstreams = options.upstreams;
    this.timeoutMs = options.timeoutMs ?? UPSTREAM_TIMEOUT_MS;
  }

  /** Tries each upstream in turn; the first acceptable answer wins. */
  async forward(message: Uint8Array, question: DnsQuestion, protocol: 'udp' | 'tcp'): Promise<ForwardResult> {
    if (this.upstreams.length === 0) return { ok: false, error: 'no upstream resolver configured (no nameserver in resolv.conf)' };
    const errors: string[] = [];
    for (const upstream of this.upstreams) {
      const attempt = protocol === 'udp' ? udpAttempt : tcpAttempt;
      const result = await attempt(upstream, message, question, this.timeoutMs);
      if (typeof result === 'string') {
        errors.push(result);
        continue;
      }
      return { ok: true, upstream, ...result };
    }
    return { ok: false, error: errors.join('; ') };
  }
}
