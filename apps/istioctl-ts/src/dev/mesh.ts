/**
 * `meshctl dev up`: the sample mesh as real processes. Transparent mode (root on Linux): a
 * network namespace per node and per pod (@mesh/netfilter topology), istiod-lite on the
 * underlay, a ztunnel per node applying its TPROXY capture plan, the sample workloads inside
 * their pods, and a link from the host into the underlay (readiness, metrics, the pods).
 * Explicit mode (anything else): the same processes on loopback addresses, SOCKS5 per node.
 *
 * The control surfaces stay where no pod reaches them (docs/operations.md, "Reaching the control
 * surfaces"): istiod-lite's debug API on its namespace's loopback, forwarded to the host's
 * 127.0.0.1:15014 like a port-forward; each proxy's admin API on its namespace's loopback and on
 * an owner-only Unix socket under `<state>/run/`, which meshctl finds through /debug/syncz.
 *
 * Invariants: everything made on the host is named `mdev-*` (host.ts removes it by name); a
 * failed start removes what it made before rethrowing; `stop()` is idempotent.
 */
import { existsSync } from 'node:fs';
import { chown, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createTcpSocket, createTopology, isSockoptAvailable, type Topology } from '@mesh/netfilter';
import { MeshError } from '@mesh/errors';
import { claimOwner, cleanupDevMesh, DEV_STATE_FILE, isAlive, netnsEtcDir, readDevState, releaseOwner, run, type DevState } from './host.js';
import { readManifests, snapshotOf, watchManifests, writeMirror, type ManifestFile } from './manifests.js';
import { DEV_HOST_INTERFACE, DEV_PREFIX, diffPods, planDevMesh, renderResolvConf, toLoopbackAddresses, type DevMode, type DevPlan, type DevPodPlan } from './plan.js';
import { DevProcess } from './processes.js';
import { formatMilestones, ztunnelMilestones } from './startup.js';
import { devKubeToolsMissing, expectedEndpoints, startDevKube, ZTUNNEL_NAMESPACE, ztunnelPodName, type DevKube, type ProxyCredentials } from './kubernetes.js';

/** A proxy's flags for Kubernetes identity (apps/ztunnel and apps/waypoint config.ts). */
const credentialArgs = (c: ProxyCredentials) => ['--token-file', c.tokenFile, '--ca-root-cert', c.rootCertFile];

export const ISTIOD_DEBUG_PORT = 15014;
/** Where istiod-lite's debug API listens inside its namespace (loopback only). */
export const ISTIOD_DEBUG_HOST = '127.0.0.1';
/** Where the ztunnel's admin API listens inside its node's namespace (transparent mode). */
export const ZTUNNEL_ADMIN_HOST = '127.0.0.1';
export const ISTIOD_XDS_TLS_PORT = 15012;
export const ZTUNNEL_ADMIN_PORT = 15000;
export const ZTUNNEL_READINESS_PORT = 15021;
export const ZTUNNEL_SOCKS5_PORT = 15080;
const READY_TIMEOUT_MS = 30_000;
const WAYPOINT_READY_TIMEOUT_MS = 10_000;
const PRIVILEGED_PORT_LIMIT = 1024;
const OWNER_POLL_MS = 250;

export interface AppBinaries {
  readonly istiod: string;
  readonly ztunnel: string;
  readonly waypoint: string;
  readonly sampleWorkload: string;
}

export function appBinaries(repoRoot: string): AppBinaries {
  return {
    istiod: join(repoRoot, 'apps/istiod-lite/dist/main.js'),
    ztunnel: join(repoRoot, 'apps/ztunnel/dist/main.js'),
    waypoint: join(repoRoot, 'apps/waypoint/dist/main.js'),
    sampleWorkload: join(repoRoot, 'apps/sample-workload/dist/main.js'),
  };
}

/** Which capture mode this machine allows, and why (printed at start). */
export function chooseMode(forced?: DevMode): { mode: DevMode; reason: string } {
  if (forced === 'explicit') return { mode: 'explicit', reason: 'asked for with --mode explicit' };
  const problems: string[] = [];
  if (process.platform !== 'linux') problems.push(`this is ${process.platform}, TPROXY needs Linux`);
  if (process.getuid?.() !== 0) problems.push('not root (network namespaces and iptables need root; run with sudo for transparent mode)');
  if (problems.length === 0 && !isSockoptAvailable()) problems.push('the @mesh/netfilter native addon (IP_TRANSPARENT) is not built (run `pnpm install`)');
  if (problems.length === 0 && !existsSync('/usr/sbin/iptables') && !existsSync('/sbin/iptables')) problems.push('iptables is not installed (the set-up installs it when run as root: `npm run setup`)');
  if (forced === 'transparent' && problems.length > 0) {
    throw new MeshError('MESHCTL_ERR_DEV_MODE', `transparent mode is not possible here: ${problems.join('; ')}`, { hint: 'use --mode explicit' });
  }
  if (problems.length > 0) return { mode: 'explicit', reason: problems.join('; ') };
  return { mode: 'transparent', reason: 'root on Linux: pods are network namespaces and ztunnel captures with TPROXY (docs/model.md)' };
}

export interface DevMeshOptions {
  readonly repoRoot: string;
  readonly manifestDirs: readonly string[];
  readonly stateDir: string;
  readonly mode?: DevMode | undefined;
  /** Progress lines for a person. */
  readonly say: (line: string) => void;
  /** Forward the host's 127.0.0.1:15014 (or a free port when taken) to istiod-lite's debug port so plain `meshctl` finds the mesh; default true. */
  readonly forwardDebugPort?: boolean;
  readonly binaries?: AppBinaries;
  /** Wait this long for another running dev mesh to stop instead of refusing at once (tests). */
  readonly waitForOtherMs?: number;
  /**
   * The configuration on a real API server (kubernetes.ts): etcd, kube-apiserver and
   * kube-controller-manager run, the manifests are applied with kubectl, this process plays
   * kubelet, and istiod-lite reads the API instead of a manifest directory. Transparent mode only.
   */
  readonly kubernetes?: boolean;
}

export interface DevMesh {
  readonly mode: DevMode;
  readonly modeReason: string;
  readonly state: DevState;
  /** Phase → milliseconds, in order: where startup time went. */
  /** Phase → milliseconds (→ what inside it took the time), in order. */
  readonly timings: readonly (readonly [string, number, string?])[];
  readonly plan: () => DevPlan;
  /** Resolves when the manifests were applied after an edit (for tests). */
  readonly reconciled: () => Promise<void>;
  stop(): Promise<void>;
}

interface Running {
  topology?: Topology;
  istiod?: DevProcess;
  ztunnels: Map<string, DevProcess>;
  pods: Map<string, DevProcess>;
  forwarder?: Server;
  watcher?: { close(): void };
  kube?: DevKube;
}

const podKey = (p: { name: string; namespace: string }) => `${p.namespace}/${p.name}`;

function httpStatus(url: string, timeoutMs = 1_000): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

async function waitHttpOk(url: string, proc: DevProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await httpStatus(url)) !== 200) {
    if (!proc.running) throw proc.failure('exited before it was ready');
    if (Date.now() > deadline) throw proc.failure(`not ready within ${timeoutMs} ms (${url})`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Like `kubectl port-forward`: the host's 127.0.0.1:<port> → `target` as seen from inside network
 * namespace `netns` (each upstream socket is created there by @mesh/netfilter's addon), or from
 * here when `netns` is undefined. A taken port falls back to a free one; the caller says which.
 */
async function forwardPort(port: number, target: { host: string; port: number }, netns?: string): Promise<Server> {
  const server = createServer((socket) => {
    let upstream: Socket;
    try {
      upstream = netns ? createTcpSocket({ netns }).connect(target.port, target.host) : createConnection(target);
    } catch {
      return void socket.destroy();
    }
    socket.pipe(upstream).pipe(socket);
    const drop = () => {
      socket.destroy();
      upstream.destroy();
    };
    socket.on('error', drop);
    upstream.on('error', drop);
  });
  const listen = (p: number) =>
    new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(p, '127.0.0.1', () => resolve(true));
    });
  if (!(await listen(port))) await listen(0);
  return server;
}

/** The operator who started the dev mesh (`sudo pnpm dev` → the sudo user), who owns the admin sockets. */
function operatorIds(): { uid: number; gid: number } | undefined {
  const uid = Number(process.env['SUDO_UID']);
  const gid = Number(process.env['SUDO_GID']);
  return Number.isInteger(uid) && uid > 0 && Number.isInteger(gid) ? { uid, gid } : undefined;
}

/** Hands the run directory and the sockets in it to `owner` (they stay owner-only). */
async function giveTo(dir: string, owner: { uid: number; gid: number }): Promise<void> {
  await chown(dir, owner.uid, owner.gid).catch(() => undefined);
  for (const name of await readdir(dir).catch(() => [] as string[])) await chown(join(dir, name), owner.uid, owner.gid).catch(() => undefined);
}

export async function startDevMesh(options: DevMeshOptions): Promise<DevMesh> {
  const { say, stateDir, repoRoot } = options;
  const bin = options.binaries ?? appBinaries(repoRoot);
  for (const [app, path] of Object.entries(bin)) {
    if (app !== 'waypoint' && !existsSync(path)) {
      throw new MeshError('MESHCTL_ERR_DEV_NOT_BUILT', `${path} does not exist`, { hint: 'run `pnpm run build` first (`npm run dev` does)' });
    }
  }
  const previous = await readDevState(stateDir);
  const liveInThisStateDir = previous && previous.pid !== process.pid && isAlive(previous.pid) ? previous.pid : undefined;
  let owner = liveInThisStateDir ?? (await claimOwner());
  // Tests may queue behind another dev mesh (another suite run); a person is told at once.
  const waitUntil = Date.now() + (options.waitForOtherMs ?? 0);
  while (owner !== undefined && liveInThisStateDir === undefined && Date.now() < waitUntil) {
    await new Promise((resolve) => setTimeout(resolve, OWNER_POLL_MS));
    owner = await claimOwner();
  }
  if (owner !== undefined) {
    throw new MeshError('MESHCTL_ERR_DEV_RUNNING', `a dev mesh is already running (meshctl pid ${owner})`, { hint: 'stop it with Ctrl-C in its terminal, or `meshctl dev down`' });
  }
  let mode: DevMode;
  let reason: string;
  try {
    const leftovers = await cleanupDevMesh(stateDir, repoRoot, { releaseOwner: false });
    if (leftovers.length > 0) say(`removed what a previous dev mesh left: ${leftovers.join('; ')}`);
    ({ mode, reason } = chooseMode(options.mode));
    if (options.kubernetes) {
      // Explicit mode moves every address to 127/8, Service VIPs too, outside the API server's
      // Service range; and the kubelet played here is the one that makes pod namespaces.
      if (mode !== 'transparent') throw new MeshError('MESHCTL_ERR_DEV_MODE', `--kubernetes needs transparent mode, and this is explicit mode: ${reason}`, { hint: 'run as root on Linux' });
      const missing = devKubeToolsMissing();
      if (missing) throw new MeshError('MESHCTL_ERR_DEV_KUBE_TOOLS', `--kubernetes needs the Kubernetes programs: ${missing}`);
    }
  } catch (err) {
    await releaseOwner();
    throw err;
  }
  say(`mode: ${mode} — ${reason}`);
  const timings: [string, number, string?][] = [];
  let mark = performance.now();
  const phase = (name: string, detail?: string) => {
    const now = performance.now();
    timings.push(detail ? [name, now - mark, detail] : [name, now - mark]);
    mark = now;
  };

  const configDir = join(stateDir, 'config');
  const logsDir = join(stateDir, 'logs');
  const istiodStateDir = join(stateDir, 'istiod');
  /** The proxies' owner-only admin sockets (directory 0700, created by the proxies). */
  const runDir = join(stateDir, 'run');
  const adminSocket = (proxy: string) => join(runDir, `${proxy}.sock`);
  const rewrite = mode === 'explicit' ? toLoopbackAddresses : (t: string) => t;
  let files: ManifestFile[];
  let plan: DevPlan;
  try {
    await rm(configDir, { recursive: true, force: true });
    await mkdir(configDir, { recursive: true });
    await mkdir(logsDir, { recursive: true });
    files = await readManifests(options.manifestDirs, rewrite);
    plan = planDevMesh(snapshotOf(files), mode);
  } catch (err) {
    await releaseOwner();
    throw err;
  }
  const waypointBuilt = existsSync(bin.waypoint);
  phase('read manifests');

  const running: Running = { ztunnels: new Map(), pods: new Map() };
  const processGroups = () => [running.istiod, ...running.ztunnels.values(), ...running.pods.values()].flatMap((p) => (p?.pid ? [p.pid] : []));
  const node = (name: string) => plan.nodes.find((n) => n.name === name) as DevPlan['nodes'][number];
  const nodeNetns = (name: string) => running.topology?.node(name).netns;
  const podNetns = (p: DevPodPlan) => running.topology?.pod(p.name, p.namespace).netns;
  /** Wraps argv so it runs inside `netns` (transparent) or as is (explicit). */
  const inNetns = (netns: string | undefined, argv: string[]) => (netns ? ['ip', 'netns', 'exec', netns, ...argv] : argv);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    running.watcher?.close();
    running.forwarder?.close();
    // Workloads and ztunnels first (ztunnel removes its capture rules on SIGTERM), istiod last.
    await Promise.all([...running.pods.values(), ...running.ztunnels.values()].map((p) => p.stop()));
    await running.istiod?.stop();
    await running.kube?.close();
    await cleanupDevMesh(stateDir, repoRoot);
  };

  /** The pod's resolv.conf (transparent mode): its node's ztunnel answers Service names. */
  const writeResolvConf = async (pod: DevPodPlan) => {
    const netns = podNetns(pod);
    if (!netns) return;
    await mkdir(netnsEtcDir(netns), { recursive: true });
    await writeFile(join(netnsEtcDir(netns), 'resolv.conf'), renderResolvConf(plan, pod));
  };

  /** Ports below 1024 need root to bind; without it (explicit mode) they are left out, said once. */
  const canBindPrivileged = process.getuid?.() === 0;
  const startPod = async (pod: DevPodPlan): Promise<DevProcess | undefined> => {
    const ports = canBindPrivileged ? pod.ports : pod.ports.filter((p) => p >= PRIVILEGED_PORT_LIMIT);
    if (ports.length < pod.ports.length) say(`${podKey(pod)}: not serving port ${pod.ports.filter((p) => !ports.includes(p)).join(', ')} (below ${PRIVILEGED_PORT_LIMIT} needs root); it can still be a client`);
    if (ports.length === 0) return undefined;
    const name = `pod-${pod.namespace}-${pod.name}`;
    if (pod.kind === 'waypoint') {
      if (!waypointBuilt) return undefined;
      // With --kubernetes, its own service account's token (as its pod on a cluster); else the credential
      // istiod-lite issues its Gateway (never its node's: apps/waypoint/ARCHITECTURE.md, "Identity and credentials").
      const credentials = running.kube ? credentialArgs(await running.kube.credentials(pod)) : ['--bootstrap-dir', join(istiodStateDir, 'waypoints', pod.namespace, pod.gateway ?? pod.name)];
      const proc = new DevProcess(name, inNetns(podNetns(pod), [process.execPath, bin.waypoint, '--pod-name', pod.name, '--namespace', pod.namespace, '--node-name', pod.node, '--pod-ip', pod.ip, '--xds-address', `${plan.istiodAddress}:${ISTIOD_XDS_TLS_PORT}`, ...credentials, '--listen-address', pod.ip, ...(mode === 'explicit' ? ['--admin-address', pod.ip] : []), '--admin-socket', adminSocket(`${pod.namespace}-${pod.name}`)]), logsDir);
      running.pods.set(podKey(pod), proc);
      // No readiness probe, as a waypoint Deployment's first moments: it needs to be a Ready pod
      // of the snapshot to be given its certificate.
      await running.kube?.podRunning(pod, node(pod.node));
      return proc;
    }
    // Explicit mode: upstream calls would bypass the mesh (no SOCKS5 in the sample), so none.
    const upstreams = mode === 'transparent' ? pod.upstreams.flatMap((u) => ['--upstream', u]) : [];
    const proc = new DevProcess(
      name,
      inNetns(podNetns(pod), [process.execPath, bin.sampleWorkload, '--name', pod.name, '--namespace', pod.namespace, '--node', pod.node, ...ports.flatMap((p) => ['--listen', `${pod.ip}:${p}`]), ...upstreams]),
      logsDir,
    );
    running.pods.set(podKey(pod), proc);
    await proc.waitForLog((e) => e['msg'] === 'sample workload listening', READY_TIMEOUT_MS);
    await running.kube?.podRunning(pod, node(pod.node));
    return proc;
  };

  /** `credentials`: its ztunnel Pod's token and root (--kubernetes); else the node's bootstrap certificate. */
  const startZtunnel = (nodeName: string, credentials: ProxyCredentials | undefined) => {
    const n = node(nodeName);
    const netns = nodeNetns(nodeName);
    const auth = credentials ? credentialArgs(credentials) : ['--bootstrap-dir', join(istiodStateDir, 'nodes', nodeName)];
    const argv = [process.execPath, bin.ztunnel, '--node-name', nodeName, '--xds-address', `${plan.istiodAddress}:${ISTIOD_XDS_TLS_PORT}`, ...auth, '--listen-address', n.address, '--admin-socket', adminSocket(`ztunnel-${nodeName}`)];
    if (netns) argv.push('--capture-mode', 'transparent', '--capture-netns', netns);
    else argv.push('--capture-mode', 'explicit');
    const proc = new DevProcess(`ztunnel-${nodeName}`, inNetns(netns, argv), logsDir);
    running.ztunnels.set(nodeName, proc);
    return proc;
  };

  const saveState = async () => {
    const state: DevState = {
      mode,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      istiodDebugAddress: running.forwarder
        ? `127.0.0.1:${(running.forwarder.address() as AddressInfo).port}`
        : running.topology
          ? `netns:${running.topology.underlayNetns}/${ISTIOD_DEBUG_HOST}:${ISTIOD_DEBUG_PORT}`
          : `${ISTIOD_DEBUG_HOST}:${ISTIOD_DEBUG_PORT}`,
      nodes: plan.nodes.map((n) => ({
        name: n.name,
        address: n.address,
        ...(nodeNetns(n.name) ? { netns: nodeNetns(n.name) } : {}),
        admin: nodeNetns(n.name) ? `netns:${nodeNetns(n.name)}/${ZTUNNEL_ADMIN_HOST}:${ZTUNNEL_ADMIN_PORT}` : `${n.address}:${ZTUNNEL_ADMIN_PORT}`,
        adminSocket: adminSocket(`ztunnel-${n.name}`),
        ...(mode === 'explicit' ? { socks5: `${n.address}:${ZTUNNEL_SOCKS5_PORT}` } : {}),
      })),
      pods: plan.pods.map((p) => ({ name: p.name, namespace: p.namespace, node: p.node, ip: p.ip, ...(podNetns(p) ? { netns: podNetns(p) } : {}) })),
      services: plan.services,
      // The Kubernetes programs run outside any namespace: `dev down` kills them by group.
      processGroups: [...(mode === 'explicit' ? processGroups() : []), ...(running.kube?.kube.pids() ?? [])],
      ...(running.kube ? { kubeconfig: running.kube.adminKubeconfig } : {}),
      logsDir,
    };
    await writeFile(join(stateDir, DEV_STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
    return state;
  };

  try {
    if (mode === 'transparent') {
      running.topology = await createTopology({
        prefix: DEV_PREFIX,
        underlayCidr: plan.underlayCidr,
        nodes: plan.nodes,
        pods: plan.pods.map((p) => ({ name: p.name, namespace: p.namespace, node: p.node, ip: p.ip })),
      });
      const ul = running.topology.underlayNetns;
      // The host joins the underlay (its end named mdev-host): meshctl reaches istiod-lite and
      // each ztunnel's admin port at the node address, as an operator on the node network would.
      await run(['ip', 'link', 'add', DEV_HOST_INTERFACE, 'type', 'veth', 'peer', 'name', 'host0', 'netns', ul]);
      await running.topology.exec(ul, ['ip', 'link', 'set', 'host0', 'master', 'br0', 'up']);
      await running.topology.exec(ul, ['ip', 'addr', 'add', `${plan.istiodAddress}/24`, 'dev', 'br0']);
      await run(['ip', 'addr', 'add', `${plan.hostAddress}/24`, 'dev', DEV_HOST_INTERFACE]);
      await run(['ip', 'link', 'set', DEV_HOST_INTERFACE, 'up']);
      for (const n of plan.nodes) {
        if (!n.podCidr) continue;
        await run(['ip', 'route', 'add', n.podCidr, 'via', n.address, 'dev', DEV_HOST_INTERFACE]);
        // istiod-lite answers pods too (the waypoint is a pod that fetches xDS and certificates).
        await running.topology.exec(ul, ['ip', 'route', 'add', n.podCidr, 'via', n.address, 'dev', 'br0']);
      }
      for (const pod of plan.pods) await writeResolvConf(pod);
      phase('network namespaces, veths, routes, resolv.conf files');
    }
    if (options.kubernetes) {
      running.kube = await startDevKube({ repoRoot, stateDir, logsDir, apiServerAddress: plan.hostAddress as string, files, nodes: plan.nodes });
      // A crash from here on leaves programs outside the namespaces: the state file names them.
      await saveState();
      phase('Kubernetes (etcd, kube-apiserver, kube-controller-manager, CRDs, kubectl apply, Nodes Ready with Leases)');
    } else {
      await writeMirror(configDir, files);
    }
    const configSource = running.kube ? ['--config-source', 'kubernetes', '--kubeconfig', running.kube.istiodKubeconfig] : ['--config-dir', configDir];
    running.istiod = new DevProcess(
      'istiod-lite',
      inNetns(running.topology?.underlayNetns, [process.execPath, bin.istiod, ...configSource, '--state-dir', istiodStateDir, '--listen-address', plan.istiodAddress]),
      logsDir,
    );
    await running.istiod.waitForLog((e) => e['msg'] === 'istiod-lite ready', READY_TIMEOUT_MS);
    phase('istiod-lite (CA, node credentials, first snapshot)');
    await Promise.all(plan.pods.map(startPod));
    phase(`sample workloads (${running.pods.size} pods)`);
    if (running.kube) {
      await running.kube.waitForEndpointSlices(expectedEndpoints(snapshotOf(files), plan.pods.filter((p) => running.pods.has(podKey(p)))));
      phase('EndpointSlices (kube-controller-manager)');
    }
    // --kubernetes: each ztunnel gets its Pod's token and the root from istiod-lite's ConfigMap first, as the kubelet mounts them.
    const kube = running.kube;
    const ztunnelCredentials = kube ? await Promise.all(plan.nodes.map((n) => kube.credentials({ namespace: ZTUNNEL_NAMESPACE, name: ztunnelPodName(n.name) }))) : undefined;
    const ztunnels = plan.nodes.map((n, i) => startZtunnel(n.name, ztunnelCredentials?.[i]));
    await Promise.all(ztunnels.map((z, i) => waitHttpOk(`http://${plan.nodes[i]!.address}:${ZTUNNEL_READINESS_PORT}/healthz/ready`, z, READY_TIMEOUT_MS)));
    if (kube) await Promise.all(plan.nodes.map((n) => kube.ztunnelRunning(n)));
    if (mode === 'transparent') await Promise.all(ztunnels.map((z) => z.waitForLog((e) => e['msg'] === 'capture rules applied', READY_TIMEOUT_MS)));
    phase(
      `ztunnels (xDS, workload certificates${mode === 'transparent' ? ', capture rules' : ''})`,
      plan.nodes.map((n, i) => `${n.name}: ${formatMilestones(ztunnelMilestones(ztunnels[i]!.logLines, ztunnels[i]!.spawnedAtMs))}`).join('; '),
    );
    const waypoints = plan.pods.filter((p) => p.kind === 'waypoint' && running.pods.has(podKey(p)));
    if (waypoints.length > 0) {
      // The L7 part is optional for the tour: a waypoint that is not ready is reported, not fatal.
      await Promise.all(
        waypoints.map((p) =>
          waitHttpOk(`http://${p.ip}:${ZTUNNEL_READINESS_PORT}/healthz/ready`, running.pods.get(podKey(p)) as DevProcess, WAYPOINT_READY_TIMEOUT_MS).catch((err: Error) =>
            say(`waypoint ${podKey(p)} is not ready (L7 traffic to its services fails until it is): ${err.message.split('\n')[0]}`),
          ),
        ),
      );
      phase(`waypoints (${waypoints.length})`);
    }
    if (running.topology && options.forwardDebugPort !== false) {
      running.forwarder = await forwardPort(ISTIOD_DEBUG_PORT, { host: ISTIOD_DEBUG_HOST, port: ISTIOD_DEBUG_PORT }, running.topology.underlayNetns);
      const bound = (running.forwarder.address() as AddressInfo).port;
      if (bound !== ISTIOD_DEBUG_PORT) say(`127.0.0.1:${ISTIOD_DEBUG_PORT} is taken: istiod-lite's debug API is forwarded to 127.0.0.1:${bound} (meshctl --istiod 127.0.0.1:${bound}, or MESHCTL_ISTIOD)`);
    }
    // `sudo pnpm dev`: the admin sockets belong to the operator who started it, not only to root.
    const operator = operatorIds();
    if (operator) await giveTo(runDir, operator);
    if (plan.pods.some((p) => p.kind === 'waypoint') && !waypointBuilt) say(`waypoint pods declared but ${bin.waypoint} is not built: they are not started`);
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  let state = await saveState();

  // Live edits: pods first (namespace, resolv.conf, process), then istiod-lite's copy of the files.
  let reconciling: Promise<void> = Promise.resolve();
  const reconcile = async () => {
    let nextFiles: ManifestFile[];
    let next: DevPlan;
    try {
      nextFiles = await readManifests(options.manifestDirs, rewrite);
      next = planDevMesh(snapshotOf(nextFiles), mode);
    } catch (err) {
      say(`manifest edit not applied: ${(err as Error).message}`);
      return;
    }
    if (JSON.stringify(next.nodes) !== JSON.stringify(plan.nodes)) say('nodes changed: restart `pnpm dev` for node changes (pods, services and policies apply live)');
    const { added, removed } = diffPods(plan.pods, next.pods);
    if (running.kube) {
      // First out of the API, so the EndpointSlice controller drops a pod before its process stops.
      try {
        await running.kube.remove(files, nextFiles, removed);
      } catch (err) {
        say(`manifest edit not applied to the API server: ${(err as Error).message}`);
        return;
      }
    }
    for (const pod of removed) {
      await running.pods.get(podKey(pod))?.stop();
      running.pods.delete(podKey(pod));
      running.kube?.forget(pod);
      if (running.topology) {
        await rm(netnsEtcDir(podNetns(pod) as string), { recursive: true, force: true });
        await running.topology.removePod(pod.name, pod.namespace);
      }
    }
    const previousPlan = plan;
    plan = { ...next, nodes: previousPlan.nodes };
    if (running.kube) {
      // The new pods' objects exist (Pending) before their processes start and make them Ready.
      try {
        await running.kube.apply(nextFiles);
      } catch (err) {
        say(`manifest edit not applied to the API server: ${(err as Error).message}`);
      }
    }
    for (const pod of added) {
      try {
        if (running.topology) {
          await running.topology.addPod({ name: pod.name, namespace: pod.namespace, node: pod.node, ip: pod.ip });
          // Before the process: `ip netns exec` bind-mounts the file only if it exists when it runs.
          await writeResolvConf(pod);
        }
        await startPod(pod);
      } catch (err) {
        say(`pod ${podKey(pod)} not started: ${(err as Error).message}`);
      }
    }
    // Service edits need no file: each node's ztunnel answers names from the config it is pushed.
    if (!running.kube) await writeMirror(configDir, nextFiles, files);
    files = nextFiles;
    state = await saveState();
    const changes = [...removed.map((p) => `-${podKey(p)}`), ...added.map((p) => `+${podKey(p)}`)];
    say(`manifests applied${changes.length ? ` (pods ${changes.join(' ')})` : ''}; istiod-lite pushes the new config`);
  };
  // With --kubernetes an edit goes through kubectl too; a Pod created through the API by someone
  // else is not started (the kubelet played here starts the manifests' pods only).
  running.watcher = watchManifests(options.manifestDirs, () => (reconciling = reconcile()));

  return {
    mode,
    modeReason: reason,
    get state() {
      return state;
    },
    timings,
    plan: () => plan,
    reconciled: () => reconciling,
    stop,
  };
}
