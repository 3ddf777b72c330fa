/**
 * What a sample workload answers: who it is and what it saw of the connection. Pure, so the
 * text a user reads in the tour is table-tested.
 */

export interface WorkloadIdentity {
  readonly pod: string;
  readonly namespace: string;
  readonly node?: string | undefined;
}

export interface UpstreamResult {
  readonly url: string;
  /** HTTP status, or undefined when the call failed. */
  readonly status?: number | undefined;
  readonly body?: string | undefined;
  readonly error?: string | undefined;
}

export interface HttpReport {
  readonly workload: WorkloadIdentity;
  /** `ip:port` the connection came from, as the pod's socket sees it. */
  readonly source: string;
  /** `ip:port` the connection arrived at (the pod's own address). */
  readonly destination: string;
  readonly method: string;
  readonly url: string;
  /** Lower-case names, in arrival order (repeated headers repeat). */
  readonly headers: readonly (readonly [string, string])[];
  readonly upstreams: readonly UpstreamResult[];
}

export function workloadLabel(w: WorkloadIdentity): string {
  return `${w.pod}.${w.namespace}${w.node ? ` on ${w.node}` : ''}`;
}

const INDENT = '    ';

/**
 * Plain text for a person running curl: the first line names the pod, then the connection,
 * the headers it received, and each upstream's answer indented under it (so a chain of calls
 * reads as a tree).
 */
export function formatHttpReport(report: HttpReport): string {
  const lines = [
    `${workloadLabel(report.workload)} answered ${report.method} ${report.url}`,
    `  connection: ${report.source} -> ${report.destination}`,
    '  request headers:',
    ...report.headers.map(([name, value]) => `${INDENT}${name}: ${value}`),
  ];
  for (const upstream of report.upstreams) {
    const outcome = upstream.error ? `failed: ${upstream.error}` : `${upstream.status}`;
    lines.push(`  called ${upstream.url} -> ${outcome}`);
    if (upstream.body) lines.push(...upstream.body.trimEnd().split('\n').map((l) => `${INDENT}${l}`));
  }
  return `${lines.join('\n')}\n`;
}

/** The same, as JSON (`?format=json` or `Accept: application/json`). */
export function httpReportJson(report: HttpReport): string {
  return `${JSON.stringify(
    {
      pod: report.workload.pod,
      namespace: report.workload.namespace,
      node: report.workload.node,
      source: report.source,
      destination: report.destination,
      method: report.method,
      url: report.url,
      headers: Object.fromEntries(report.headers),
      upstreams: report.upstreams,
    },
    null,
    2,
  )}\n`;
}

/** The first line a TCP (non-HTTP) client gets: who answered, and the connection's two ends. */
export function formatTcpBanner(workload: WorkloadIdentity, source: string, destination: string): string {
  return `${workloadLabel(workload)} source=${source} destination=${destination}\n`;
}

/** `1.2.3.4:80`, `[::1]:80`. */
export function formatAddress(address: string | undefined, port: number | undefined): string {
  if (!address) return 'unknown';
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** What the conformance suite's echo server reports of a request (`--http-answer echo`). */
export interface EchoRequest {
  readonly workload: WorkloadIdentity;
  /** Path with query string, as the request line had it. */
  readonly path: string;
  readonly host: string;
  readonly method: string;
  /** `HTTP/1.1` or `HTTP/2.0`. */
  readonly proto: string;
  /** As received; the Host header is reported as `host` instead. */
  readonly headers: readonly (readonly [string, string])[];
}

/** Go's canonical header name (`x-echo-set-header` → `X-Echo-Set-Header`). */
export function canonicalHeaderName(name: string): string {
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => `${dash}${c.toUpperCase()}`);
}

/**
 * The JSON the Gateway API conformance suite's echo server answers with (`path`, `host`,
 * `method`, `proto`, `headers` as canonical name → values, `namespace`, `ingress`, `service`,
 * `pod`), so the suite's expectations read the same fields.
 */
export function echoBasicJson(request: EchoRequest): string {
  const headers: Record<string, string[]> = {};
  for (const [name, value] of request.headers) {
    if (name.toLowerCase() === 'host') continue;
    (headers[canonicalHeaderName(name)] ??= []).push(value);
  }
  return `${JSON.stringify(
    {
      path: request.path,
      host: request.host,
      method: request.method,
      proto: request.proto,
      headers,
      namespace: request.workload.namespace,
      ingress: '',
      service: '',
      pod: request.workload.pod,
    },
    null,
    1,
  )}\n`;
}
