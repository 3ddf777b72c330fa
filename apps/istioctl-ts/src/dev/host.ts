/**
 * What the dev mesh changes on the host, and how to undo it by name: network namespaces
 * `mdev-*` (nodes, pods, underlay — the capture rules live inside the node namespaces and go
 * with them), resolv.conf files under `/etc/netns/mdev-*`, the host's link `mdev-host` into the
 * underlay, and processes (killed by the namespace deletion, or by recorded process group in
 * explicit mode).
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { destroyTopology, listNamespaces } from '@mesh/netfilter';
import { MeshError } from '@mesh/errors';
import { DEV_HOST_INTERFACE, DEV_PREFIX } from './plan.js';
import { killGroup } from './processes.js';

const execFileAsync = promisify(execFile);
export const NETNS_ETC_DIR = '/etc/netns';

/** Runs a command in the caller's namespace; a failure names the command and its stderr. */
export async function run(argv: readonly string[]): Promise<string> {
  const [file, ...args] = argv as [string, ...string[]];
  try {
    return (await execFileAsync(file, args, { encoding: 'utf8' })).stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new MeshError('MESHCTL_ERR_DEV_COMMAND', `${argv.join(' ')} failed: ${stderr || (err as Error).message}`, { cause: err });
  }
}

/** `/etc/netns/<netns>`: `ip netns exec` bind-mounts the files in it over /etc (hosts here). */
export function netnsEtcDir(netns: string): string {
  return join(NETNS_ETC_DIR, netns);
}

export interface DevState {
  readonly mode: 'transparent' | 'explicit';
  /** The `meshctl dev up` process. */
  readonly pid: number;
  readonly startedAt: string;
  readonly istiodDebugAddress: string;
  /** `admin`: how meshctl reaches the ztunnel's admin API (`--admin` form); `adminSocket`: its owner-only socket. */
  readonly nodes: readonly { name: string; address: string; netns?: string; admin: string; adminSocket?: string; socks5?: string }[];
  readonly pods: readonly { name: string; namespace: string; node: string; ip: string; netns?: string }[];
  readonly services: readonly { name: string; namespace: string; vip: string; ports: readonly number[] }[];
  /** Process groups started outside any namespace (explicit mode), killed by `dev down`. */
  readonly processGroups: readonly number[];
  /** With --kubernetes: a cluster-admin kubeconfig for the dev API server. */
  readonly kubeconfig?: string;
  readonly logsDir: string;
}

export const DEV_STATE_FILE = 'dev.json';
/**
 * The mdev-* names are machine-wide, so the running dev mesh's pid is recorded outside the state
 * dir (a second `dev up` with another state dir must not tear down the first one's namespaces).
 * Per user: only root makes namespaces, and another user's file must not block explicit mode.
 */
export const DEV_OWNER_FILE = join(tmpdir(), `meshctl-dev-${process.getuid?.() ?? 'user'}.pid`);

/** The pid of a live `dev up` other than this process, if any. */
export async function liveOwner(): Promise<number | undefined> {
  const pid = Number((await readFile(DEV_OWNER_FILE, 'utf8').catch(() => '')).trim());
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid) ? pid : undefined;
}

/** Gives up this process's claim (a start that failed before anything ran). */
export async function releaseOwner(): Promise<void> {
  if ((await readFile(DEV_OWNER_FILE, 'utf8').catch(() => '')).trim() === String(process.pid)) await rm(DEV_OWNER_FILE, { force: true });
}

/**
 * Takes ownership atomically (exclusive create; a file left by a dead process is replaced).
 * Returns undefined when this process owns the dev mesh now, else the live owner's pid.
 */
export async function claimOwner(): Promise<number | undefined> {
  for (;;) {
    try {
      await writeFile(DEV_OWNER_FILE, `${process.pid}\n`, { flag: 'wx' });
      return undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number((await readFile(DEV_OWNER_FILE, 'utf8').catch(() => '')).trim());
    if (pid === process.pid) return undefined;
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) return pid;
    await rm(DEV_OWNER_FILE, { force: true });
  }
}

export async function readDevState(stateDir: string): Promise<DevState | undefined> {
  try {
    return JSON.parse(await readFile(join(stateDir, DEV_STATE_FILE), 'utf8')) as DevState;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True when `pid` still runs one of our built apps (a recycled pid must not be killed). */
async function runsOurApp(pid: number, repoRoot: string): Promise<boolean> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes(repoRoot);
  } catch {
    return false;
  }
}

/**
 * Removes everything a dev mesh made, by name, whether or not its process still runs; returns
 * what it removed. Idempotent. `releaseOwner: false` keeps this process's claim (a starting mesh
 * clearing what a crashed one left).
 */
export async function cleanupDevMesh(stateDir: string, repoRoot: string, { releaseOwner = true }: { releaseOwner?: boolean } = {}): Promise<string[]> {
  const removed: string[] = [];
  const state = await readDevState(stateDir);
  for (const pgid of state?.processGroups ?? []) {
    if ((await runsOurApp(pgid, repoRoot)) && killGroup(pgid, 'SIGKILL')) removed.push(`process group ${pgid}`);
  }
  const isRoot = process.getuid?.() === 0;
  // Every step runs even when one fails (a namespace that will not go must not keep the hosts
  // files); the failures are reported together at the end.
  const failures: string[] = [];
  const attempt = async (what: string, step: () => Promise<void>) => {
    try {
      await step();
    } catch (err) {
      failures.push(`${what}: ${(err as Error).message}`);
    }
  };
  if (isRoot) {
    await attempt('namespaces', async () => {
      const namespaces = await listNamespaces(DEV_PREFIX);
      if (namespaces.length === 0) return;
      await destroyTopology(DEV_PREFIX);
      removed.push(`${namespaces.length} network namespaces (${namespaces.join(', ')}) with their capture rules and processes`);
    });
    // Deleting the underlay namespace deletes this veth's peer and so the veth; a half-made
    // link (crash between the two commands) is removed here.
    await attempt(`link ${DEV_HOST_INTERFACE}`, async () => {
      const links = await run(['ip', '-o', 'link', 'show', DEV_HOST_INTERFACE]).catch(() => '');
      if (!links.includes(DEV_HOST_INTERFACE)) return;
      try {
        await run(['ip', 'link', 'del', DEV_HOST_INTERFACE]);
      } catch (err) {
        // The kernel removes the veth a moment after its peer's namespace goes: gone is what we want.
        if (/Cannot find device/.test((err as Error).message)) return;
        throw err;
      }
      removed.push(`link ${DEV_HOST_INTERFACE}`);
    });
    await attempt('resolv.conf files', async () => {
      const etc = await readdir(NETNS_ETC_DIR).catch(() => [] as string[]);
      const ours = etc.filter((name) => name.startsWith(DEV_PREFIX));
      for (const name of ours) await rm(netnsEtcDir(name), { recursive: true, force: true });
      if (ours.length > 0) removed.push(`${ours.length} resolv.conf files under ${NETNS_ETC_DIR}/${DEV_PREFIX}*`);
    });
  }
  if (failures.length > 0) {
    throw new MeshError('MESHCTL_ERR_DEV_CLEANUP', `could not remove everything: ${failures.join('; ')}`, {
      context: { removed, failures },
      hint: 'run `meshctl dev down` again; `ip netns pids <name>` shows what keeps a namespace',
    });
  }
  await rm(join(stateDir, DEV_STATE_FILE), { force: true });
  await rm(join(stateDir, 'run'), { recursive: true, force: true }); // admin sockets a killed proxy left
  const ownerPid = (await readFile(DEV_OWNER_FILE, 'utf8').catch(() => '')).trim();
  if (releaseOwner && (ownerPid === String(process.pid) || !(await liveOwner()))) await rm(DEV_OWNER_FILE, { force: true });
  return removed;
}
