/**
 * The proxies istiod-lite knows (`/debug/syncz`), named the way meshctl targets them:
 * `ztunnel-<node>` for ztunnels, the pod name for waypoints; with what `proxy-status` shows of
 * each (cluster, istiod, version, and per subscribed type its sync state and last NACK).
 */
import { adminEndpointFromMetadata, ADMIN_ADDRESS_METADATA_KEY, type AdminEndpoint } from '@mesh/admin-access';
import { isRecord, num, rec, records, str, type JsonRecord } from '../config-dump/json.js';

/** SYNCED: all it was sent is ACKed; STALE: an answer is pending or (part of it) was rejected; NOT SENT. */
export type TypeSyncStatus = 'SYNCED' | 'STALE' | 'NOT SENT';

export interface TypeSync {
  /** CDS, LDS, EDS, RDS, WDS, … */
  type: string;
  typeUrl: string | undefined;
  status: TypeSyncStatus;
  sentVersion: string | undefined;
  ackedVersion: string | undefined;
  resources: number | undefined;
  lastNack: { version: string | undefined; message: string; at: string | undefined } | undefined;
  /** Delta: how many resources the proxy rejected and still runs an older version of (or none). */
  rejected: { count: number; names: string[] } | undefined;
  /** The control plane could not generate this type for the proxy; it keeps the previous config. */
  generationError: { message: string; at: string | undefined } | undefined;
}

export interface ProxyEntry {
  /** The target name: `ztunnel-node-a`, or a waypoint's name. */
  name: string;
  /** The xDS node id, for istiod-lite's `/debug/config_dump?proxyID=`. */
  id: string;
  type: string;
  nodeName: string;
  ip: string | undefined;
  /** host:port of the proxy's admin API as it advertised it (node metadata ADMIN_ADDRESS), for display. */
  adminAddress: string | undefined;
  /** Everything it advertised about its admin API: address, network namespace, Unix socket (admin-route.ts). */
  admin: AdminEndpoint | undefined;
  /** With a cluster: its Kubernetes pod, reached by port-forward when its admin API is not reachable from here. */
  kubePod?: { namespace: string; name: string } | undefined;
  /** Cluster ID (istioctl's CLUSTER). */
  cluster: string | undefined;
  /** The istiod-lite instance it is connected to. */
  istiod: string | undefined;
  /** The proxy's version as it told istiod-lite (node metadata ISTIO_VERSION). */
  version: string | undefined;
  /** `delta` or `sotw`. */
  protocol: string | undefined;
  connectedAt: string | undefined;
  /** Per subscribed type, in istiod-lite's order. */
  types: TypeSync[];
  /** The syncz row as istiod-lite sent it (`proxy-status -o json`). */
  raw: JsonRecord;
}

const SYNC_STATUSES: readonly string[] = ['SYNCED', 'STALE', 'NOT SENT'];

function typeSync(type: string, value: unknown): TypeSync {
  const t = rec(value);
  const status = str(t['status']) ?? '';
  const nack = isRecord(t['lastNack']) ? t['lastNack'] : undefined;
  const rejected = isRecord(t['rejected']) ? t['rejected'] : undefined;
  const generationError = isRecord(t['generationError']) ? t['generationError'] : undefined;
  return {
    type,
    typeUrl: str(t['typeUrl']),
    status: (SYNC_STATUSES.includes(status) ? status : str(t['sentNonce']) ? 'STALE' : 'NOT SENT') as TypeSyncStatus,
    sentVersion: str(t['sentVersion']),
    ackedVersion: str(t['ackedVersion']),
    resources: num(t['resources']),
    lastNack: nack ? { version: str(nack['version']), message: str(nack['message']) ?? '', at: str(nack['at']) } : undefined,
    rejected: rejected ? { count: num(rejected['count']) ?? 0, names: records(rejected['names']).map((n) => str(n['name']) ?? '').filter(Boolean) } : undefined,
    generationError: generationError ? { message: str(generationError['message']) ?? '', at: str(generationError['at']) } : undefined,
  };
}

/** Parses syncz rows; tolerant of missing fields so an older or newer istiod-lite still lists its proxies. */
export function parseSyncz(value: unknown): ProxyEntry[] {
  const rows = Array.isArray(value) ? records(value) : records(rec(value)['proxies']);
  return rows
    .map((row): ProxyEntry | undefined => {
      const id = str(row['proxyId']) ?? str(row['id']);
      if (!id) return undefined;
      const [typeFromId = '', ipFromId, podName] = id.split('~');
      const type = str(row['proxyType']) ?? typeFromId;
      const nodeName = str(row['nodeName']) ?? '';
      const metadata = isRecord(row['metadata']) ? row['metadata'] : {};
      const adminAddress = str(row['adminAddress']) ?? str(metadata[ADMIN_ADDRESS_METADATA_KEY]);
      const advertised = adminEndpointFromMetadata(metadata);
      const admin = advertised || adminAddress ? { ...advertised, address: adminAddress } : undefined;
      return {
        name: type === 'ztunnel' && nodeName ? `ztunnel-${nodeName}` : (podName ?? id),
        id,
        type,
        nodeName,
        ip: str(row['ip']) ?? (ipFromId || undefined),
        adminAddress,
        admin,
        cluster: str(row['clusterId']),
        istiod: str(row['istiod']),
        version: str(row['istioVersion']),
        protocol: str(row['protocol']),
        connectedAt: str(row['connectedAt']),
        types: Object.entries(rec(row['types'])).map(([type, value]) => typeSync(type, value)),
        raw: row,
      };
    })
    .filter((p): p is ProxyEntry => p !== undefined)
    .sort((a, b) => a.name.localeCompare(b.name));
}
