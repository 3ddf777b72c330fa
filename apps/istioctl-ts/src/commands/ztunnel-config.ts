/**
 * `meshctl ztunnel-config workloads|services|policies|certificates|connections|all [target]`
 * (alias `zc`): istioctl's ztunnel views. Config views derive from the Envoy config the ztunnel
 * runs; `connections` reads its live `/tunnels`.
 */
import type { Command } from 'commander';
import { MeshError } from '@mesh/errors';
import { allZtunnelDumps, type LoadedTarget } from '../api/targets.js';
import { secretRows } from '../config-dump/proxy-config-views.js';
import type { NamedDump } from '../config-dump/workloads.js';
import { policyRows, serviceRows, workloadRows } from '../config-dump/ztunnel-config-views.js';
import { renderTable } from '../render/table.js';
import { connectionsTable } from '../tunnels/format.js';
import { sortRows, tunnelRows } from '../tunnels/tunnel-rows.js';
import { formatStructured, parseOutputFormat, type CommandContext } from './context.js';
import { addTargetOptions, loadFor, type TargetFlags } from './target-options.js';

const TARGET_HELP = 'ztunnel-<node> or a pod name.namespace (optional with --file/--admin)';

interface View {
  title: string;
  table: string;
  data: unknown[];
}

type Flags = TargetFlags & { namespace?: string; node?: string; address?: string };

/** Dumps for mesh-wide facts (which node a pod is on): every ztunnel's when the mesh is live, else just this one. */
async function meshDumps(ctx: CommandContext, loaded: LoadedTarget, flags: Flags): Promise<NamedDump[]> {
  const own = { name: loaded.proxy, dump: loaded.dump };
  if (flags.file !== undefined || flags.admin !== undefined) return [own];
  try {
    const all = await allZtunnelDumps(ctx.client(), undefined, (message) => ctx.stderr.write(message));
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
      ['--node <node>', 'only workloads on this node'],
      ['--address <ip>', 'only this address'],
    ],
    build: async (ctx, loaded, flags) => {
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
        table: renderTable(
          ['CERTIFICATE NAME', 'TYPE', 'STATUS', 'VALID CERT', 'SERIAL NUMBER', 'NOT AFTER', 'NOT BEFORE'],
          rows.map((r) => [r.resourceName, r.type, r.status, String(r.valid), r.serialNumber, r.notAfter, r.notBefore]),
        ),
        data: rows,
      };
    },
  },
  {
    name: 'connections',
    alias: 'connection',
    description: 'Live connections through this ztunnel: direction, local, remote, remote target, protocol, identities, bytes',
    examples: ['meshctl zc connections ztunnel-node-a', 'meshctl zc connections --admin 127.0.0.1:15000 -o json'],
    options: [],
    build: async (ctx, loaded) => {
      if (!loaded.adminAddress) {
        throw new MeshError('MESHCTL_ERR_NO_ADMIN_ADDRESS', `connections are live state: they need ${loaded.proxy}'s admin API, and its address is not known`, {
          hint: 'pass --admin <host:port> (ztunnel admin listens on 15000)',
        });
      }
      const snapshot = await ctx.client().tunnels(loaded.adminAddress, loaded.proxy);
      const rows = sortRows(tunnelRows(snapshot), 'age').filter((r) => loaded.pod === undefined || r.sourceAddr === loaded.pod.ip || r.authority.startsWith(`${loaded.pod.ip}:`));
      return { title: 'CONNECTIONS', table: connectionsTable(rows), data: rows };
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
    addTargetOptions(command).addHelpText('after', `\nExamples:\n${view.examples.map((e) => `  ${e}`).join('\n')}\n`);
    command.action(async (target: string | undefined, flags: Flags) => {
      const format = parseOutputFormat(flags.output);
      const loaded = await loadFor(ctx, target, flags);
      const result = await view.build(ctx, loaded, flags);
      ctx.stdout.write(format === 'short' ? result.table : formatStructured(result.data, format));
    });
  }
  const all = zc.command('all').description('workloads, services, policies and certificates (and connections when the admin API is reachable)').argument('[target]', TARGET_HELP);
  addTargetOptions(all).addHelpText('after', '\nExamples:\n  meshctl zc all ztunnel-node-b\n');
  all.action(async (target: string | undefined, flags: Flags) => {
    const format = parseOutputFormat(flags.output);
    const loaded = await loadFor(ctx, target, flags);
    const views = VIEWS.filter((v) => v.name !== 'connections' || loaded.adminAddress !== undefined);
    const results = [];
    for (const view of views) results.push(await view.build(ctx, loaded, flags));
    if (format !== 'short') return void ctx.stdout.write(formatStructured(Object.fromEntries(results.map((r) => [r.title.toLowerCase(), r.data])), format));
    ctx.stdout.write(results.map((r) => `${r.title}\n${r.table}`).join('\n'));
  });
}
