/**
 * The ADS server's debug views: `/debug/syncz` (one row per proxy stream, per type its sync
 * status the way `istioctl proxy-status` shows it) and `/debug/config_dump?proxyID=` (what a
 * proxy should run, as Envoy's ConfigDump).
 */
import { TYPE_URL, buildConfigDump, shortTypeName } from '@mesh/xds';
import type { ConfigDumpTypeState, ResourceJson } from '@mesh/xds';
import { DEFAULT_CLUSTER_ID } from '@mesh/workload-api';
import { ADMIN_ADDRESS_METADATA_KEY, CLUSTER_ID_METADATA_KEY, ISTIO_VERSION_METADATA_KEY } from './proxy-node.js';
import { syncStatus } from './subscription.js';
import type { AdsProtocol, Connection, NackRecord, Subscription, SyncStatus } from './subscription.js';

export type { NackRecord } from './subscription.js';

/** Rejected resources listed per type in syncz (the count is always given). */
const MAX_REJECTED_LISTED = 20;

export interface SynczTypeEntry {
  typeUrl: string;
  /** Which generator serves it (`ztunnel-envoy`, `waypoint`, `workload`, …). */
  generator: string;
  /** SYNCED: everything sent was ACKed; STALE: a response is unanswered or (part of it) rejected; NOT SENT. */
  status: SyncStatus;
  sentVersion?: string;
  sentNonce?: string;
  sentAt?: string;
  ackedVersion?: string;
  ackedAt?: string;
  lastNack?: NackRecord;
  /** How many resources the proxy has (delta: by name; state of the world: in the last response). */
  resources: number;
  /** Delta: resources the proxy rejected and runs an older version of (or none). */
  rejected?: { count: number; names: Array<{ name: string; version: string }> };
  /** The last generation error of this type's generator for this proxy (its previous config stays). */
  generationError?: { message: string; at: string };
}

/** One row of /debug/syncz. */
export interface SynczEntry {
  proxyId: string;
  nodeName: string;
  proxyType: string;
  ip: string | undefined;
  verified: boolean;
  secure: boolean;
  peer: string;
  connectedAt: string;
  /** The istiod-lite instance this stream is connected to (istioctl's ISTIOD column). */
  istiod: string;
  /** The proxy's cluster (node metadata CLUSTER_ID; istiod's default `Kubernetes` when it sends none). */
  clusterId: string;
  /** The proxy's version as it says (node metadata ISTIO_VERSION). */
  istioVersion?: string;
  /** `delta` (DeltaAggregatedResources) or `sotw` (StreamAggregatedResources). */
  protocol: AdsProtocol;
  /** The proxy's admin API (node metadata ADMIN_ADDRESS), for meshctl. */
  adminAddress?: string;
  /** node.metadata as the proxy sent it. */
  metadata: Record<string, unknown>;
  /** By short type name (CDS, EDS, LDS, RDS, or the message name). */
  types: Record<string, SynczTypeEntry>;
}

export function synczOf(connections: Iterable<Connection>, istiod: string): SynczEntry[] {
  const rows: SynczEntry[] = [];
  for (const c of connections) {
    if (!c.proxy) continue;
    const admin = c.proxy.metadata[ADMIN_ADDRESS_METADATA_KEY];
    const cluster = c.proxy.metadata[CLUSTER_ID_METADATA_KEY];
    const version = c.proxy.metadata[ISTIO_VERSION_METADATA_KEY];
    rows.push({
      proxyId: c.proxy.id,
      nodeName: c.proxy.nodeName,
      proxyType: c.proxy.type,
      ip: c.proxy.ip,
      verified: c.proxy.verified,
      secure: c.secure,
      peer: c.peer,
      connectedAt: c.connectedAt,
      istiod,
      clusterId: typeof cluster === 'string' && cluster !== '' ? cluster : DEFAULT_CLUSTER_ID,
      ...(typeof version === 'string' && version !== '' ? { istioVersion: version } : {}),
      protocol: c.protocol,
      ...(typeof admin === 'string' ? { adminAddress: admin } : {}),
      metadata: c.proxy.metadata,
      types: Object.fromEntries(subscriptionsInOrder(c).map((s) => [shortTypeName(s.typeUrl), typeEntry(c, s)])),
    });
  }
  return rows.sort((a, b) => a.proxyId.localeCompare(b.proxyId) || a.connectedAt.localeCompare(b.connectedAt));
}

function typeEntry(connection: Connection, s: Subscription): SynczTypeEntry {
  const error = s.scope.lastError;
  return {
    typeUrl: s.typeUrl,
    generator: s.generator.name,
    status: syncStatus(connection, s),
    ...defined({ sentVersion: s.sentVersion, sentNonce: s.sentNonce, sentAt: s.sentAt, ackedVersion: s.ackedVersion, ackedAt: s.ackedAt, lastNack: s.lastNack }),
    resources: connection.protocol === 'delta' ? s.known.size : (s.sentCount ?? 0),
    ...(connection.protocol === 'delta' && s.rejected.size > 0
      ? { rejected: { count: s.rejected.size, names: [...s.rejected].slice(0, MAX_REJECTED_LISTED).map(([name, version]) => ({ name, version })) } }
      : {}),
    ...(error ? { generationError: { message: error.message, at: error.at } } : {}),
  };
}

/** CDS, EDS, LDS, RDS first (Envoy's order), then the rest by type URL. */
function subscriptionsInOrder(connection: Connection): Subscription[] {
  const order: string[] = [TYPE_URL.CLUSTER, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, TYPE_URL.LISTENER, TYPE_URL.ROUTE_CONFIGURATION];
  const rank = (typeUrl: string) => (order.includes(typeUrl) ? order.indexOf(typeUrl) : order.length);
  return [...connection.subscriptions.values()].sort((a, b) => rank(a.typeUrl) - rank(b.typeUrl) || a.typeUrl.localeCompare(b.typeUrl));
}

/**
 * The Envoy ConfigDump of what the proxy should run now: its generators' resources for the
 * current snapshot (generated again for this view), with the versions the cache gave them.
 */
export function configDumpOf(connection: Connection, includeEds: boolean): { configs: Array<Record<string, unknown>> } {
  const proxy = connection.proxy;
  const states = new Map<string, ConfigDumpTypeState>();
  const generated = new Map<string, ReadonlyMap<string, ReadonlyMap<string, ResourceJson>>>();
  for (const s of connection.subscriptions.values()) {
    const scope = s.scope;
    const state = scope.types.get(s.typeUrl);
    if (!proxy || !scope.snapshot || !state) continue;
    let resources = generated.get(scope.key);
    if (!resources) {
      resources = scope.generator.generate(scope.snapshot, scope.proxy);
      generated.set(scope.key, resources);
    }
    const named = resources.get(s.typeUrl) ?? new Map<string, ResourceJson>();
    states.set(s.typeUrl, { version: state.version, lastUpdated: state.changedAt, resources: [...named.values()] });
  }
  const routes = states.get(TYPE_URL.ROUTE_CONFIGURATION);
  return buildConfigDump({
    includeEds,
    ...defined({ clusters: states.get(TYPE_URL.CLUSTER), listeners: states.get(TYPE_URL.LISTENER), endpoints: states.get(TYPE_URL.CLUSTER_LOAD_ASSIGNMENT) }),
    ...(routes && routes.resources.length > 0 ? { routes } : {}),
  }) as unknown as { configs: Array<Record<string, unknown>> };
}

/** The entries whose value is defined (exactOptionalPropertyTypes). */
function defined<T extends Record<string, unknown>>(fields: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
