/**
 * The proxies istiod-lite knows (`/debug/syncz`), named the way meshctl targets them:
 * `ztunnel-<node>` for ztunnels, the pod name for waypoints.
 */
import { isRecord, rec, records, str } from '../config-dump/json.js';

export interface ProxyEntry {
  /** The target name: `ztunnel-node-a`, or a waypoint's name. */
  name: string;
  /** The xDS node id, for istiod-lite's `/debug/config_dump?proxyID=`. */
  id: string;
  type: string;
  nodeName: string;
  ip: string | undefined;
  /** host:port of the proxy's admin API, when istiod-lite knows it (node metadata ADMIN_ADDRESS). */
  adminAddress: string | undefined;
}

/** Node metadata key a proxy sets to tell istiod-lite (and so meshctl) where its admin API listens. */
export const ADMIN_ADDRESS_METADATA_KEY = 'ADMIN_ADDRESS';

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
      return {
        name: type === 'ztunnel' && nodeName ? `ztunnel-${nodeName}` : (podName ?? id),
        id,
        type,
        nodeName,
        ip: str(row['ip']) ?? (ipFromId || undefined),
        adminAddress,
      };
    })
    .filter((p): p is ProxyEntry => p !== undefined)
    .sort((a, b) => a.name.localeCompare(b.name));
}
