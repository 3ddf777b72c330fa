/**
 * `meshctl ztunnel-config workloads|services|policies|certificates|connections|all [target]`
 * (alias `zc`): istioctl's ztunnel views. A workload-dialect ztunnel's dump holds exactly what
 * istioctl reads (workloads, services, policies), shown with istioctl's columns and, with
 * `-o json|yaml`, as its records; for an Envoy-dialect ztunnel the views are derived from the
 * Envoy config it runs. `connections` reads its live `/tunnels` either way.
 */
import type { Command } from 'commander';
import { MeshError } from '@mesh/errors';
import { allZtunnelDumps, type LoadedTarget } from '../api/targets.js';
import { secretRows, type SecretRow } from '../config-dump/proxy-config-views.js';
import type { NamedDump } from '../config-dump/workloads.js';
import { policyRows, serviceRows, workloadRows } from '../config-dump/ztunnel-config-views.js';
import { workloadDialectPolicies, workloadDialectServices, workloadDialectWorkloads } from '../config-dump/workload-views.js';
import { renderTable, WIDE_COLUMN_GAP } from '../render/table.js';
import { ztunnelConnectionRows, ztunnelConnectionsTable } from '../tunnels/ztunnel-connections.js';
import { formatStructured, parseOutputFormat, type CommandContext } from './context.js';
import { addTargetOptions, loadFor, type TargetFlags } from './target-options.js';
import { registerZtunnelLog } from './ztunnel-log.js';

const TARGET_HELP = 'ztunnel-<node> or the ztunnel pod name (ztunnel-x7k2p[.istio-system], with a cluster), or a pod name.namespace (optional with --node, --file or --admin)';
const NODE_OPTION: [string, string] = ['--node <node>', "the ztunnel on this node (istioctl's --node), instead of a target"];

/**
 * `--node <node>` picks `ztunnel-<node>`, as istioctl picks the ztunnel pod on a node; with a
 * target, --file or --admin it only filters (the workloads view), and elsewhere it is one too many.
 */
function targetOf(target: string | undefined, flags: Flags, filtersByNode: boolean): string | undefined {
  if (flags.node === undefined) return target;
  const elsewhere = target !== undefined || flags.file !== undefined || flags.admin !== undefined;
  if (!elsewhere) return `ztunnel-${flags.node}`;
  if (filtersByNode) return target;
  throw new MeshError('MESHCTL_ERR_BAD_FLAG', `--node ${flags.node} picks a ztunnel, and ${target !== undefined ? `the target ${target}` : flags.file !== undefined ? '--file' : '--admin'} picks one too`, {
    hint: 'give one of a target, --node, --file or --admin',
  });
}

interface View {
  title: string;
  table: string;
  data: unknown[];
}

type Flags = TargetFlags & { namespace?: string; node?: string; address?: string; direction?: string; raw?: boolean };

/**
 * A certificate row as istioctl prints ztunnel's: its state names (Available, Initializing,
 * Unavailable for Envoy's ACTIVE, WARMING, …), RFC 3339 times to the second, NA for what is not there.
 */
function ztunnelCertificateRow(r: SecretRow): string[] {
  const status = r.status === 'ACTIVE' ? 'Available' : r.status === 'WARMING' ? 'Initializing' : r.status;
  const time = (t: string) => (t === '-' ? 'NA' : t.replace(/\.\d{3}Z$/, 'Z'));
  return [r.resourceName, r.type, status, String(r.valid), r.serialNumber === '-' ? 'NA' : r.serialNumber, time(r.notAfter), time(r.notBefore)];
}

/** Dumps for mesh-wide facts (which node a pod is on): every ztunnel's when the mesh is live, else just this one. */
async function meshDumps(ctx: CommandContext, loaded: LoadedTarget, flags: Flags): Promise<NamedDump[]> {
  const own = { name: loaded.proxy, dump: loaded.dump };
  if (flags.file !== undefined || flags.admin !== undefined) return [own];
  try {
    const all = await allZtunnelDumps(ctx.client(), undefined, (message) => ctx.stderr.write(message), ctx.hostFacts);
    return [own, ...all.filter((d) => d.name !== loaded.proxy)];
  } catch {
    return [own];
  }
}

const VIEWS: {
  name: string;
  alias?: string;
  description: string;
  examples: string[];
  options: [string, string][];
  build: (ctx: CommandContext, loaded: LoadedTarget, flags: Flags) => Promise<View>;
}[] = [
  {
    name: 'workloads',
    alias: 'workload',
    description: 'Workloads this ztunnel knows: pods with their address, node and protocol (HBONE when captured)',
    examples: ['meshctl zc workloads ztunnel-node-a', 'meshctl zc workloads ztunnel-node-a --namespace default --node node-b'],
    options: [
      ['--namespace <ns>', 'only this namespace'],
      ['--node <node>', 'only workloads on this node (and, without a target, read the ztunnel on it)'],
      ['--address <ip>', 'only this address'],
    ],
    build: async (ctx, loaded, flags) => {
      const dialect = loaded.dump.workload;
      if (dialect) {
        const { rows, records } = workloadDialectWorkloads(
          dialect,
          (w) =>
            (flags.namespace === undefined || w.namespace === flags.namespace) &&
            (flags.node === undefined || w.node === flags.node) &&
            (flags.address === undefined || w.workloadIps.includes(flags.address)) &&
            (loaded.pod === undefined || w.workloadIps.includes(loaded.pod.ip)),
        );
        return {
          title: 'WORKLOADS',
          table: renderTable(['NAMESPACE', 'POD NAME', 'ADDRESS', 'NODE', 'WAYPOINT', 'PROTOCOL'], rows.map((r) => [r.namespace, r.name, r.address, r.node, r.waypoint, r.protocol])),
          data: records,
        };
      }
      const rows = workloadRows(await meshDumps(ctx, loaded, flags), loaded.proxy).filter(
        (r) =>
          (flags.namespace === undefined || r.namespace === flags.namespace) &&
          (flags.node === undefined || r.node === flags.node) &&
          (flags.address === undefined || r.address === flags.address) &&
          (loaded.pod === undefined || r.address === loaded.pod.ip),
      );
      return {
        title: 'WORKLOADS',
        table: renderTable(['NAMESPACE', 'POD NAME', 'ADDRESS', 'NODE', 'WAYPOINT', 'PROTOCOL'], rows.map((r) => [r.namespace, r.name, r.address, r.node, r.waypoint, r.protocol])),
        data: rows,
      };
    },
  },
  {
    name: 'services',
    alias: 'service',
    description: 'Services reachable from this ztunnel: VIP, ports, waypoint, healthy/total endpoints',
    examples: ['meshctl zc services ztunnel-node-a', 'meshctl zc services --file config_dump.json -o yaml'],
    options: [['--namespace <ns>', 'only this namespace']],
    build: async (_ctx, loaded, flags) => {
      const dialect = loaded.dump.workload;
      if (dialect) {
        const { rows, records } = workloadDialectServices(dialect, (svc) => flags.namespace === undefined || svc.namespace === flags.namespace);
        return {
          title: 'SERVICES',
          table: renderTable(['NAMESPACE', 'SERVICE NAME', 'SERVICE VIP', 'WAYPOINT', 'ENDPOINTS'], rows.map((r) => [r.namespace, r.name, r.vip, r.waypoint, r.endpoints])),
          data: records,
        };
      }
      const rows = serviceRows(loaded.dump).filter((r) => flags.namespace === undefined || r.namespace === flags.namespace);
      return {
        title: 'SERVICES',
        table: renderTable(['NAMESPACE', 'SERVICE NAME', 'SERVICE VIP', 'PORTS', 'WAYPOINT', 'ENDPOINTS'], rows.map((r) => [r.namespace, r.name, r.vip, r.ports, r.waypoint, r.endpoints])),
        data: rows,
      };
    },
  },
  {
    name: 'policies',
    alias: 'policy',
    description: 'Authorization policies enforced on this node (RBAC filters of ztunnel_inbound) and the workloads they cover',
    examples: ['meshctl zc policies ztunnel-node-b'],
    options: [['--namespace <ns>', 'only this namespace']],
    build: async (ctx, loaded, flags) => {
      const dialect = loaded.dump.workload;
      if (dialect) {
        const { rows, records } = workloadDialectPolicies(dialect, (p) => flags.namespace === undefined || p.namespace === flags.namespace);
        return {
          title: 'POLICIES',
          table: renderTable(['NAMESPACE', 'POLICY NAME', 'ACTION', 'SCOPE'], rows.map((r) => [r.namespace, r.name, r.action, r.scope])),
          data: records,
        };
      }
      const rows = policyRows(await meshDumps(ctx, loaded, flags), loaded.proxy).filter((r) => flags.namespace === undefined || r.namespace === flags.namespace);
      return {
        title: 'POLICIES',
        table: renderTable(['NAMESPACE', 'POLICY NAME', 'ACTION', 'SCOPE'], rows.map((r) => [r.namespace, r.name, r.action, r.scope])),
        data: rows,
      };
    },
  },
  {
    name: 'certificates',
    alias: 'certificate',
    description: 'Workload certificates this ztunnel holds (one per identity of its local pods)',
    examples: ['meshctl zc certificates ztunnel-node-a'],
    options: [],
    build: async (ctx, loaded) => {
      const rows = secretRows(loaded.dump, ctx.now());
      return {
        title: 'CERTIFICATES',
        table: renderTable(['CERTIFICATE NAME', 'TYPE', 'STATUS', 'VALID CERT', 'SERIAL NUMBER', 'NOT AFTER', 'NOT BEFORE'], rows.map(ztunnelCertificateRow), { gap: WIDE_COLUMN_GAP }),
        data: rows,
      };
    },
  },
  {
    name: 'connections',
    alias: 'connection',
    description: "Live connections of this ztunnel's workloads: workload, direction, local, remote, remote target, protocol (identities and bytes: meshctl tunnels, -o json)",
    examples: ['meshctl zc connections ztunnel-node-a', 'meshctl zc connections --node node-b --direction inbound --raw', 'meshctl zc connections --admin 127.0.0.1:15000 -o json'],
    options: [
      ['--namespace <ns>', "only this namespace's workloads"],
      ['--direction <dir>', 'inbound or outbound'],
      ['--raw', 'addresses as they are, not named after workloads and Services'],
    ],
    build: async (ctx, loaded, flags) => {
      if (flags.direction !== undefined && flags.direction !== 'inbound' && flags.direction !== 'outbound') {
        throw new MeshError('MESHCTL_ERR_BAD_FLAG', `--direction ${flags.direction} is not a direction`, { hint: 'use --direction inbound or --direction outbound' });
      }
      if (!loaded.adminAddress) {
        throw new MeshError('MESHCTL_ERR_NO_ADMIN_ADDRESS', `connections are live state: they need ${loaded.proxy}'s admin API, and ${loaded.adminProblem?.problem ?? 'its address is not known'}`, {
          hint: loaded.adminProblem?.hint ?? 'pass --admin <host:port> (ztunnel admin listens on 15000)',
        });
      }
      const snapshot = await ctx.client().tunnels(loaded.adminAddress, loaded.proxy);
      const pod = loaded.pod;
      const rows = ztunnelConnectionRows(snapshot, { namespace: flags.namespace, direction: flags.direction, raw: flags.raw }).filter(
        (r) => pod === undefined || r.connection.srcAddr.startsWith(`${pod.ip}:`) || r.connection.dstAddr.startsWith(`${pod.ip}:`),
      );
      return { title: 'CONNECTIONS', table: ztunnelConnectionsTable(rows), data: rows.map((r) => r.connection) };
    },
  },
];

export function registerZtunnelConfig(program: Command, ctx: CommandContext): void {
  const zc = program
    .command('ztunnel-config')
    .alias('zc')
    .description('Show what a ztunnel knows: workloads, services, policies, certificates, live connections')
    .addHelpText('after', '\nExamples:\n  meshctl ztunnel-config workloads ztunnel-node-a\n  meshctl zc services productpage-v1.default\n  meshctl zc all --file config_dump.json\n');
  for (const view of VIEWS) {
    const command = zc.command(view.name).description(view.description).argument('[target]', TARGET_HELP);
    if (view.alias) command.alias(view.alias);
    for (const [flags, description] of view.options) command.option(flags, description);
    const filtersByNode = view.options.some(([flags]) => flags.startsWith('--node '));
    if (!filtersByNode) command.option(...NODE_OPTION);
    addTargetOptions(command).addHelpText('after', `\nExamples:\n${view.examples.map((e) => `  ${e}`).join('\n')}\n`);
    command.action(async (target: string | undefined, flags: Flags) => {
      const format = parseOutputFormat(flags.output);
      const loaded = await loadFor(ctx, targetOf(target, flags, filtersByNode), flags);
      const result = await view.build(ctx, loaded, flags);
      ctx.stdout.write(format === 'short' ? result.table : formatStructured(result.data, format));
    });
  }
  const all = zc
    .command('all')
    .description('workloads, services, policies and certificates (and connections when the admin API is reachable)')
    .argument('[target]', TARGET_HELP)
    .option(...NODE_OPTION);
  addTargetOptions(all).addHelpText('after', '\nExamples:\n  meshctl zc all ztunnel-node-b\n  meshctl zc all --node node-a -o json\n');
  all.action(async (target: string | undefined, flags: Flags) => {
    const format = parseOutputFormat(flags.output);
    const loaded = await loadFor(ctx, targetOf(target, flags, false), flags);
    const views = VIEWS.filter((v) => v.name !== 'connections' || loaded.adminAddress !== undefined);
    const results = [];
    for (const view of views) results.push(await view.build(ctx, loaded, flags));
    if (format !== 'short') return void ctx.stdout.write(formatStructured(Object.fromEntries(results.map((r) => [r.title.toLowerCase(), r.data])), format));
    ctx.stdout.write(results.map((r) => `${r.title}\n${r.table}`).join('\n'));
  });
  registerZtunnelLog(zc, ctx);
}
