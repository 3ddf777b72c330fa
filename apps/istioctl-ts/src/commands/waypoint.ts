/**
 * `meshctl waypoint generate|apply|delete|list|status` (istioctl's waypoint commands over the
 * manifests): `generate` prints the Gateway a waypoint is (and with --node/--ip the pod that runs
 * it here), `apply` and `delete` write and remove it in a manifests directory (with
 * `--enroll-namespace`, the Namespace's `istio.io/use-waypoint` label; waypoint/manifest-edit.ts),
 * `list` the waypoints with NAMESPACE NAME REVISION TRAFFIC TYPE PROGRAMMED, `status` their
 * conditions with NAMESPACE NAME STATUS TYPE REASON MESSAGE. Without -n every namespace (this
 * mesh has no current namespace to default to).
 */
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { MeshError } from '@mesh/errors';
import { buildSnapshot, LABEL_GATEWAY_NAME, parseManifestFiles } from '@mesh/mesh-model';
import { WAYPOINT_FOR, waypointConditions, waypointGateway, waypointListTable, waypointStatusTable, waypoints, type WaypointFor } from '../waypoint/waypoint-views.js';
import { planWaypointApply, planWaypointDelete, type ManifestEdit } from '../waypoint/manifest-edit.js';
import { formatStructured, parseOutputFormat, type CommandContext } from './context.js';
import { MANIFEST_PATHS_HELP, manifestPaths, readManifestPaths } from './manifest-input.js';

async function snapshotOf(ctx: CommandContext, paths: readonly string[]) {
  const parsed = parseManifestFiles(await readManifestPaths(await manifestPaths(paths)));
  // A document that does not parse is left out, as istiod-lite leaves it out; say so.
  for (const e of parsed.errors) ctx.stderr.write(`note: ${e.file}:${e.line}:${e.column}: ${e.path ? `${e.path}: ` : ''}${e.message} (left out)\n`);
  return buildSnapshot(parsed.resources);
}

/** The manifests directory apply and delete edit: it must exist (istiod-lite's --config-dir). */
async function manifestsDir(dir: string): Promise<{ path: string; text: string }[]> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new MeshError('MESHCTL_ERR_READ_FILE', `${dir} is not a directory`, { hint: 'give the manifests directory istiod-lite watches (its --config-dir), e.g. examples/waypoint' });
  }
  return readManifestPaths([dir]);
}

/** Writes (through a temporary file and a rename: istiod-lite never reads half a file) and removes what the plan says, then reports. */
async function carryOut(ctx: CommandContext, edit: ManifestEdit): Promise<void> {
  for (const w of edit.warnings) ctx.stderr.write(`warning: ${w}\n`);
  for (const file of edit.writes) {
    await mkdir(dirname(file.path), { recursive: true });
    const tmp = `${file.path}.meshctl-${process.pid}.tmp`;
    try {
      await writeFile(tmp, file.text);
      await rename(tmp, file.path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new MeshError('MESHCTL_ERR_WRITE_FILE', `cannot write ${file.path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
    }
  }
  for (const path of edit.removes) {
    await rm(path).catch((err: NodeJS.ErrnoException) => {
      throw new MeshError('MESHCTL_ERR_WRITE_FILE', `cannot remove ${path} (${err.code ?? err.message})`, { cause: err });
    });
  }
  for (const m of edit.messages) ctx.stdout.write(`${m}\n`);
}

export function registerWaypoint(program: Command, ctx: CommandContext): void {
  const waypoint = program
    .command('waypoint')
    .description("Waypoints in the manifests: generate one, list them, show their status (istioctl's waypoint commands)")
    .addHelpText('after', '\nExamples:\n  meshctl waypoint list examples\n  meshctl waypoint status examples -n echo\n  meshctl waypoint generate -n default --for service\n  meshctl waypoint apply examples/waypoint -n echo --for all --enroll-namespace\n  meshctl waypoint delete examples/waypoint -n echo\n');

  waypoint
    .command('apply')
    .description('Write the waypoint Gateway into a manifests directory (with --enroll-namespace, label the Namespace to use it)')
    .argument('<dir>', 'the manifests directory (what istiod-lite watches)')
    .option('--name <name>', 'the waypoint Gateway', 'waypoint')
    .option('-n, --namespace <ns>', 'its namespace', 'default')
    .option('--for <type>', `what traffic it takes: ${WAYPOINT_FOR.join(', ')} (absent: no label, the mesh reads service)`)
    .option('--enroll-namespace', 'label the Namespace istio.io/use-waypoint: <name> (its manifest is created when no file declares it)', false)
    .option('--overwrite', 'replace the waypoint the namespace is already enrolled in', false)
    .addHelpText('after', '\nExamples:\n  meshctl waypoint apply examples/waypoint -n echo --for all\n  meshctl waypoint apply manifests -n shop --name shop-waypoint --for workload --enroll-namespace\n')
    .action(async (dir: string, opts: { name: string; namespace: string; for?: string; enrollNamespace: boolean; overwrite: boolean }) => {
      const files = await manifestsDir(dir);
      await carryOut(
        ctx,
        planWaypointApply(files, { dir, namespace: opts.namespace, name: opts.name, ...(opts.for !== undefined ? { trafficType: opts.for } : {}), enrollNamespace: opts.enrollNamespace, overwrite: opts.overwrite }),
      );
    });

  waypoint
    .command('delete')
    .description("Remove waypoint Gateways from a manifests directory, and the Namespace's enrollment in them")
    .argument('<dir>', 'the manifests directory (what istiod-lite watches)')
    .argument('[names...]', 'the waypoints (default: --name)')
    .option('--name <name>', 'the waypoint, when no names are given', 'waypoint')
    .option('-n, --namespace <ns>', 'their namespace', 'default')
    .option('--all', 'every waypoint in the namespace', false)
    .addHelpText('after', '\nExamples:\n  meshctl waypoint delete examples/waypoint -n echo\n  meshctl waypoint delete manifests -n shop --all\n')
    .action(async (dir: string, names: string[], opts: { name: string; namespace: string; all: boolean }) => {
      if (opts.all && names.length > 0) throw new MeshError('MESHCTL_ERR_BAD_FLAG', 'cannot specify waypoint names when deleting all waypoints', { hint: 'give names, or --all' });
      const files = await manifestsDir(dir);
      await carryOut(ctx, planWaypointDelete(files, { namespace: opts.namespace, names: opts.all ? undefined : names.length > 0 ? names : [opts.name], all: opts.all }));
    });

  waypoint
    .command('generate')
    .description('Print the Gateway of a waypoint (and, with --node and --ip, the pod that runs it in this mesh)')
    .option('--name <name>', 'the waypoint Gateway', 'waypoint')
    .option('-n, --namespace <ns>', 'its namespace', 'default')
    .option('--for <type>', `what traffic it takes: ${WAYPOINT_FOR.join(', ')}`, 'service')
    .option('--node <node>', 'also print its pod, on this node')
    .option('--ip <ip>', "the pod's IP (in the node's pod CIDR), with --node")
    .addHelpText('after', '\nExamples:\n  meshctl waypoint generate -n default\n  meshctl waypoint generate -n echo --for all --node node-b --ip 10.77.2.31 > examples/waypoint/echo-waypoint.yaml\n')
    .action((opts: { name: string; namespace: string; for: string; node?: string; ip?: string }) => {
      if (!(WAYPOINT_FOR as readonly string[]).includes(opts.for)) throw new MeshError('MESHCTL_ERR_BAD_FLAG', `--for ${opts.for} is not a traffic type`, { hint: `use one of ${WAYPOINT_FOR.join(', ')}` });
      if ((opts.node === undefined) !== (opts.ip === undefined)) throw new MeshError('MESHCTL_ERR_BAD_FLAG', '--node and --ip go together: the pod needs both', { hint: 'give both, or neither for the Gateway alone' });
      if (opts.ip !== undefined && isIP(opts.ip) === 0) throw new MeshError('MESHCTL_ERR_BAD_FLAG', `--ip ${opts.ip} is not an IP address`);
      const docs: Record<string, unknown>[] = [waypointGateway(opts.name, opts.namespace, opts.for as WaypointFor)];
      if (opts.node !== undefined && opts.ip !== undefined) {
        docs.push({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: `${opts.name}-0`, namespace: opts.namespace, labels: { [LABEL_GATEWAY_NAME]: opts.name } },
          spec: { nodeName: opts.node, containers: [{ name: 'istio-proxy', ports: [{ name: 'hbone', containerPort: 15008 }] }] },
          status: { phase: 'Running', podIP: opts.ip },
        });
      } else {
        ctx.stderr.write(`note: this mesh runs a waypoint where a pod labelled ${LABEL_GATEWAY_NAME}: ${opts.name} is declared (--node and --ip print one)\n`);
      }
      ctx.stdout.write(docs.map((d) => toYaml(d, { lineWidth: 0 })).join('---\n'));
    });

  waypoint
    .command('list')
    .description('The waypoints: NAMESPACE NAME REVISION TRAFFIC TYPE PROGRAMMED (programmed: a pod runs it)')
    .argument('[paths...]', MANIFEST_PATHS_HELP)
    .option('-n, --namespace <ns>', 'only this namespace (default: all)')
    .option('-o, --output <format>', 'short (table), json or yaml', 'short')
    .addHelpText('after', '\nExamples:\n  meshctl waypoint list examples\n  meshctl waypoint list -n echo -o yaml\n')
    .action(async (paths: string[], opts: { namespace?: string; output: string }) => {
      const format = parseOutputFormat(opts.output);
      const list = waypoints(await snapshotOf(ctx, paths), opts.namespace);
      if (format !== 'short') return void ctx.stdout.write(formatStructured(list.map((w) => ({ ...w.gateway, trafficType: w.trafficType, programmed: w.pods.length > 0 })), format));
      if (list.length === 0) ctx.stderr.write(`note: no waypoints${opts.namespace !== undefined ? ` in namespace ${opts.namespace}` : ''}\n`);
      ctx.stdout.write(waypointListTable(list));
    });

  waypoint
    .command('status')
    .description("The waypoints' conditions: NAMESPACE NAME STATUS TYPE REASON MESSAGE")
    .argument('[paths...]', MANIFEST_PATHS_HELP)
    .option('-n, --namespace <ns>', 'only this namespace (default: all)')
    .option('--name <name>', 'only this waypoint')
    .option('-o, --output <format>', 'short (table), json or yaml', 'short')
    .addHelpText('after', '\nExamples:\n  meshctl waypoint status examples\n  meshctl waypoint status -n echo --name waypoint\n')
    .action(async (paths: string[], opts: { namespace?: string; name?: string; output: string }) => {
      const format = parseOutputFormat(opts.output);
      const list = waypoints(await snapshotOf(ctx, paths), opts.namespace).filter((w) => opts.name === undefined || w.gateway.name === opts.name);
      if (list.length === 0) {
        throw new MeshError('MESHCTL_ERR_NO_WAYPOINT', `no waypoint${opts.name !== undefined ? ` ${opts.name}` : 's'}${opts.namespace !== undefined ? ` in namespace ${opts.namespace}` : ''}`, {
          hint: 'meshctl waypoint generate prints one',
        });
      }
      ctx.stdout.write(format === 'short' ? waypointStatusTable(list) : formatStructured(list.flatMap(waypointConditions), format));
    });
}
