/**
 * meshctl's data layer: istiod-lite's debug API (which proxies exist, what each should run) and
 * each proxy's admin API (what it runs, its live tunnels). Plain promises, no UI; commands and
 * ink hooks call it, tests replace it with a fake or point it at a tiny HTTP server.
 */
import { DEFAULT_REQUEST_TIMEOUT_MS, getJson } from './http.js';
import { isRecord } from '../config-dump/json.js';
import { ISTIOD_DEBUG_PORT, MESH_NAMESPACE, ZTUNNEL_POD_LABEL, ISTIOD_POD_LABEL, openKubeAccess, pickIstiodPod, resolveZtunnelPod, type KubeAccess, type KubeFlags, type KubePod } from './kube.js';
import { parseSyncz, type ProxyEntry } from './proxies.js';
import { formatRoute, type PortForwarder } from './routes.js';
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
  /** With a cluster (--kubeconfig/--context): the ztunnel pod a `ztunnel-<node>` or pod-name target names (kube.ts). */
  ztunnelPod?(target: string): Promise<KubePod>;
}

export interface MeshClientOptions {
  istiod: string;
  timeoutMs?: number;
  /** For `pod:` addresses. */
  portForward?: PortForwarder | undefined;
  /** A cluster to find istiod-lite and the ztunnels in (`--kubeconfig`/`--context`). */
  kube?: KubeFlags | undefined;
  /** `istiod` was given (--istiod or the env), so a cluster is not asked where istiod-lite is. */
  istiodGiven?: boolean | undefined;
}

export type MeshClientFactory = (options: MeshClientOptions) => MeshClient;

export const createHttpMeshClient: MeshClientFactory = ({ istiod, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS, portForward }) => {
  const istiodOptions = {
    timeoutMs,
    portForward,
    what: 'istiod-lite',
    hint: `is istiod-lite running and its debug port reachable from here? Use --istiod <host:port> or ${ISTIOD_ADDRESS_ENV}; --file <config_dump.json> works without a mesh`,
  };
  const adminOptions = (proxyName: string) => ({
    timeoutMs,
    portForward,
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

/**
 * With a cluster: istiod-lite is the pod labelled `app=istiod` in istio-system (unless --istiod
 * names it), reached by port-forward to its debug port; each ztunnel connected to it is annotated
 * with its DaemonSet pod, so an admin API not reachable from here is reached through the pod
 * (targets.ts `proxyAdmin`). Nothing is asked of the API server until a command needs it.
 */
export function createKubeMeshClient(options: MeshClientOptions & { kube: KubeFlags }): MeshClient {
  let access: Promise<KubeAccess> | undefined;
  const kube = () => (access ??= openKubeAccess(options.kube));
  const portForward: PortForwarder = async (pod, port) => (await kube()).portForward(pod, port);
  let istiod: Promise<MeshClient> | undefined;
  let resolvedIstiod: string | undefined;
  const http = (address: string) => createHttpMeshClient({ ...options, istiod: address, portForward });
  const istiodClient = () =>
    (istiod ??= (async () => {
      if (options.istiodGiven) return http((resolvedIstiod = options.istiod));
      const pod = pickIstiodPod(await (await kube()).pods(MESH_NAMESPACE, ISTIOD_POD_LABEL));
      return http((resolvedIstiod = formatRoute({ kind: 'pod', namespace: pod.namespace, name: pod.name, port: ISTIOD_DEBUG_PORT })));
    })());
  const ztunnelPods = async () => (await kube()).pods(MESH_NAMESPACE, ZTUNNEL_POD_LABEL);
  const admin = http(options.istiod);
  return {
    get istiodAddress() {
      return resolvedIstiod ?? `the ${ISTIOD_POD_LABEL} pod in ${MESH_NAMESPACE}`;
    },
    async proxies() {
      const [proxies, pods] = await Promise.all([(await istiodClient()).proxies(), ztunnelPods()]);
      return proxies.map((p) => {
        if (p.type !== 'ztunnel') return p;
        const pod = pods.find((candidate) => candidate.nodeName === p.nodeName);
        return pod ? { ...p, kubePod: { namespace: pod.namespace, name: pod.name } } : p;
      });
    },
    async istiodConfigDump(proxyId) {
      return (await istiodClient()).istiodConfigDump(proxyId);
    },
    adminConfigDump: (address, proxyName) => admin.adminConfigDump(address, proxyName),
    tunnels: (address, proxyName) => admin.tunnels(address, proxyName),
    logLevels: (address, proxyName, set) => admin.logLevels(address, proxyName, set),
    async ztunnelPod(target) {
      return resolveZtunnelPod(await ztunnelPods(), target);
    },
  };
}

/** The default data layer: over a cluster when --kubeconfig/--context say so, else plain HTTP. */
export const createMeshClient: MeshClientFactory = (options) => (options.kube ? createKubeMeshClient({ ...options, kube: options.kube }) : createHttpMeshClient(options));
