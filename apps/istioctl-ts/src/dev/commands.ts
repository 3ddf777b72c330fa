/**
 * `meshctl dev up|down|exec`: the local two-node mesh. The orchestration modules load only
 * when a dev command runs, so the other commands keep their start-up time.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { MeshError } from '@mesh/errors';
import type { CommandContext } from '../commands/context.js';
import type { DevState } from './host.js';
import type { DevMesh } from './mesh.js';

/** apps/istioctl-ts/{src,dist}/dev/ → the repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const DEV_STATE_DIR = `${REPO_ROOT}.state/dev`;
export const DEFAULT_MANIFEST_DIRS = ['examples/bookinfo'];
/** Loaded too once the waypoint app is built (its pods need it). */
export const WAYPOINT_MANIFEST_DIR = 'examples/waypoint';

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** What `dev up` prints once ready: where the time went, the pods, what to try. */
export function readyText(mesh: Pick<DevMesh, 'mode' | 'timings' | 'state'>, meshctl: string, manifestDirs: readonly string[]): string {
  const total = mesh.timings.reduce((sum, [, ms]) => sum + ms, 0);
  const width = Math.max(...mesh.timings.map(([name]) => name.length));
  const lines = [`mesh ready in ${formatMs(total)} (${mesh.mode} mode); startup time:`];
  for (const [name, ms, detail] of mesh.timings) {
    lines.push(`  ${name.padEnd(width)}  ${formatMs(ms).padStart(7)}`);
    if (detail) lines.push(...detail.split('; ').map((d) => `    ${d}`));
  }
  lines.push('', 'nodes and pods:');
  for (const node of mesh.state.nodes) {
    const pods = mesh.state.pods.filter((p) => p.node === node.name).map((p) => `${p.name}${p.namespace === 'default' ? '' : `.${p.namespace}`} ${p.ip}`);
    lines.push(`  ${node.name} ${node.address} (ztunnel admin ${node.admin}${node.socks5 ? `, SOCKS5 ${node.socks5}` : ''}): ${pods.join(', ')}`);
  }
  const first = mesh.state.nodes[0]?.name ?? 'node-a';
  const second = mesh.state.nodes[1]?.name ?? first;
  const istiodFlag = mesh.state.istiodDebugAddress === '127.0.0.1:15014' ? '' : ` --istiod ${mesh.state.istiodDebugAddress}`;
  lines.push(
    '',
    'try (in another terminal):',
    `  alias meshctl="${meshctl}"`,
    '  meshctl dev exec sleep -- curl -s http://productpage:9080/',
    `  meshctl${istiodFlag} proxy-config listeners ztunnel-${first}`,
    `  meshctl${istiodFlag} tunnels ztunnel-${second}`,
    `  meshctl${istiodFlag} x explain --from sleep.default --to productpage:9080`,
    `  edit the manifests under ${manifestDirs.join(', ')}: changes apply live (pods start and stop, policies are pushed)`,
    '',
    `logs: ${mesh.state.logsDir}    stop: Ctrl-C (after a crash: meshctl dev down)`,
  );
  return `${lines.join('\n')}\n`;
}

function podOf(state: DevState, name: string): DevState['pods'][number] {
  const [pod, namespace] = name.includes('.') ? name.split('.', 2) : [name, undefined];
  const found = state.pods.filter((p) => p.name === pod && (namespace === undefined || p.namespace === namespace));
  if (found.length !== 1) {
    throw new MeshError('MESHCTL_ERR_DEV_NO_POD', found.length === 0 ? `no pod "${name}" in the dev mesh` : `"${name}" names pods in several namespaces`, {
      hint: `pods: ${state.pods.map((p) => `${p.name}.${p.namespace}`).join(', ')}`,
    });
  }
  return found[0] as DevState['pods'][number];
}

/**
 * The argv and environment that run `command` as `pod`. Transparent: inside its network
 * namespace (its hosts file resolves Service names). Explicit: through its node's SOCKS5 with
 * ALL_PROXY; curl also gets --interface (the source address names the pod) and --resolve for
 * every Service name, since a hosts file needs root.
 */
export function execPlan(state: DevState, podName: string, command: readonly string[]): { argv: string[]; env: Record<string, string> } {
  const pod = podOf(state, podName);
  if (pod.netns) return { argv: ['ip', 'netns', 'exec', pod.netns, ...command], env: {} };
  const socks5 = state.nodes.find((n) => n.name === pod.node)?.socks5;
  const env: Record<string, string> = { MESH_POD_IP: pod.ip, ...(socks5 ? { ALL_PROXY: `socks5://${socks5}`, all_proxy: `socks5://${socks5}` } : {}) };
  const [program, ...args] = command;
  if (program !== 'curl') return { argv: [...command], env };
  const resolve = state.services.flatMap((s) =>
    s.ports.flatMap((port) => [s.namespace === pod.namespace ? s.name : undefined, `${s.name}.${s.namespace}`, `${s.name}.${s.namespace}.svc.cluster.local`].filter(Boolean).flatMap((host) => ['--resolve', `${host}:${port}:${s.vip}`])),
  );
  return { argv: ['curl', '--interface', pod.ip, ...resolve, ...args], env };
}

async function loadState(): Promise<DevState> {
  const { readDevState, isAlive } = await import('./host.js');
  const state = await readDevState(DEV_STATE_DIR);
  if (!state || !isAlive(state.pid)) {
    throw new MeshError('MESHCTL_ERR_DEV_NOT_RUNNING', 'no dev mesh is running', { hint: 'start one with `pnpm dev` (or `meshctl dev up`)' });
  }
  return state;
}

export function registerDev(program: Command, ctx: CommandContext): void {
  const dev = program
    .command('dev')
    .description('A local two-node mesh: istiod-lite, a ztunnel per node, sample workloads in their pods')
    .addHelpText('after', '\nExamples:\n  meshctl dev up\n  meshctl dev exec sleep -- curl -s http://productpage:9080/\n  meshctl dev down\n');

  dev
    .command('up')
    .description('Start the mesh of the manifest directories and keep it running until Ctrl-C (transparent mode as root on Linux, else explicit)')
    .option('-f, --manifests <dir...>', `manifest directories (default ${DEFAULT_MANIFEST_DIRS.join(' ')}, plus ${WAYPOINT_MANIFEST_DIR} once the waypoint is built)`)
    .option('--mode <mode>', 'transparent or explicit (default: transparent when root on Linux)')
    .action(async (opts: { manifests?: string[]; mode?: string }) => {
      if (opts.mode !== undefined && opts.mode !== 'transparent' && opts.mode !== 'explicit') {
        throw new MeshError('MESHCTL_ERR_BAD_FLAG', `--mode ${opts.mode} is not a capture mode`, { hint: 'use transparent or explicit' });
      }
      const { startDevMesh, appBinaries } = await import('./mesh.js');
      // Given directories are relative to where meshctl runs; the defaults to the repository.
      const absolute = opts.manifests
        ? opts.manifests.map((d) => resolve(d))
        : [...DEFAULT_MANIFEST_DIRS, ...(existsSync(appBinaries(REPO_ROOT).waypoint) ? [WAYPOINT_MANIFEST_DIR] : [])].map((d) => `${REPO_ROOT}${d}`);
      const say = (line: string) => void ctx.stdout.write(`${line}\n`);
      // Listening before the start: a Ctrl-C while it starts must not kill meshctl and strand
      // the detached processes and namespaces; the mesh finishes starting, then stops.
      let received: string | undefined;
      const signal = new Promise<string>((resolve) => {
        const on = (name: string) => () => {
          if (received === undefined) say(`\n${name}: stopping as soon as the mesh is up…`);
          received = name;
          resolve(name);
        };
        process.once('SIGINT', on('SIGINT'));
        process.once('SIGTERM', on('SIGTERM'));
        // The terminal closed: clean up the same way.
        process.once('SIGHUP', on('SIGHUP'));
      });
      const mesh = await startDevMesh({ repoRoot: REPO_ROOT, manifestDirs: absolute, stateDir: DEV_STATE_DIR, mode: opts.mode as 'transparent' | 'explicit' | undefined, say });
      if (received === undefined) ctx.stdout.write(readyText(mesh, `node ${REPO_ROOT}apps/istioctl-ts/dist/main.js`, absolute.map((d) => (d.startsWith(REPO_ROOT) ? relative(REPO_ROOT, d) : d))));
      const name = await signal;
      say(`\n${name}: stopping the mesh…`);
      const started = performance.now();
      await mesh.stop();
      const removed = mesh.mode === 'transparent' ? 'processes, namespaces, capture rules, hosts files and the host link removed' : 'processes stopped';
      say(`stopped in ${formatMs(performance.now() - started)}: ${removed}`);
    });

  dev
    .command('down')
    .description('Remove whatever a dev mesh left behind (after a crash): mdev-* namespaces, hosts files, the host link, processes')
    .action(async () => {
      const { cleanupDevMesh, readDevState, isAlive, liveOwner } = await import('./host.js');
      const state = await readDevState(DEV_STATE_DIR);
      const owner = (await liveOwner()) ?? (state && state.pid !== process.pid && isAlive(state.pid) ? state.pid : undefined);
      if (owner !== undefined) {
        // A live `dev up` cleans up after itself on SIGTERM; give it the chance first.
        process.kill(owner, 'SIGTERM');
        for (let i = 0; i < 100 && isAlive(owner); i++) await new Promise((resolve) => setTimeout(resolve, 100));
        ctx.stdout.write(`stopped meshctl dev up (pid ${owner})\n`);
      }
      const removed = await cleanupDevMesh(DEV_STATE_DIR, REPO_ROOT);
      ctx.stdout.write(removed.length > 0 ? `removed: ${removed.join('; ')}\n` : 'nothing to remove\n');
    });

  dev
    .command('exec')
    .description('Run a command as a pod of the dev mesh (inside its network namespace, or through its node\'s SOCKS5 in explicit mode)')
    .argument('<pod>', 'pod name, or name.namespace')
    .argument('<command...>', 'the command, after --')
    .action(async (pod: string, command: string[]) => {
      const plan = execPlan(await loadState(), pod, command);
      const [file, ...args] = plan.argv as [string, ...string[]];
      const code = await new Promise<number>((resolve, reject) => {
        const child = spawn(file, args, { stdio: 'inherit', env: { ...process.env, ...plan.env } });
        child.once('error', (err) => reject(new MeshError('MESHCTL_ERR_DEV_EXEC', `cannot run ${file}: ${err.message}`, { cause: err })));
        child.once('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 128 : 1)));
      });
      if (code !== 0) throw new MeshError('MESHCTL_ERR_DEV_EXEC', `${command.join(' ')} exited with status ${code}`);
    });
}
