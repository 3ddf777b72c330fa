/**
 * ztunnel's HTTP surfaces, one handler per audience (docs/operations.md, "Who may reach what"):
 *
 * Admin (15000), operator only — the node's loopback and an owner-only Unix socket, in Envoy's
 * and ztunnel's shapes:
 *   GET /config_dump[?include_eds][&resource=<field>][&name_regex=<re>]   envoy.admin.v3.ConfigDump
 *                                      (workload dialect: Istio ztunnel's dump, {workloads,
 *                                      services, policies, certificates}, as istioctl reads it)
 *   GET /stats/prometheus                                                 Istio TCP metrics
 *   GET /tunnels                       live connections, HBONE pool and server connections (JSON)
 *   GET /tunnels?watch=1               the same as newline-delimited JSON: a snapshot, then
 *                                      open/close events and byte updates each second (as
 *                                      Server-Sent Events when the client accepts text/event-stream)
 *   GET /logging, POST /logging?level=<l> or ?<scope>=<l>                 log levels
 *   GET /certs                                                            workload certificates
 *   GET /memory                        the process's memory and V8's heap (JSON; Envoy's admin has
 *                                      a /memory too): heap_used is what the soak samples
 *   GET /healthz/ready
 *
 * Metrics (15020) and readiness (15021), read-only, reachable by scrapers and probes (and so by
 * pods): `/metrics` + `/stats/prometheus`, and `/healthz/ready`. Nothing else is served there,
 * not even a listing of the admin endpoints.
 */
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { buildConfigDump, configDumpInputFromTypeStates, type ResourceJson } from '@mesh/xds';
import { configDumpSecrets, PROMETHEUS_CONTENT_TYPE, readOnlyHandler, sendJson as json, serveLogging, type Handler } from '@mesh/proxy-runtime';
import type { ProxyLogger as Logger } from '@mesh/log';
import type { Ztunnel } from '../ztunnel.js';
import type { XdsNode } from '@mesh/xds';
import type { ZtunnelCertificate, ZtunnelDump } from '@mesh/workload-api';

export const TUNNELS_WATCH_INTERVAL_MS = 1_000;

export interface AdminOptions {
  ztunnel: Ztunnel;
  logger: Logger;
  /** The xDS node this ztunnel presents (config_dump's bootstrap). */
  node: XdsNode | (() => XdsNode);
  startedAt: Date;
}

export function tunnelsSnapshot(ztunnel: Ztunnel): Record<string, unknown> {
  const now = Date.now();
  return {
    connections: ztunnel.tracker.list().map(({ authz: _authz, ...c }) => ({ ...c, ageMs: now - c.startedAt })),
    pool: ztunnel.pool.connections().map((c) => ({
      id: c.id,
      sourceIdentity: c.sourceIdentity,
      destination: c.destination,
      peerIdentity: c.peerIdentity,
      state: c.state,
      activeStreams: c.activeStreams,
      totalStreams: c.totalStreams,
      ageMs: now - c.createdAt,
    })),
    server: ztunnel.server.connections().map((c) => ({ ...c, ageMs: now - c.createdAt })),
  };
}

/** One PEM certificate as Istio's ztunnel dump lists it. */
function certEntry(pem: string): ZtunnelCertificate['certChain'][number] {
  const cert = new X509Certificate(pem);
  return { pem, serialNumber: BigInt(`0x${cert.serialNumber}`).toString(), validFrom: new Date(cert.validFrom).toISOString(), expirationTime: new Date(cert.validTo).toISOString() };
}

function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}

/** The workload dialect's dump: what the ztunnel holds, in Istio ztunnel's `/config_dump` shapes. */
export function workloadConfigDump(ztunnel: Ztunnel): ZtunnelDump {
  const { state, services } = ztunnel.store.workloadState;
  const root = ztunnel.certs.rootCertPem();
  const certificates: ZtunnelCertificate[] = ztunnel.certs.status().map((s) => {
    const chain = s.certChainPem ? splitPem(s.certChainPem) : [];
    // The chain ends with the mesh root, which Istio lists separately.
    const rootCerts = root ? splitPem(root) : [];
    const leafAndIntermediates = chain.filter((pem) => !rootCerts.includes(pem));
    return {
      identity: s.identity,
      state: s.state === 'ready' ? 'Available' : s.state === 'error' ? 'Unavailable' : 'Initializing',
      certChain: leafAndIntermediates.map(certEntry),
      rootCerts: rootCerts.map(certEntry),
    };
  });
  return {
    workloads: [...state.workloads.values()],
    services,
    policies: [...state.policies.values()],
    certificates,
  };
}

export function configDump(options: AdminOptions, query: URLSearchParams): { configs: ResourceJson[] } | ZtunnelDump {
  if (options.ztunnel.store.dialect === 'workload') return workloadConfigDump(options.ztunnel);
  return envoyConfigDump(options, query);
}

function envoyConfigDump(options: AdminOptions, query: URLSearchParams): { configs: ResourceJson[] } {
  const root = options.ztunnel.certs.rootCertPem();
  const secrets = configDumpSecrets(options.ztunnel.certs.status(), root ? { pem: root, lastUpdated: options.startedAt.toISOString() } : undefined);
  const dump = buildConfigDump(
    configDumpInputFromTypeStates(options.ztunnel.store.typeStates, {
      bootstrap: { node: (typeof options.node === 'function' ? options.node() : options.node) as unknown as Record<string, unknown> },
      bootstrapLastUpdated: options.startedAt.toISOString(),
      secrets,
      includeEds: query.has('include_eds') && query.get('include_eds') !== 'false',
    }),
  );
  const resource = query.get('resource');
  if (!resource) return dump;
  // Envoy: ?resource=<repeated field> returns each element of that field as its own config.
  const nameRegex = query.get('name_regex');
  const regex = nameRegex ? new RegExp(nameRegex) : undefined;
  const configs: ResourceJson[] = [];
  for (const config of dump.configs) {
    const items = config[resource];
    if (!Array.isArray(items)) continue;
    for (const item of items as Array<Record<string, unknown>>) {
      const name = String(item['name'] ?? (item['cluster'] as Record<string, unknown> | undefined)?.['name'] ?? (item['endpoint_config'] as Record<string, unknown> | undefined)?.['cluster_name'] ?? '');
      if (regex && !regex.test(name)) continue;
      configs.push({ '@type': `${config['@type']}.${pascal(resource)}`, ...item });
    }
  }
  return { configs };
}

/** The message name of one element of a ConfigDump repeated field (Envoy admin protos). */
const ELEMENT_TYPE: Record<string, string> = {
  dynamic_listeners: 'DynamicListener',
  static_listeners: 'StaticListener',
  dynamic_active_clusters: 'DynamicCluster',
  dynamic_warming_clusters: 'DynamicCluster',
  static_clusters: 'StaticCluster',
  dynamic_endpoint_configs: 'DynamicEndpointConfig',
  static_endpoint_configs: 'StaticEndpointConfig',
  dynamic_active_secrets: 'DynamicSecret',
  dynamic_route_configs: 'DynamicRouteConfig',
};

function pascal(field: string): string {
  return ELEMENT_TYPE[field] ?? field;
}

/**
 * `/memory`: bytes, as `process.memoryUsage()` and `v8.getHeapStatistics()` give them (snake_case
 * like Envoy's `/memory`; docs/operations.md says what each is). RSS keeps pages V8 has not given
 * back, so it cannot tell a leak from a lazy collector; `heap_used` just after a collection is the
 * live heap.
 */
export interface MemoryReport {
  rss: number;
  heap_total: number;
  heap_used: number;
  external: number;
  array_buffers: number;
  heap_size_limit: number;
  total_available_size: number;
  malloced_memory: number;
  peak_malloced_memory: number;
  native_contexts: number;
  detached_contexts: number;
  /**
   * V8's heap by space (`v8.getHeapSpaceStatistics()`, spaces that hold anything): `size` reserved,
   * `used` by objects, `physical` resident. new_space is the young generation (two semi-spaces,
   * `--max-semi-space-size`), old_space what survived it; they tell which one holds RSS.
   */
  heap_spaces: Record<string, { size: number; used: number; physical: number }>;
}

export function memoryReport(): MemoryReport {
  const m = process.memoryUsage();
  const v8 = getHeapStatistics();
  return {
    rss: m.rss,
    heap_total: m.heapTotal,
    heap_used: m.heapUsed,
    external: m.external,
    array_buffers: m.arrayBuffers,
    heap_size_limit: v8.heap_size_limit,
    total_available_size: v8.total_available_size,
    malloced_memory: v8.malloced_memory,
    peak_malloced_memory: v8.peak_malloced_memory,
    native_contexts: v8.number_of_native_contexts,
    detached_contexts: v8.number_of_detached_contexts,
    heap_spaces: Object.fromEntries(
      getHeapSpaceStatistics()
        .filter((space) => space.space_size > 0)
        .map((space) => [space.space_name, { size: space.space_size, used: space.space_used_size, physical: space.physical_space_size }]),
    ),
  };
}

/** The admin API's endpoints, as `/` lists them. */
export const ADMIN_ENDPOINTS = ['/config_dump', '/stats/prometheus', '/tunnels', '/tunnels?watch=1', '/logging', '/certs', '/memory', '/healthz/ready'] as const;
export const METRICS_ENDPOINTS = ['/metrics', '/stats/prometheus'] as const;
export const READINESS_ENDPOINTS = ['/healthz/ready'] as const;

function prometheus(ztunnel: Ztunnel, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
  res.end(ztunnel.metrics.render() + ztunnel.rbacStats.render() + ztunnel.dnsMetrics.render());
}

/** Port 15020: Prometheus text only. */
export function createMetricsHandler(ztunnel: Ztunnel): Handler {
  return readOnlyHandler(METRICS_ENDPOINTS, (_path, res) => prometheus(ztunnel, res));
}

/** Port 15021: readiness only. */
export function createReadinessHandler(ztunnel: Ztunnel): Handler {
  return readOnlyHandler(READINESS_ENDPOINTS, (_path, res) => readiness(ztunnel, res));
}

export function createAdminHandler(options: AdminOptions): Handler {
  const { ztunnel, logger } = options;
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    try {
      switch (url.pathname) {
        case '/config_dump':
          return json(res, 200, configDump(options, url.searchParams));
        case '/stats/prometheus':
          return prometheus(ztunnel, res);
        case '/tunnels':
          if (url.searchParams.has('watch')) return watchTunnels(ztunnel, req, res);
          return json(res, 200, tunnelsSnapshot(ztunnel));
        case '/logging':
          return serveLogging(logger, req, url.searchParams, res);
        case '/healthz/ready':
          return readiness(ztunnel, res);
        case '/certs':
          return json(res, 200, { certificates: ztunnel.certs.status().map(({ certChainPem: _pem, ...s }) => s) });
        case '/memory':
          return json(res, 200, memoryReport());
        case '/':
          return json(res, 200, { endpoints: ADMIN_ENDPOINTS });
        default:
          return json(res, 404, { error: `no admin endpoint ${url.pathname}` });
      }
    } catch (err) {
      return json(res, 400, { error: (err as Error).message });
    }
  };
}

function readiness(ztunnel: Ztunnel, res: ServerResponse): void {
  if (ztunnel.ready) {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ready\n');
  } else {
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end(`not ready: listening+config ${ztunnel.store.synced ? 'ok' : 'waiting for config'}, certificates ${ztunnel.certs.ready ? 'ok' : 'pending'}\n`);
  }
}

/** Newline-delimited JSON: {type: snapshot|open|close|update, ...}; ends when the client goes. */
function watchTunnels(ztunnel: Ztunnel, req: IncomingMessage, res: ServerResponse): void {
  const sse = (req.headers.accept ?? '').includes('text/event-stream');
  res.writeHead(200, { 'content-type': sse ? 'text/event-stream' : 'application/x-ndjson', 'cache-control': 'no-cache' });
  const send = (event: Record<string, unknown>) => {
    const line = JSON.stringify({ time: new Date().toISOString(), ...event });
    res.write(sse ? `event: ${String(event['type'])}\ndata: ${line}\n\n` : `${line}\n`);
  };
  send({ type: 'snapshot', ...tunnelsSnapshot(ztunnel) });
  const strip = ({ authz: _a, ...c }: Record<string, unknown>) => c;
  const onOpen = (c: Record<string, unknown>) => send({ type: 'open', connection: strip(c) });
  const onClose = (c: Record<string, unknown>) => send({ type: 'close', connection: strip(c) });
  ztunnel.tracker.on('open', onOpen);
  ztunnel.tracker.on('close', onClose);
  const timer = setInterval(() => send({ type: 'update', ...tunnelsSnapshot(ztunnel) }), TUNNELS_WATCH_INTERVAL_MS);
  const stop = () => {
    clearInterval(timer);
    ztunnel.tracker.off('open', onOpen);
    ztunnel.tracker.off('close', onClose);
  };
  req.once('close', stop);
  res.once('close', stop);
}
