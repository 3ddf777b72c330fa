/**
 * The waypoint's HTTP surfaces (docs/operations.md, "Who may reach what"):
 *
 * - admin (15000), operator only: the pod's loopback and an owner-only Unix socket; Envoy-style
 *   `/config_dump` (the Envoy ConfigDump of what runs: LDS, CDS, RDS, SDS secrets with the key
 *   redacted, and EDS with `?include_eds`), `/stats/prometheus` (istio_requests_total,
 *   istio_request_duration_milliseconds), `/logging` (log levels per scope, changed with POST),
 *   `/certs` (the waypoint's certificate), `/ready`.
 * - readiness (15021) and metrics (15020), read-only, beside HBONE for probes and scrapers:
 *   `/healthz/ready` (200 once config and certificate are in place), and `/stats/prometheus`
 *   + `/metrics`. Nothing else is served there.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenProxySurfaces, PROMETHEUS_CONTENT_TYPE, readOnlyHandler, sendText as send, serveLogging, type ProxySurfaceAddresses, type ProxySurfaces } from '@mesh/proxy-runtime';
import { buildConfigDump, configDumpInputFromTypeStates, type ConfigDumpSecret, type XdsNode, type XdsTypeState } from '@mesh/xds';
import type { CertificateStatus } from '@mesh/workload-identity';
import type { ProxyLogger } from '@mesh/log';

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
  /** Its log levels, read and changed at `/logging`. */
  logger: ProxyLogger;
}

const JSON_TYPE = 'application/json';

function adminHandler(sources: AdminSources) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    switch (url.pathname) {
      case '/config_dump': {
        const includeEds = url.searchParams.has('include_eds') && url.searchParams.get('include_eds') !== 'false';
        const dump = buildConfigDump(
          configDumpInputFromTypeStates(sources.typeStates(), { bootstrap: { node: sources.node() as never }, bootstrapLastUpdated: sources.startedAt, secrets: sources.secrets(), includeEds }),
        );
        return send(res, 200, `${JSON.stringify(dump, null, 2)}\n`, JSON_TYPE);
      }
      case '/stats/prometheus':
        return send(res, 200, sources.metrics(), PROMETHEUS_CONTENT_TYPE);
      case '/logging':
        return serveLogging(sources.logger, req, url.searchParams, res);
      case '/certs':
        return send(res, 200, `${JSON.stringify({ certificates: sources.certificate() ? [sources.certificate()] : [] }, null, 2)}\n`, JSON_TYPE);
      case '/ready':
      case '/healthz/ready':
        return sources.ready() ? send(res, 200, 'LIVE\n') : send(res, 503, 'not ready\n');
      case '/':
        return send(res, 200, `${JSON.stringify({ endpoints: ['/config_dump', '/config_dump?include_eds', '/stats/prometheus', '/logging', '/certs', '/ready'] }, null, 2)}\n`, JSON_TYPE);
      default:
        return send(res, 404, `${JSON.stringify({ error: `no admin endpoint ${url.pathname}` })}\n`, JSON_TYPE);
    }
  };
}

export const METRICS_ENDPOINTS = ['/stats/prometheus', '/metrics'] as const;
export const READINESS_ENDPOINTS = ['/healthz/ready', '/ready'] as const;

/** Readiness and metrics listen beside HBONE. */
export type AdminListenOptions = ProxySurfaceAddresses;

export type AdminServers = ProxySurfaces;

export async function startAdmin(sources: AdminSources, options: AdminListenOptions): Promise<AdminServers> {
  return listenProxySurfaces({
    ...options,
    what: 'waypoint admin',
    admin: adminHandler(sources),
    readiness: readOnlyHandler(READINESS_ENDPOINTS, (_path, res) => (sources.ready() ? send(res, 200, 'ready\n') : send(res, 503, 'not ready\n'))),
    metrics: readOnlyHandler(METRICS_ENDPOINTS, (_path, res) => send(res, 200, sources.metrics(), PROMETHEUS_CONTENT_TYPE)),
  });
}
