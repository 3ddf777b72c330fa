/**
 * Admin on 15000 (node loopback), Envoy-style: `/config_dump` (the Envoy ConfigDump of what runs:
 * LDS, CDS, RDS, SDS secrets with the key redacted, and EDS with `?include_eds`), `/stats/prometheus` (istio_requests_total,
 * istio_request_duration_milliseconds), `/certs` (the waypoint's certificate), `/ready`.
 * Readiness on 15021: `/healthz/ready` (200 once config and certificate are in place).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildConfigDump, configDumpInputFromTypeStates, type ConfigDumpSecret, type XdsNode, type XdsTypeState } from '@mesh/xds';
import type { CertificateStatus } from '@mesh/workload-identity';

export interface AdminSources {
  node: XdsNode;
  startedAt: string;
  typeStates: () => ReadonlyMap<string, XdsTypeState>;
  metrics: () => string;
  certificate: () => CertificateStatus | undefined;
  /** The SDS secrets the config names: the waypoint's certificate (key redacted) and ROOTCA. */
  secrets: () => ConfigDumpSecret[];
  ready: () => boolean;
}

function send(res: ServerResponse, status: number, body: string, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function adminHandler(sources: AdminSources) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    switch (url.pathname) {
      case '/config_dump': {
        const includeEds = url.searchParams.has('include_eds') && url.searchParams.get('include_eds') !== 'false';
        const dump = buildConfigDump(
          configDumpInputFromTypeStates(sources.typeStates(), { bootstrap: { node: sources.node as never }, bootstrapLastUpdated: sources.startedAt, secrets: sources.secrets(), includeEds }),
        );
        return send(res, 200, `${JSON.stringify(dump, null, 2)}\n`);
      }
      case '/stats/prometheus':
        return send(res, 200, sources.metrics(), 'text/plain; version=0.0.4');
      case '/certs':
        return send(res, 200, `${JSON.stringify({ certificates: sources.certificate() ? [sources.certificate()] : [] }, null, 2)}\n`);
      case '/ready':
      case '/healthz/ready':
        return sources.ready() ? send(res, 200, 'LIVE\n', 'text/plain') : send(res, 503, 'not ready\n', 'text/plain');
      case '/':
        return send(res, 200, `${JSON.stringify({ endpoints: ['/config_dump', '/config_dump?include_eds', '/stats/prometheus', '/certs', '/ready'] }, null, 2)}\n`);
      default:
        return send(res, 404, `${JSON.stringify({ error: `no admin endpoint ${url.pathname}` })}\n`);
    }
  };
}

async function listen(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

export async function startAdmin(sources: AdminSources, host: string, adminPort: number, readinessPort: number): Promise<{ adminPort: number; readinessPort: number; close(): Promise<void> }> {
  const admin = createServer(adminHandler(sources));
  const readiness = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/healthz/ready' && path !== '/ready') return send(res, 404, 'not found\n', 'text/plain');
    return sources.ready() ? send(res, 200, 'ready\n', 'text/plain') : send(res, 503, 'not ready\n', 'text/plain');
  });
  const a = await listen(admin, host, adminPort);
  const r = await listen(readiness, host, readinessPort);
  return {
    adminPort: a,
    readinessPort: r,
    close: async () => {
      admin.closeAllConnections();
      readiness.closeAllConnections();
      await Promise.all([new Promise((resolve) => admin.close(resolve)), new Promise((resolve) => readiness.close(resolve))]);
    },
  };
}
