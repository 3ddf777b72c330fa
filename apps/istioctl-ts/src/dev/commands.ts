/**
 * `meshctl dev up|down|exec`: the local two-node mesh. The orchestration modules load only
 * when a dev command runs, so the other commands keep their start-up time.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { MeshError } from '@mesh/errors';
import { describeRoute, parseRoute } from '../api/routes.js';
import type { CommandContext } from '../commands/context.js';
import type { DevState } from './host.js';
import type { DevMesh } from './mesh.js';

/** apps/istioctl-ts/{src,dist}/dev/ → the repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const DEV_STATE_DIR = `${REPO_ROOT}.state/dev`;
export const DEFAULT_MANIFEST_DIRS = ['examples/bookinfo'];
/** Loaded too once the waypoint app is built (its pods need it). */
export const WAYPOINT_MANIFEST_DIR = 'examples/waypoint';
/** `dev up --check`: what the sleep pod calls, and how long it waits for another dev mesh to stop. */
const CHECK_URL = 'http://productpage:9080/';
const CHECK_WAIT_FOR_OTHER_MS = 120_000;
const CHECK_DEADLINE_MS = 20_000;

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
    lines.push(`  ${node.name} ${node.address} (ztunnel admin ${describeRoute(parseRoute(node.admin))}${node.socks5 ? `, SOCKS5 ${node.socks5}` : ''}): ${pods.join(', ')}`);
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
    `  (admin APIs listen on each node's loopback: meshctl reaches them as root by entering the node's namespace, or through the sockets in ${mesh.state.nodes[0]?.adminSocket ? dirname(mesh.state.nodes[0].adminSocket) : 'the state directory'})`,
    `  edit the manifests under ${manifestDirs.join(', ')}: changes apply live (pods start and stop, policies are pushed)`,
    '',
    `logs: ${mesh.state.logsDir}    stop: Ctrl-C (after a crash: meshctl dev down)`,
  );
  if (mesh.state.kubeconfig) {
    lines.splice(
      lines.findIndex((l) => l.startsWith('  edit the manifests')) + 1,
      0,
      '    (applied with kubectl; a Pod you create through the API yourself is not started: no kubelet for it)',
      `  alias kubectl="${REPO_ROOT}.state/tools/kubectl --kubeconfig ${mesh.state.kubeconfig}"`,
      '  kubectl get endpointslices -A    (made by kube-controller-manager from the Ready pods)',
    );
  }
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
 * namespace (its node's ztunnel answers Service names: DNS proxy, captured). Explicit: through its node's SOCKS5 with
 * ALL_PROXY; curl also gets --interface (the source address names the pod) and --resolve for
 * every Service name, since without root nothing captures a process's DNS.
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

/** Runs `command` as `pod` (execPlan); resolves with its exit status and output. */
function execAs(state: DevState, pod: string, command: readonly string[], stdio: 'inherit' | 'pipe'): Promise<{ code: number; output: string }> {
  const plan = execPlan(state, pod, command);
  const [file, ...args] = plan.argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: stdio === 'inherit' ? 'inherit' : ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...plan.env } });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (err) => reject(new MeshError('MESHCTL_ERR_DEV_EXEC', `cannot run ${file}: ${err.message}`, { cause: err })));
    child.once('close', (exitCode, signal) => resolve({ code: exitCode ?? (signal ? 128 : 1), output }));
  });
}

/**
 * `dev up --check`: sleep calls productpage by its Service name through the mesh, until it
 * answers or the deadline passes (the first call may race the last push on a busy machine).
 */
async function checkThroughMesh(state: DevState, say: (line: string) => void): Promise<boolean> {
  const deadline = Date.now() + CHECK_DEADLINE_MS;
  for (;;) {
    const { code, output } = await execAs(state, 'sleep', ['curl', '-sS', '-m', '5', CHECK_URL], 'pipe');
    const answer = output.split('\n')[0] ?? '';
    if (code === 0 && / answered GET \//.test(answer)) {
      say(`check: sleep → ${CHECK_URL} through the mesh: ${answer}`);
      return true;
    }
    if (Date.now() > deadline) {
      say(`check: sleep → ${CHECK_URL} failed (curl exit status ${code}): ${output.trim().slice(0, 500)}`);
      return false;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
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
    .option('--kubernetes', 'keep the configuration on a real API server: etcd, kube-apiserver and kube-controller-manager on this machine (built by `npm run setup`), the manifests applied with kubectl, istiod-lite reading the API (transparent mode only)')
    .option('--check', `start the mesh, call ${CHECK_URL} from the sleep pod through it, stop; the exit status says whether the call went through (waits up to ${CHECK_WAIT_FOR_OTHER_MS / 1000} s for another dev mesh on this machine to stop)`)
    .action(async (opts: { manifests?: string[]; mode?: string; check?: boolean; kubernetes?: boolean }) => {
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
      // A Ctrl-C usually arrives twice (from the terminal, and forwarded by npm or pnpm, which run
      // this in the same process group): the listeners stay until the mesh is stopped, so a
      // repeat is absorbed instead of killing meshctl halfway through its cleanup.
      let received: string | undefined;
      let up = false;
      let stopRequested: (name: string) => void = () => undefined;
      const signal = new Promise<string>((resolve) => (stopRequested = resolve));
      // SIGHUP: the terminal closed; clean up the same way.
      const listeners = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((name) => [name, () => {
        if (received !== undefined) return;
        received = name;
        if (!up) say(`\n${name}: stopping as soon as the mesh is up…`);
        stopRequested(name);
      }] as const);
      for (const [name, listener] of listeners) process.on(name, listener);
      try {
        const mesh = await startDevMesh({
          repoRoot: REPO_ROOT,
          manifestDirs: absolute,
          stateDir: DEV_STATE_DIR,
          mode: opts.mode as 'transparent' | 'explicit' | undefined,
          say,
          waitForOtherMs: opts.check ? CHECK_WAIT_FOR_OTHER_MS : 0,
          kubernetes: opts.kubernetes === true,
        });
        up = true;
        let checked = true;
        const ready = readyText(mesh, `node ${REPO_ROOT}apps/istioctl-ts/dist/main.js`, absolute.map((d) => (d.startsWith(REPO_ROOT) ? relative(REPO_ROOT, d) : d)));
        if (opts.check) {
          if (received === undefined) say(ready.split('\n')[0] ?? '');
          // Interrupted before the call: not checked.
          checked = received === undefined && (await checkThroughMesh(mesh.state, say));
        } else {
          if (received === undefined) ctx.stdout.write(ready);
          const name = await signal;
          say(`\n${name}: stopping the mesh…`);
        }
        const started = performance.now();
        await mesh.stop();
        const removed =
          mesh.mode === 'transparent'
            ? `processes${mesh.state.kubeconfig ? ' (the Kubernetes ones and their data too)' : ''}, namespaces, capture rules, resolv.conf files and the host link removed`
            : 'processes stopped';
        say(`stopped in ${formatMs(performance.now() - started)}: ${removed}`);
        if (!checked) throw new MeshError('MESHCTL_ERR_DEV_CHECK', `sleep could not reach ${CHECK_URL} through the mesh`, { hint: `the logs are in ${DEV_STATE_DIR}/logs` });
      } finally {
        for (const [name, listener] of listeners) process.off(name, listener);
      }
    });

  dev
    .command('down')
    .description('Remove whatever a dev mesh left behind (after a crash): mdev-* namespaces, resolv.conf files, the host link, processes')
    .action(async () => {
      const { cleanupDevMesh, readDevState, isAlive, liveOwner } = await import('./host.js');
      const state = await readDevState(DEV_STATE_DIR);
      const ours = state && state.pid !== process.pid && isAlive(state.pid) ? state.pid : undefined;
      const owner = (await liveOwner()) ?? ours;
      if (owner !== undefined && owner !== ours) {
        // The mdev-* names are machine-wide: a mesh another checkout (or a test) started owns them
        // now, and whatever a crash here left was removed when it started.
        throw new MeshError('MESHCTL_ERR_DEV_RUNNING', `a dev mesh of another checkout is running (meshctl pid ${owner}); nothing removed`, {
          hint: 'stop it with Ctrl-C in its terminal, or `meshctl dev down` in its checkout',
        });
      }
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
      const { code } = await execAs(await loadState(), pod, command, 'inherit');
      if (code !== 0) throw new MeshError('MESHCTL_ERR_DEV_EXEC', `${command.join(' ')} exited with status ${code}`);
    });
}
