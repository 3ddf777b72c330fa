/**
 * The Gateway API conformance suite's request machinery, ported to a mesh in network namespaces:
 * a client in a pod (captured by its node's ztunnel, like the suite's mesh client running in the
 * echo pod) sends one request per attempt and reads the echo backend's JSON; `compare` applies
 * the suite's expectations (status, headers that must be, must not be or may be one of several
 * values, the request the backend saw, the pod that answered, a redirect's Location); and
 * `awaitConvergence` is the suite's rule: an expectation holds only after it held
 * `threshold` times in a row (3), within `maxTimeToConsistency` (30 s), 1 s after a miss.
 */
import { request as httpRequest } from 'node:http';
import { connect as h2connect } from 'node:http2';
import { createTcpSocket } from '@mesh/netfilter';

/** The suite's defaults (conformance/utils/config): RequiredConsecutiveSuccesses, MaxTimeToConsistency, RequestTimeout. */
export const CONVERGENCE = { threshold: 3, maxTimeToConsistencyMs: 30_000, requestTimeoutMs: 10_000, delayAfterMissMs: 1_000 } as const;

export interface ConformanceRequest {
  /** `echo`, `echo-v1.gateway-conformance-mesh`, `echo-v2:8080`, `10.77.2.20:8080`; the Host header unless `headers.Host` overrides it. */
  readonly host?: string;
  readonly method?: string;
  readonly path?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** HTTP/2 with prior knowledge instead of HTTP/1.1. */
  readonly protocol?: 'h2c';
}

/** One case of a ported test: what to send and what must come back (the suite's ExpectedResponse). */
export interface ExpectedResponse {
  readonly name?: string;
  readonly request: ConformanceRequest;
  /** What the backend must have seen; defaults to `request` (path, method, host, headers). */
  readonly expectedRequest?: { readonly host?: string; readonly method?: string; readonly path?: string; readonly headers?: Readonly<Record<string, string>>; readonly absentHeaders?: readonly string[] };
  /** Response headers the echo backend is asked to set (X-Echo-Set-Header). */
  readonly backendSetResponseHeaders?: Readonly<Record<string, string>>;
  readonly response?: {
    /** Default 200; a list when several are acceptable. */
    readonly status?: number | readonly number[];
    readonly headers?: Readonly<Record<string, string>>;
    readonly absentHeaders?: readonly string[];
    /** Header → acceptable values. */
    readonly validHeaderValues?: Readonly<Record<string, readonly string[]>>;
    readonly ignoreWhitespace?: boolean;
  };
  /** For a 3xx: the Location's parts that must hold (unset: the request's scheme and path, any host; the suite's defaults). */
  readonly redirect?: { readonly scheme?: string; readonly host?: string; readonly port?: string; readonly path?: string };
  /** Prefix of the pod that must answer (a 200). */
  readonly backend?: string;
  /** Namespace of the pod that must answer (a 200). */
  readonly namespace?: string;
}

/** What the backend reported of the request (the echo JSON), when it answered. */
export interface CapturedRequest {
  readonly path: string;
  readonly host: string;
  readonly method: string;
  readonly proto: string;
  readonly headers: Readonly<Record<string, readonly string[]>>;
  readonly namespace: string;
  readonly pod: string;
}

export interface Captured {
  readonly status: number;
  /** Lower-case names; repeated headers keep every value. */
  readonly headers: Readonly<Record<string, readonly string[]>>;
  readonly body: string;
  readonly request?: CapturedRequest;
}

/** A pod the suite's requests are sent from. */
export interface ClientPod {
  readonly netns: string;
  /** For short names: `echo` is `echo.<namespace>`. */
  readonly namespace: string;
}

/** `name.namespace` (or a bare name, in `namespace`) → the Service's cluster IP. */
export type ServiceResolver = (name: string, namespace: string) => string | undefined;

function resolveHost(host: string, client: ClientPod, resolve: ServiceResolver): { ip: string; port: number; hostHeader: string } {
  const m = /^(.*?)(?::(\d+))?$/.exec(host) as RegExpExecArray;
  const name = m[1] as string;
  const port = m[2] ? Number(m[2]) : 80;
  const labels = name.replace(/\.svc\.cluster\.local$/, '').split('.');
  const ip = /^\d+\.\d+\.\d+\.\d+$/.test(name) ? name : resolve(labels[0] as string, labels[1] ?? client.namespace);
  if (!ip) throw new Error(`no Service for host "${host}" from namespace ${client.namespace}`);
  // The suite's CalculateHost: no port in Host when it is the scheme's default.
  return { ip, port, hostHeader: port === 80 ? name : host };
}

function lowerCaseHeaders(raw: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) (out[(raw[i] as string).toLowerCase()] ??= []).push(raw[i + 1] as string);
  return out;
}

function parseEcho(body: string, contentType: string | undefined): CapturedRequest | undefined {
  if (!contentType?.includes('application/json')) return undefined;
  try {
    const j = JSON.parse(body) as Partial<CapturedRequest>;
    return typeof j.pod === 'string' ? (j as CapturedRequest) : undefined;
  } catch {
    return undefined;
  }
}

/** One request from the client pod, as the suite's round tripper makes it (no redirect following). */
export async function send(client: ClientPod, resolve: ServiceResolver, expected: ExpectedResponse): Promise<Captured> {
  const req = expected.request;
  const { ip, port, hostHeader } = resolveHost(req.host ?? 'echo', client, resolve);
  const headers: Record<string, string> = { host: hostHeader };
  for (const [name, value] of Object.entries(req.headers ?? {})) headers[name.toLowerCase()] = value;
  const setHeaders = Object.entries(expected.backendSetResponseHeaders ?? {}).map(([n, v]) => `${n}:${v}`);
  headers['x-echo-set-header'] = setHeaders.join(',');
  const method = req.method ?? 'GET';
  const path = req.path ?? '/';
  const socket = () => createTcpSocket({ netns: client.netns }).connect(port, ip);
  if (req.protocol === 'h2c') {
    const session = h2connect(`http://${ip}:${port}`, { createConnection: socket });
    session.on('error', () => undefined);
    try {
      return await new Promise<Captured>((done, fail) => {
        const { host, ...rest } = headers;
        const stream = session.request({ ...rest, ':method': method, ':path': path, ':authority': host });
        const timer = setTimeout(() => stream.close(), CONVERGENCE.requestTimeoutMs);
        let status = 0;
        let responseHeaders: Record<string, string[]> = {};
        let body = '';
        stream.setEncoding('utf8');
        stream.once('response', (h) => {
          status = Number(h[':status']);
          responseHeaders = Object.fromEntries(Object.entries(h).filter(([k]) => !k.startsWith(':')).map(([k, v]) => [k, Array.isArray(v) ? v : [String(v)]]));
        });
        stream.on('data', (c: string) => (body += c));
        stream.once('end', () => {
          clearTimeout(timer);
          const request = parseEcho(body, responseHeaders['content-type']?.[0]);
          done({ status, headers: responseHeaders, body, ...(request ? { request } : {}) });
        });
        stream.once('error', (err) => {
          clearTimeout(timer);
          fail(err);
        });
        stream.end();
      });
    } finally {
      session.close();
    }
  }
  return new Promise<Captured>((done, fail) => {
    const outgoing = httpRequest({ host: ip, port, method, path, headers, createConnection: socket as never }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.once('end', () => {
        const responseHeaders = lowerCaseHeaders(res.rawHeaders);
        const request = parseEcho(body, responseHeaders['content-type']?.[0]);
        done({ status: res.statusCode ?? 0, headers: responseHeaders, body, ...(request ? { request } : {}) });
      });
      res.once('error', fail);
    });
    outgoing.setTimeout(CONVERGENCE.requestTimeoutMs, () => outgoing.destroy(new Error(`${method} ${path}: no answer within ${CONVERGENCE.requestTimeoutMs} ms`)));
    outgoing.once('error', fail);
    outgoing.end();
  });
}

const squash = (s: string) => s.replace(/\s+/g, '');

/**
 * The suite's CompareRequest: undefined when `captured` meets `expected`, else why not. Response
 * headers are checked whatever the status (the suite's mesh comparison does so); the request
 * the backend saw and the pod only for a 200, the Location only for a 3xx.
 */
export function compare(expected: ExpectedResponse, captured: Captured): string | undefined {
  const statuses = expected.response?.status === undefined ? [200] : typeof expected.response.status === 'number' ? [expected.response.status] : expected.response.status;
  if (!statuses.includes(captured.status)) return `expected status ${statuses.join(' or ')}, got ${captured.status} (${captured.body.slice(0, 200).trim()})`;
  const header = (name: string) => captured.headers[name.toLowerCase()];
  const norm = (s: string) => (expected.response?.ignoreWhitespace ? squash(s) : s);
  for (const [name, want] of Object.entries(expected.response?.headers ?? {})) {
    const got = header(name)?.join(',');
    if (got === undefined || norm(got) !== norm(want)) return `expected response header ${name}: ${want}, got ${got ?? 'none'}`;
  }
  for (const name of expected.response?.absentHeaders ?? []) if (header(name)) return `expected no response header ${name}, got ${header(name)?.join(',')}`;
  for (const [name, valid] of Object.entries(expected.response?.validHeaderValues ?? {})) {
    const got = header(name)?.join(',');
    if (got === undefined || !valid.some((v) => norm(v) === norm(got))) return `expected response header ${name} to be one of ${valid.join(' | ')}, got ${got ?? 'none'}`;
  }
  if (captured.status === 200) {
    const seen = captured.request;
    const want = expected.expectedRequest ?? { ...expected.request };
    const path = want.path ?? expected.request.path ?? '/';
    const method = want.method ?? 'GET';
    if ((seen?.path ?? '') !== path && !(path === '' && !seen)) return `expected the backend to see path ${path}, got ${seen?.path ?? 'no echo'}`;
    if (seen && seen.method !== method) return `expected method ${method}, got ${seen.method}`;
    if (expected.expectedRequest?.host !== undefined && expected.expectedRequest.host !== '' && seen?.host !== expected.expectedRequest.host) return `expected host ${expected.expectedRequest.host}, got ${seen?.host}`;
    if (expected.namespace !== undefined && (seen?.namespace ?? '') !== expected.namespace) return `expected a pod in namespace ${expected.namespace}, got ${seen?.namespace ?? 'no echo'}`;
    const seenHeader = (name: string) => Object.entries(seen?.headers ?? {}).find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
    for (const [name, value] of Object.entries(want.headers ?? {})) {
      if (name.toLowerCase() === 'host') continue;
      const got = seenHeader(name)?.join(',');
      if (got !== value) return `expected the backend to see ${name}: ${value}, got ${got ?? 'none'}`;
    }
    for (const name of expected.expectedRequest?.absentHeaders ?? []) if (seenHeader(name)) return `expected the backend not to see ${name}, got ${seenHeader(name)?.join(',')}`;
    if (expected.backend !== undefined && !(seen?.pod ?? '').startsWith(expected.backend)) return `expected pod ${expected.backend}…, got ${seen?.pod ?? 'no echo'}`;
  } else if (captured.status >= 300 && captured.status < 400 && expected.redirect) {
    const location = header('location')?.[0];
    if (!location) return 'expected a Location header';
    const url = new URL(location);
    const scheme = url.protocol.replace(/:$/, '');
    const want = expected.redirect;
    if (want.host !== undefined && url.hostname !== want.host) return `expected redirect host ${want.host}, got ${url.hostname} (${location})`;
    if (scheme !== (want.scheme ?? 'http')) return `expected redirect scheme ${want.scheme ?? 'http'}, got ${scheme} (${location})`;
    const requestPath = (expected.request.path ?? '/').split('?')[0];
    if (url.pathname !== (want.path ?? requestPath)) return `expected redirect path ${want.path ?? requestPath}, got ${url.pathname} (${location})`;
    const wellKnown = scheme === 'https' ? '443' : scheme === 'http' ? '80' : undefined;
    // URL drops the scheme's default port, which the suite accepts as that port.
    const port = url.port === '' ? wellKnown : url.port;
    if ((want.port ?? wellKnown) !== port) return `expected redirect port ${want.port ?? `${wellKnown} or none`}, got ${url.port || 'none'} (${location})`;
  }
  return undefined;
}

/** The suite's AwaitConvergence: `check` must pass `threshold` times in a row; after a miss, wait and start over. */
export async function awaitConvergence(what: string, check: () => Promise<string | undefined>, threshold: number = CONVERGENCE.threshold, maxMs: number = CONVERGENCE.maxTimeToConsistencyMs): Promise<void> {
  const started = Date.now();
  let successes = 0;
  let attempts = 0;
  let lastMiss = '';
  for (;;) {
    attempts++;
    const miss = await check().catch((err: unknown) => `request failed: ${(err as Error).message}`);
    if (miss === undefined) {
      if (++successes >= threshold) return;
      continue;
    }
    successes = 0;
    lastMiss = miss;
    if (Date.now() - started + CONVERGENCE.delayAfterMissMs > maxMs) throw new Error(`${what}: not consistent within ${maxMs} ms after ${attempts} attempts; last: ${lastMiss}`);
    await new Promise((r) => setTimeout(r, CONVERGENCE.delayAfterMissMs));
  }
}

/** Sends `expected` until it holds consistently (MakeRequestAndExpectEventuallyConsistentResponse). */
export function expectEventually(client: ClientPod, resolve: ServiceResolver, expected: ExpectedResponse, threshold?: number): Promise<void> {
  const what = expected.name ?? `${expected.request.method ?? 'GET'} ${expected.request.host ?? 'echo'}${expected.request.path ?? '/'}`;
  return awaitConvergence(what, async () => compare(expected, await send(client, resolve, expected)), threshold);
}
