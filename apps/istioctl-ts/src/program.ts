/**
 * The meshctl program: `createProgram(deps)` builds the commander tree with its output, data
 * layer and clock injected (tests run it in-process); `runMeshctl(argv, deps)` is the one
 * top-level error handler and returns the exit code. Commands never call process.exit.
 */
import { readFile } from 'node:fs/promises';
import { Command, CommanderError } from 'commander';
import { MeshError, isMeshError } from '@mesh/errors';
import { DEFAULT_ISTIOD_ADDRESS, ISTIOD_ADDRESS_ENV, createMeshClient, type MeshClient, type MeshClientFactory } from './api/mesh-client.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from './api/http.js';
import { ExitStatus, type CommandContext, type Output } from './commands/context.js';
import { registerAnalyze } from './commands/analyze.js';
import { registerExplain } from './commands/explain.js';
import { registerDev } from './dev/commands.js';
import { registerProxyConfig } from './commands/proxy-config.js';
import { registerProxyStatus } from './commands/proxy-status.js';
import { registerTunnels } from './commands/tunnels.js';
import { registerVersion } from './commands/version.js';
import { registerWaypoint } from './commands/waypoint.js';
import { registerZtunnelConfig } from './commands/ztunnel-config.js';
import { MESHCTL_VERSION } from './version.js';

export interface ProgramDeps {
  stdout: Output;
  stderr: Output;
  /** Builds the data layer from --istiod / MESHCTL_ISTIOD (and --kubeconfig/--context); defaults to HTTP (over the cluster with those). */
  client?: MeshClientFactory | undefined;
  stdin?: NodeJS.ReadStream | undefined;
  env?: Record<string, string | undefined> | undefined;
  now?: (() => Date) | undefined;
  /** Reads `--file` paths; `-` is stdin. */
  readInput?: ((path: string) => Promise<string>) | undefined;
}

async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

async function readDumpFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw new MeshError('MESHCTL_ERR_READ_FILE', `cannot read ${path} (${why})`, { cause: err, hint: 'save a dump with `meshctl pc all <target> -o json > config_dump.json`' });
  }
}

export function createProgram(deps: ProgramDeps): Command {
  const env = deps.env ?? {};
  const program = new Command('meshctl')
    .description("Inspect the mesh: which proxies are connected and in sync (proxy-status), what each runs (proxy-config, ztunnel-config), what flows through it (tunnels), and why a connection goes where it goes (x explain)")
    .option('--istiod <address>', `istiod-lite's debug API: host:port, unix:<socket> or netns:<namespace>/<host:port> (env ${ISTIOD_ADDRESS_ENV})`, env[ISTIOD_ADDRESS_ENV] ?? DEFAULT_ISTIOD_ADDRESS)
    .option('--timeout <ms>', 'how long to wait for istiod-lite or a proxy', String(DEFAULT_REQUEST_TIMEOUT_MS))
    .option('--kubeconfig <file>', 'find istiod-lite and the ztunnels through this Kubernetes cluster and reach them by port-forward (docs/kubernetes.md)')
    .option('--context <name>', 'the kubeconfig context (default: its current one; without --kubeconfig, $KUBECONFIG or ~/.kube/config)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => void deps.stdout.write(s), writeErr: (s) => void deps.stderr.write(s) })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      `\nTargets: ztunnel-<node>, a waypoint name, or a pod name.namespace (resolved to its node's ztunnel).\n\nExamples:\n  meshctl proxy-status\n  meshctl analyze examples\n  meshctl proxy-config listeners ztunnel-node-a\n  meshctl pc endpoints productpage-v1.default --cluster reviews\n  meshctl zc workloads ztunnel-node-b\n  meshctl tunnels ztunnel-node-a\n  meshctl x explain --from productpage-v1.default --to reviews:9080\n`,
    );

  let client: MeshClient | undefined;
  const factory = deps.client ?? createMeshClient;
  const ctx: CommandContext = {
    stdout: deps.stdout,
    stderr: deps.stderr,
    stdin: deps.stdin,
    now: deps.now ?? (() => new Date()),
    client: () => {
      const opts = program.opts<{ istiod: string; timeout: string; kubeconfig?: string; context?: string }>();
      const kube = opts.kubeconfig !== undefined || opts.context !== undefined ? { kubeconfig: opts.kubeconfig, context: opts.context } : undefined;
      const istiodGiven = program.getOptionValueSource('istiod') === 'cli' || env[ISTIOD_ADDRESS_ENV] !== undefined;
      client ??= factory({ istiod: opts.istiod, timeoutMs: Number(opts.timeout) || DEFAULT_REQUEST_TIMEOUT_MS, ...(kube ? { kube, istiodGiven } : {}) });
      return client;
    },
    note: (message) => void deps.stderr.write(message),
    readInput: deps.readInput ?? ((path) => (path === '-' ? readStream(deps.stdin ?? process.stdin) : readDumpFile(path))),
  };

  registerProxyStatus(program, ctx);
  registerProxyConfig(program, ctx);
  registerZtunnelConfig(program, ctx);
  registerTunnels(program, ctx);
  registerAnalyze(program, ctx);
  registerWaypoint(program, ctx);
  const x = program
    .command('experimental')
    .alias('x')
    .description('Experimental commands')
    .addHelpText('after', '\nExamples:\n  meshctl x explain --from productpage-v1.default --to reviews:9080\n');
  registerExplain(x, ctx);
  registerVersion(program, ctx);
  registerDev(program, ctx);
  return program;
}

/** Runs meshctl with user arguments (no `node meshctl` prefix); resolves to the exit code. */
export async function runMeshctl(argv: readonly string[], deps: ProgramDeps): Promise<number> {
  const program = createProgram(deps);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    // Commander already printed its own message (or the help) through configureOutput.
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof ExitStatus) return err.code;
    if (isMeshError(err)) {
      deps.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    deps.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}

export { MESHCTL_VERSION };
