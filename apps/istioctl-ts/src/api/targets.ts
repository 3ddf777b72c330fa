/**
 * Target resolution: what `meshctl <command> <target>` reads. A target is a proxy (`ztunnel-<node>`,
 * a waypoint's name) or a pod (`name.namespace`, resolved to the ztunnel of its node and then
 * narrowed to that pod). `--file` reads a saved config dump and `--admin` a proxy's admin API
 * directly, both without istiod-lite. A proxy's dump comes from its admin API when istiod-lite
 * knows the address (what it runs), else from istiod-lite (what it is sent).
 *
 * With a cluster (--kubeconfig/--context, kube.ts), a `ztunnel-<node>` target (or a ztunnel pod's
 * name, bare or `name.namespace`) is first resolved to its DaemonSet pod through the API server, as
 * istioctl does; its admin API is read where it is reachable from here (the route istiod-lite
 * knows, admin-route.ts), else by port-forward through the API server to the pod's port 15000.
 * `resolveZtunnelAdmin` is that resolution for commands that need the ztunnel's admin API itself
 * (tunnels, zc log). A target starting with `ztunnel-` is always a ztunnel, never a pod.
 */
import { basename } from 'node:path';
import { MeshError, hasCode } from '@mesh/errors';
import { parseConfigDump, type ConfigDump } from '../config-dump/config-dump.js';
import type { PodScope } from '../config-dump/proxy-config-views.js';
import { findWorkload, meshWorkloads, workloadLabel, type NamedDump } from '../config-dump/workloads.js';
import { ADMIN_FLAG_HINT, HOST_FACTS, planAdminRoute, type HostFacts } from './admin-route.js';
import { ZTUNNEL_ADMIN_PORT } from './kube.js';
import type { MeshClient } from './mesh-client.js';
import type { ProxyEntry } from './proxies.js';
import { formatRoute, parseRoute } from './routes.js';

export interface TargetSources {
  client: () => MeshClient;
  /** Reads a file, or stdin for `-`. */
  readInput: (path: string) => Promise<string>;
  /** Says something to the user that is not the command's output (stderr). */
  note?: (message: string) => void;
  /** What this machine allows (reaching admin APIs in other network namespaces); tests replace it. */
  hostFacts?: HostFacts;
}

export interface TargetOptions {
  file?: string | undefined;
  admin?: string | undefined;
}

export interface LoadedTarget {
  /** The proxy's name (or the file's). */
  proxy: string;
  raw: unknown;
  dump: ConfigDump;
  /** Set when the target is a pod: tables are narrowed to it. */
  pod: (PodScope & { label: string }) | undefined;
  /** Where the dump came from, said on stderr when it is not the proxy itself. */
  origin: 'file' | 'admin' | 'istiod';
  /** How to reach the proxy's admin API from here (a routes.ts address), for live endpoints such as /tunnels. */
  adminAddress: string | undefined;
  /** Why the admin API is not reachable from here, when it is not (with what to do). */
  adminProblem: { problem: string; hint: string } | undefined;
}

export type ProxyAdmin = { address: string; problem?: undefined } | { address?: undefined; problem: { problem: string; hint: string } };

/**
 * How to reach a proxy's admin API from here, or why not (admin-route.ts); with a cluster, a
 * ztunnel whose admin API is not reachable from here is reached through its pod (port-forward).
 */
export function proxyAdmin(proxy: ProxyEntry, facts: HostFacts = HOST_FACTS): ProxyAdmin {
  const plan = proxy.admin ? planAdminRoute(proxy.admin, facts, proxy.name) : undefined;
  if (plan?.ok) return { address: plan.address };
  if (proxy.kubePod) return { address: podAdminRoute(proxy.kubePod, proxy.admin?.address) };
  if (!plan) return { problem: { problem: `istiod-lite does not know ${proxy.name}'s admin address`, hint: ADMIN_FLAG_HINT } };
  return { problem: { problem: plan.problem, hint: plan.hint } };
}

/** `pod:<ns>/<name>:<port>`, the port the proxy advertised (else ztunnel's 15000). */
function podAdminRoute(pod: { namespace: string; name: string }, advertised: string | undefined): string {
  let port = ZTUNNEL_ADMIN_PORT;
  try {
    const route = advertised ? parseRoute(advertised) : undefined;
    if (route?.kind === 'tcp') port = route.port;
  } catch {
    // an address meshctl cannot parse: the default port
  }
  return formatRoute({ kind: 'pod', namespace: pod.namespace, name: pod.name, port });
}

/** Against a cluster (--kubeconfig/--context): ztunnel targets are resolved through the API server. */
function overCluster(client: MeshClient): client is MeshClient & Required<Pick<MeshClient, 'ztunnelPod'>> {
  return client.ztunnelPod !== undefined;
}

/**
 * With a cluster: a ztunnel target (`ztunnel-<node>`, or its DaemonSet pod's name, `name` or
 * `name.istio-system`) → the pod (kube.ts; an unknown one fails listing the known ones), the name
 * istiod-lite lists it by, and its admin API: where reachable from here, else through the pod.
 */
async function kubeZtunnelAdmin(sources: TargetSources, client: MeshClient & Required<Pick<MeshClient, 'ztunnelPod'>>, target: string): Promise<{ proxy: string; address: string }> {
  const pod = await client.ztunnelPod(target);
  const name = pod.nodeName ? `ztunnel-${pod.nodeName}` : target;
  let entry: ProxyEntry | undefined;
  try {
    entry = (await client.proxies()).find((p) => p.name === name);
  } catch (err) {
    // istiod-lite only tells whether the admin API is reachable without a port-forward.
    sources.note?.(`note: ${(err as Error).message}; reading ${name} through its pod\n`);
  }
  return { proxy: name, address: (entry ? proxyAdmin(entry, sources.hostFacts).address : undefined) ?? podAdminRoute(pod, entry?.admin?.address) };
}

async function loadKubeZtunnel(sources: TargetSources, client: MeshClient & Required<Pick<MeshClient, 'ztunnelPod'>>, target: string): Promise<LoadedTarget> {
  const { proxy: name, address } = await kubeZtunnelAdmin(sources, client, target);
  const raw = await client.adminConfigDump(address, name);
  return { proxy: name, raw, dump: parseConfigDump(raw, `${name}'s config dump`), pod: undefined, origin: 'admin', adminAddress: address, adminProblem: undefined };
}

/**
 * A ztunnel named by a target, and how to reach its admin API — for what only the ztunnel itself
 * has (live tunnels, log levels). The same resolution as loadTarget's ztunnel targets: with a
 * cluster `ztunnel-<node>` or the ztunnel pod's name (`ztunnel-x7k2p`, `ztunnel-x7k2p.istio-system`)
 * through the API server; else the ztunnel istiod-lite lists by that name or id. A pod target
 * `name.namespace` is not a ztunnel (loadTarget narrows to it). An unknown one fails naming what
 * was given and the ztunnels there are, with `hint` (what the command takes).
 */
export async function resolveZtunnelAdmin(sources: TargetSources, target: string | undefined, hint: string): Promise<{ proxy: string; admin: ProxyAdmin }> {
  const client = sources.client();
  if (target !== undefined && !isPodRef(target) && overCluster(client)) {
    const { proxy, address } = await kubeZtunnelAdmin(sources, client, target);
    return { proxy, admin: { address } };
  }
  const ztunnels = (await client.proxies()).filter((p) => p.type === 'ztunnel');
  const entry = ztunnels.find((p) => p.name === target || p.id === target);
  if (!entry) {
    throw new MeshError('MESHCTL_ERR_UNKNOWN_TARGET', `unknown ztunnel ${target ?? '(none given)'}; ztunnels: ${ztunnels.map((p) => p.name).join(', ') || 'none connected'}`, {
      hint,
      context: { target },
    });
  }
  return { proxy: entry.name, admin: proxyAdmin(entry, sources.hostFacts) };
}

function unknownTarget(target: string, proxies: readonly ProxyEntry[], pods: readonly string[]): MeshError {
  const known = proxies.map((p) => p.name).join(', ') || 'none connected';
  return new MeshError('MESHCTL_ERR_UNKNOWN_TARGET', `unknown target ${target}; proxies: ${known}${pods.length > 0 ? `; pods: ${pods.join(', ')}` : ''}`, {
    hint: 'a target is ztunnel-<node>, a waypoint name, or a pod name.namespace',
    context: { target },
  });
}

export function isPodRef(target: string): boolean {
  return !target.startsWith('ztunnel-');
}

/** What the proxy runs (its admin API) when reachable from here, else what istiod-lite sends it. */
export async function dumpOfProxy(client: MeshClient, proxy: ProxyEntry, facts?: HostFacts): Promise<{ raw: unknown; origin: 'admin' | 'istiod'; admin: ProxyAdmin }> {
  const admin = proxyAdmin(proxy, facts);
  if (admin.address) return { raw: await client.adminConfigDump(admin.address, proxy.name), origin: 'admin', admin };
  return { raw: await client.istiodConfigDump(proxy.id), origin: 'istiod', admin };
}

/**
 * Every connected ztunnel's config dump (admin when known, else istiod-lite), for mesh-wide views
 * (pod lookup, explain). One unreachable admin API must not sink the whole view: that proxy's
 * dump then comes from istiod-lite, and `note` says so.
 */
export async function allZtunnelDumps(
  client: MeshClient,
  proxies?: ProxyEntry[],
  note?: (message: string) => void,
  facts?: HostFacts,
): Promise<(NamedDump & { entry: ProxyEntry; raw: unknown; origin: 'admin' | 'istiod'; admin: ProxyAdmin })[]> {
  const list = (proxies ?? (await client.proxies())).filter((p) => p.type === 'ztunnel');
  return Promise.all(
    list.map(async (entry) => {
      let dumped: Awaited<ReturnType<typeof dumpOfProxy>>;
      try {
        dumped = await dumpOfProxy(client, entry, facts);
        if (dumped.origin === 'istiod' && entry.admin && dumped.admin.problem) note?.(`note: ${dumped.admin.problem.problem}; using the config istiod-lite sends ${entry.name} instead\n`);
      } catch (err) {
        // A port-forward (a cluster) that fails is an unreachable admin API like any other.
        if ((!entry.adminAddress && !entry.kubePod) || !note || !hasCode(err, 'MESHCTL_ERR_UNREACHABLE', 'MESHCTL_ERR_TIMEOUT', 'MESHCTL_ERR_PORT_FORWARD')) throw err;
        note(`note: ${err.message}; using the config istiod-lite sends ${entry.name} instead\n`);
        dumped = { raw: await client.istiodConfigDump(entry.id), origin: 'istiod', admin: { problem: { problem: err.message, hint: err.hint ?? ADMIN_FLAG_HINT } } };
      }
      return { name: entry.name, dump: parseConfigDump(dumped.raw, `${entry.name}'s config dump`), entry, ...dumped };
    }),
  );
}

function podScope(dumps: readonly NamedDump[], ref: string): (PodScope & { label: string }) | undefined {
  const workload = findWorkload(meshWorkloads(dumps), ref);
  return workload ? { ip: workload.ip, identity: workload.identity, label: workloadLabel(workload) } : undefined;
}

async function readDumpFile(sources: TargetSources, file: string): Promise<unknown> {
  const text = await sources.readInput(file);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new MeshError('MESHCTL_ERR_BAD_CONFIG_DUMP', `${file === '-' ? 'stdin' : file} is not JSON`, { cause: err });
  }
}

export async function loadTarget(sources: TargetSources, target: string | undefined, options: TargetOptions): Promise<LoadedTarget> {
  if (options.file !== undefined || options.admin !== undefined) {
    const fromFile = options.file !== undefined;
    // A proxy-name target with --admin names what is at that address (`zc certificates ztunnel-node-b --admin …`).
    const namedProxy = target !== undefined && !isPodRef(target) ? target : undefined;
    const proxy = namedProxy ?? (fromFile ? (options.file === '-' ? 'stdin' : basename(options.file!)) : options.admin!);
    const raw = fromFile ? await readDumpFile(sources, options.file!) : await sources.client().adminConfigDump(options.admin!, options.admin!);
    const dump = parseConfigDump(raw, proxy);
    let pod: LoadedTarget['pod'];
    if (target !== undefined && isPodRef(target)) {
      pod = podScope([{ name: proxy, dump }], target);
      if (!pod) {
        const pods = meshWorkloads([{ name: proxy, dump }]).filter((w) => w.proxy === proxy).map(workloadLabel);
        throw new MeshError('MESHCTL_ERR_UNKNOWN_TARGET', `pod ${target} is not in ${proxy}`, { hint: `pods local to it: ${pods.join(', ') || 'none'}` });
      }
    }
    return { proxy, raw, dump, pod, origin: fromFile ? 'file' : 'admin', adminAddress: options.admin, adminProblem: undefined };
  }
  const client = sources.client();
  if (target !== undefined && !isPodRef(target) && overCluster(client)) return loadKubeZtunnel(sources, client, target);
  const proxies = await client.proxies();
  if (target === undefined) throw unknownTarget('(none given)', proxies, []);
  const byName = proxies.find((p) => p.name === target || p.id === target);
  if (byName) {
    const { raw, origin, admin } = await dumpOfProxy(client, byName, sources.hostFacts);
    return { proxy: byName.name, raw, dump: parseConfigDump(raw, `${byName.name}'s config dump`), pod: undefined, origin, adminAddress: admin.address, adminProblem: admin.problem };
  }
  if (!isPodRef(target)) throw unknownTarget(target, proxies, []);
  const dumps = await allZtunnelDumps(client, proxies, (message) => sources.note?.(message), sources.hostFacts);
  const workloads = meshWorkloads(dumps);
  const workload = findWorkload(workloads, target);
  const home = dumps.find((d) => d.name === workload?.proxy);
  if (!workload || !home) {
    throw unknownTarget(target, proxies, workloads.filter((w) => w.proxy !== undefined).map(workloadLabel));
  }
  // Its dump as read above (from the proxy, or from istiod-lite when the proxy could not be reached).
  return {
    proxy: home.name,
    raw: home.raw,
    dump: home.dump,
    pod: { ip: workload.ip, identity: workload.identity, label: workloadLabel(workload) },
    origin: home.origin,
    adminAddress: home.admin.address,
    adminProblem: home.admin.problem,
  };
}
