/**
 * The waypoint's HTTP surfaces (docs/operations.md, "Who may reach what"):
 *
 * - admin (15000), operator only: the pod's loopback and an owner-only Unix socket; Envoy-style
 *   `/config_dump` (the Envoy ConfigDump of what runs: LDS, CDS, RDS, SDS secrets with the key
 *   redacted, and EDS with `?include_eds`), `/stats/prometheus` (istio_requests_total,
 *   istio_request_duration_milliseconds), `/certs` (the waypoint's certificate), `/ready`.
 * - readiness (15021) and metrics (15020), read-only, beside HBONE for probes and scrapers:
 *   `/healthz/ready` (200 once config and certificate are in place), and `/stats/prometheus`
 *   + `/metrics`. Nothing else is served there.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { adminEndpointMetadata, currentNetworkNamespace, listenOperatorHttp, listenReadOnlyHttp } from '@mesh/admin-access';
import { buildConfigDump, configDumpInputFromTypeStates, type ConfigDumpSecret, type XdsNode, type XdsTypeState } from '@mesh/xds';
import type { CertificateStatus } from '@mesh/workload-identity';

export interface AdminSources {
  /** The xDS node the waypoint presents (config_dump's bootstrap); known once admin listens. */
  node: () => XdsNode;
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
          configDumpInputFromTypeStates(sources.typeStates(), { bootstrap: { node: sources.node() as never }, bootstrapLastUpdated: sources.startedAt, secrets: sources.secrets(), includeEds }),
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

export const METRICS_ENDPOINTS = ['/stats/prometheus', '/metrics'] as const;
export const READINESS_ENDPOINTS = ['/healthz/ready', '/ready'] as const;

export interface AdminListenOptions {
  /** The admin API: a loopback address (refused otherwise), and optionally a Unix socket. */
  adminAddress: string;
  adminPort: number;
  adminSocket?: string | undefined;
  /** Readiness and metrics: where probes and scrapers reach them (beside HBONE). */
  listenAddress: string;
  readinessPort: number;
  metricsPort: number;
}

export interface AdminServers {
  adminPort: number;
  readinessPort: number;
  metricsPort: number;
  /** The node metadata that tells istiod-lite (and so meshctl) where the admin API is. */
  adminMetadata: Record<string, string>;
  close(): Promise<void>;
}

export async function startAdmin(sources: AdminSources, options: AdminListenOptions): Promise<AdminServers> {
  const admin = await listenOperatorHttp(adminHandler(sources), { what: 'waypoint admin', host: options.adminAddress, port: options.adminPort, socket: options.adminSocket });
  const readiness = await listenReadOnlyHttp((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (!(READINESS_ENDPOINTS as readonly string[]).includes(path)) return send(res, 404, `not found; this port serves ${READINESS_ENDPOINTS.join(', ')}\n`, 'text/plain');
    return sources.ready() ? send(res, 200, 'ready\n', 'text/plain') : send(res, 503, 'not ready\n', 'text/plain');
  }, options.listenAddress, options.readinessPort);
  const metrics = await listenReadOnlyHttp((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (!(METRICS_ENDPOINTS as readonly string[]).includes(path)) return send(res, 404, `not found; this port serves ${METRICS_ENDPOINTS.join(', ')}\n`, 'text/plain');
    return send(res, 200, sources.metrics(), 'text/plain; version=0.0.4');
  }, options.listenAddress, options.metricsPort);
  return {
    adminPort: admin.port,
    readinessPort: readiness.port,
    metricsPort: metrics.port,
    adminMetadata: adminEndpointMetadata({ address: admin.address, socket: admin.socket, netns: currentNetworkNamespace() }),
    close: async () => {
      await Promise.all([admin.close(), readiness.close(), metrics.close()]);
    },
  };
}
