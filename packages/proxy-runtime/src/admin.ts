/**
 * A proxy's three HTTP surfaces (docs/operations.md, "Who may reach what"): the admin API
 * (operator only: loopback and an owner-only Unix socket), readiness and metrics (read-only,
 * beside the proxy's listeners for probes and scrapers). Each proxy brings its handlers; this
 * listens on them, advertises the admin endpoint for meshctl, and builds the SDS part of
 * `/config_dump`.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { adminEndpointMetadata, currentNetworkNamespace, listenOperatorHttp, listenReadOnlyHttp } from '@mesh/admin-access';
import { ROOT_CA_SECRET } from '@mesh/envoy-config';
import { applyLoggingQuery, type ProxyLogger } from '@mesh/log';
import type { CertificateStatus } from '@mesh/workload-identity';
import { TYPE_URL, type ConfigDumpSecret } from '@mesh/xds';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4';

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body, null, 2)}\n`);
}

export function sendText(res: ServerResponse, status: number, body: string, type = 'text/plain'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * The admin `/logging` endpoint, as Envoy's and ztunnel's: GET shows each scope's level; POST
 * (or PUT) `?level=<l>` sets every scope, `?<scope>=<l>` one, and answers with the levels.
 */
export function serveLogging(logger: ProxyLogger, req: IncomingMessage, query: URLSearchParams, res: ServerResponse): void {
  if (req.method === 'POST' || req.method === 'PUT') {
    const { status, body } = applyLoggingQuery(logger, query);
    return sendJson(res, status, body);
  }
  sendJson(res, 200, { levels: logger.levels });
}

/** A read-only surface: `endpoints` and nothing else (the 404 names only them). */
export function readOnlyHandler(endpoints: readonly string[], serve: (path: string, res: ServerResponse) => void): Handler {
  return (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (!endpoints.includes(path)) return sendJson(res, 404, { error: `not found; this port serves ${endpoints.join(', ')}` });
    serve(path, res);
  };
}

/** Where a proxy's surfaces listen. */
export interface ProxySurfaceAddresses {
  /** The admin API: a loopback address (refused otherwise), and optionally a Unix socket. */
  adminAddress: string;
  adminPort: number;
  adminSocket?: string | undefined;
  /** Readiness and metrics: where probes and scrapers reach them. */
  listenAddress: string;
  readinessPort: number;
  metricsPort: number;
}

export interface ProxySurfacesOptions extends ProxySurfaceAddresses {
  /** Names the proxy in errors (`ztunnel admin`). */
  what: string;
  admin: RequestListener;
  readiness: RequestListener;
  metrics: RequestListener;
}

export interface ProxySurfaces {
  /** `host:port` of the admin API as bound. */
  adminAddress: string;
  adminSocket: string | undefined;
  adminPort: number;
  readinessPort: number;
  metricsPort: number;
  /** The xDS node metadata that tells istiod-lite (and so meshctl) where the admin API is. */
  adminMetadata: Record<string, string>;
  close(): Promise<void>;
}

export async function listenProxySurfaces(o: ProxySurfacesOptions): Promise<ProxySurfaces> {
  const admin = await listenOperatorHttp(o.admin, { what: o.what, host: o.adminAddress, port: o.adminPort, socket: o.adminSocket });
  const readiness = await listenReadOnlyHttp(o.readiness, o.listenAddress, o.readinessPort);
  const metrics = await listenReadOnlyHttp(o.metrics, o.listenAddress, o.metricsPort);
  return {
    adminAddress: admin.address,
    adminSocket: admin.socket,
    adminPort: admin.port,
    readinessPort: readiness.port,
    metricsPort: metrics.port,
    adminMetadata: adminEndpointMetadata({ address: admin.address, socket: admin.socket, netns: currentNetworkNamespace() }),
    close: async () => {
      await Promise.all([admin.close(), readiness.close(), metrics.close()]);
    },
  };
}

/**
 * The SDS secrets of `/config_dump`: each certificate in use under its identity (the chain, the
 * key redacted), and the trust anchor under the SDS name the config refers to
 * (`validation_context_sds_secret_config`: ROOTCA).
 */
export function configDumpSecrets(certificates: readonly CertificateStatus[], root: { pem: string; lastUpdated: string } | undefined): ConfigDumpSecret[] {
  const secrets: ConfigDumpSecret[] = certificates.flatMap((s) =>
    s.certChainPem
      ? [
          {
            name: s.identity,
            version: s.serialNumber ?? '',
            lastUpdated: s.notBefore ?? new Date().toISOString(),
            secret: {
              '@type': TYPE_URL.SECRET,
              name: s.identity,
              tls_certificate: { certificate_chain: { inline_string: s.certChainPem }, private_key: { inline_string: '[redacted]' } },
            },
          },
        ]
      : [],
  );
  if (root) {
    secrets.push({
      name: ROOT_CA_SECRET,
      version: '',
      lastUpdated: root.lastUpdated,
      secret: { '@type': TYPE_URL.SECRET, name: ROOT_CA_SECRET, validation_context: { trusted_ca: { inline_string: root.pem } } },
    });
  }
  return secrets;
}
