/**
 * meshctl's data layer: istiod-lite's debug API (which proxies exist, what each should run) and
 * each proxy's admin API (what it runs, its live tunnels). Plain promises, no UI; commands and
 * ink hooks call it, tests replace it with a fake or point it at a tiny HTTP server.
 */
import { DEFAULT_REQUEST_TIMEOUT_MS, getJson } from './http.js';
import { isRecord } from '../config-dump/json.js';
import { parseSyncz, type ProxyEntry } from './proxies.js';
import { parseTunnels, type TunnelsSnapshot } from './tunnels.js';

export const DEFAULT_ISTIOD_ADDRESS = '127.0.0.1:15014';
export const ISTIOD_ADDRESS_ENV = 'MESHCTL_ISTIOD';

export interface MeshClient {
  readonly istiodAddress: string;
  /** Connected proxies (`/debug/syncz`). */
  proxies(): Promise<ProxyEntry[]>;
  /** What istiod-lite sends a proxy (`/debug/config_dump?proxyID=`), EDS included. */
  istiodConfigDump(proxyId: string): Promise<unknown>;
  /** What a proxy runs (`/config_dump?include_eds` on its admin API). */
  adminConfigDump(adminAddress: string, proxyName: string): Promise<unknown>;
  /** Live connections and HBONE pool of a ztunnel (`/tunnels`). */
  tunnels(adminAddress: string, proxyName: string): Promise<TunnelsSnapshot>;
  /** A ztunnel's log level per scope (`GET /logging`), after setting `set` (`POST /logging?<scope|level>=<level>`). */
  logLevels(adminAddress: string, proxyName: string, set?: ReadonlyArray<readonly [scope: string, level: string]>): Promise<Record<string, string>>;
}

export interface MeshClientOptions {
  istiod: string;
  timeoutMs?: number;
}

export type MeshClientFactory = (options: MeshClientOptions) => MeshClient;

export const createHttpMeshClient: MeshClientFactory = ({ istiod, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS }) => {
  const istiodOptions = {
    timeoutMs,
    what: 'istiod-lite',
    hint: `is istiod-lite running and its debug port reachable from here? Use --istiod <host:port> or ${ISTIOD_ADDRESS_ENV}; --file <config_dump.json> works without a mesh`,
  };
  const adminOptions = (proxyName: string) => ({
    timeoutMs,
    what: `${proxyName}'s admin API`,
    hint: `is ${proxyName} running, and is its admin port (15000) reachable from this shell? Use --admin <host:port> to point at it`,
  });
  return {
    istiodAddress: istiod,
    async proxies() {
      return parseSyncz(await getJson(istiod, '/debug/syncz', istiodOptions));
    },
    istiodConfigDump(proxyId) {
      return getJson(istiod, `/debug/config_dump?proxyID=${encodeURIComponent(proxyId)}`, istiodOptions);
    },
    adminConfigDump(adminAddress, proxyName) {
      return getJson(adminAddress, '/config_dump?include_eds', adminOptions(proxyName));
    },
    async tunnels(adminAddress, proxyName) {
      const body = await getJson(adminAddress, '/tunnels', adminOptions(proxyName));
      return parseTunnels(body, Date.now());
    },
    async logLevels(adminAddress, proxyName, set = []) {
      const query = new URLSearchParams(set.map(([scope, level]): [string, string] => [scope, level])).toString();
      const body = await getJson(adminAddress, query ? `/logging?${query}` : '/logging', { ...adminOptions(proxyName), method: set.length > 0 ? 'POST' : 'GET' });
      const levels = isRecord(body) && isRecord(body['levels']) ? body['levels'] : {};
      return Object.fromEntries(Object.entries(levels).filter((e): e is [string, string] => typeof e[1] === 'string'));
    },
  };
};
