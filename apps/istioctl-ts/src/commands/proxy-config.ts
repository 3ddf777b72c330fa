/**
 * `meshctl proxy-config listeners|clusters|endpoints|routes|secret|all <target>` (alias `pc`),
 * istioctl's command with its columns and filters, over an Envoy config dump.
 */
import type { Command } from 'commander';
import { MeshError } from '@mesh/errors';
import type { LoadedTarget } from '../api/targets.js';
import { resourceName, type ConfigDump } from '../config-dump/config-dump.js';
import type { JsonRecord } from '../config-dump/json.js';
import {
  clusterRows,
  endpointRows,
  filterClusterRows,
  filterEndpointRows,
  filterListenerRows,
  listenerRows,
  routeRows,
  secretRows,
  type PodScope,
} from '../config-dump/proxy-config-views.js';
import { renderTable } from '../render/table.js';
import { formatStructured, parseOutputFormat, parsePort, type CommandContext } from './context.js';
import { addTargetOptions, loadFor, type TargetFlags } from './target-options.js';

const TARGET_HELP = 'ztunnel-<node> or the ztunnel pod name (ztunnel-x7k2p[.istio-system], with a cluster), a waypoint name, or a pod name.namespace (optional with --file/--admin)';

interface Section {
  title: string;
  table: string;
  resources: unknown[];
}

/**
 * ADDRESSES holds `0.0.0.0` or `envoy://main_internal` on most rows; a ztunnel's internal tunnel
 * listeners are named after an identity (~80 characters) and stand on their own line instead of
 * widening the column for every row.
 */
const LISTENER_ADDRESSES_MAX_WIDTH = 32;

function listenersSection(dump: ConfigDump, flags: { port?: number; address?: string; type?: string; pod?: PodScope }): Section {
  const rows = filterListenerRows(listenerRows(dump), flags);
  const names = new Set(rows.map((r) => r.listener));
  return {
    title: 'LISTENERS',
    table: renderTable(
      ['ADDRESSES', 'PORT', 'MATCH', 'DESTINATION'],
      rows.map((r) => [r.addresses === 'internal' ? `envoy://${r.listener}` : r.addresses, r.port, r.match, r.destination]),
      { maxWidths: [LISTENER_ADDRESSES_MAX_WIDTH] },
    ),
    resources: dump.listeners.filter((l) => names.has(resourceName(l))),
  };
}

function clustersSection(dump: ConfigDump, flags: { fqdn?: string; port?: number; direction?: string; type?: string; pod?: PodScope }): Section {
  const rows = filterClusterRows(clusterRows(dump), flags);
  const names = new Set(rows.map((r) => r.name));
  return {
    title: 'CLUSTERS',
    table: renderTable(
      ['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE', 'SOURCE'],
      rows.map((r) => [r.service, r.port, r.subset, r.direction, r.type, r.source]),
    ),
    resources: dump.clusters.filter((c) => names.has(resourceName(c))),
  };
}

function endpointsSection(dump: ConfigDump, flags: { address?: string; port?: number; cluster?: string; status?: string; pod?: PodScope }): Section {
  const rows = filterEndpointRows(endpointRows(dump), flags);
  const clusters = new Set(rows.map((r) => r.cluster));
  return {
    title: 'ENDPOINTS',
    table: renderTable(
      ['ENDPOINT', 'STATUS', 'LOCALITY', 'CLUSTER', 'TUNNEL ADDRESS', 'TUNNEL DESTINATION', 'WORKLOAD'],
      rows.map((r) => [r.endpoint, r.status, r.locality, r.cluster, r.tunnelAddress, r.tunnelDestination, r.workload]),
    ),
    resources: dump.endpoints.filter((e) => clusters.has(resourceName(e))),
  };
}

function routesSection(dump: ConfigDump, flags: { name?: string }): Section {
  const rows = routeRows(dump).filter((r) => flags.name === undefined || r.name === flags.name);
  return {
    title: 'ROUTES',
    table: renderTable(['NAME', 'VHOST NAME', 'DOMAINS', 'MATCH', 'DESTINATION'], rows.map((r) => [r.name, r.virtualHost, r.domains, r.match, r.destination])),
    resources: dump.routes.filter((r) => flags.name === undefined || resourceName(r) === flags.name),
  };
}

function secretsSection(dump: ConfigDump, now: Date): Section {
  const rows = secretRows(dump, now);
  return {
    title: 'SECRETS',
    table: renderTable(
      ['RESOURCE NAME', 'TYPE', 'STATUS', 'VALID CERT', 'SERIAL NUMBER', 'NOT AFTER', 'NOT BEFORE'],
      rows.map((r) => [r.resourceName, r.type, r.status, String(r.valid), r.serialNumber, r.notAfter, r.notBefore]),
    ),
    resources: dump.secrets.map((s) => s.secret as JsonRecord),
  };
}

type SectionBuilder = (dump: ConfigDump, opts: Record<string, unknown>, ctx: CommandContext, pod: PodScope | undefined) => Section;

interface Subcommand {
  name: string;
  alias: string;
  description: string;
  examples: string[];
  options: [flags: string, description: string, parse?: (v: string) => unknown][];
  build: SectionBuilder;
}

const SUBCOMMANDS: Subcommand[] = [
  {
    name: 'listeners',
    alias: 'l',
    description: 'Listeners, one row per filter_chain_matcher branch or filter chain (MATCH: source IP → destination IP → port)',
    examples: ['meshctl pc l ztunnel-node-a', 'meshctl pc l productpage-v1.default --port 9080', 'meshctl pc l --file config_dump.json --address 10.77.100.11'],
    options: [
      ['--port <port>', 'only rows for this listener or destination port', parsePort],
      ['--address <ip>', 'only rows for this listener address or matched IP'],
      ['--type <type>', 'only TCP or HTTP filter chains'],
    ],
    build: (dump, o, _ctx, pod) => listenersSection(dump, { ...o, ...(pod ? { pod } : {}) }),
  },
  {
    name: 'clusters',
    alias: 'c',
    description: 'Clusters: the service each reaches, port, direction, discovery type and whose (source identity) it is',
    examples: ['meshctl pc c ztunnel-node-a', 'meshctl pc c ztunnel-node-a --fqdn reviews --direction outbound'],
    options: [
      ['--fqdn <fqdn>', 'only clusters whose service FQDN contains this'],
      ['--port <port>', 'only clusters reached on this port', parsePort],
      ['--direction <dir>', 'inbound or outbound'],
      ['--type <type>', 'EDS, ORIGINAL_DST, STATIC, …'],
    ],
    build: (dump, o, _ctx, pod) => clustersSection(dump, { ...o, ...(pod ? { pod } : {}) }),
  },
  {
    name: 'endpoints',
    alias: 'ep',
    description: 'EDS endpoints with health, locality, cluster and the HBONE tunnel metadata (address, destination)',
    examples: ['meshctl pc ep ztunnel-node-a --cluster reviews', 'meshctl pc ep ztunnel-node-a --address 10.77.2.10 --port 9080'],
    options: [
      ['--address <ip>', 'only endpoints with this IP'],
      ['--port <port>', 'only endpoints with this port', parsePort],
      ['--cluster <name>', 'only endpoints of clusters whose name contains this'],
      ['--status <status>', 'HEALTHY, UNHEALTHY, DRAINING, …'],
    ],
    build: (dump, o, _ctx, pod) => endpointsSection(dump, { ...o, ...(pod ? { pod } : {}) }),
  },
  {
    name: 'routes',
    alias: 'r',
    description: 'Route configurations, from RDS and inlined in connection managers (ztunnel_inbound CONNECT routes)',
    examples: ['meshctl pc r ztunnel-node-a', 'meshctl pc r ztunnel-node-a --name local_route -o json'],
    options: [['--name <name>', 'only this route configuration']],
    build: (dump, o) => routesSection(dump, o),
  },
  {
    name: 'secret',
    alias: 's',
    description: 'Certificates the proxy holds (SDS secrets): serial number and validity',
    examples: ['meshctl pc s ztunnel-node-a', 'meshctl pc s --admin 127.0.0.1:15000 -o yaml'],
    options: [],
    build: (dump, _o, ctx) => secretsSection(dump, ctx.now()),
  },
];

/**
 * A workload-dialect ztunnel runs Istio's workload API, not Envoy listeners: say so and where its
 * config is shown, rather than print empty tables.
 */
function requireEnvoyDialect(loaded: LoadedTarget, target: string | undefined): void {
  if (!loaded.dump.workload) return;
  const ref = target ?? (loaded.origin === 'file' ? '--file <dump>' : loaded.proxy);
  throw new MeshError(
    'MESHCTL_ERR_WORKLOAD_DIALECT',
    `${loaded.proxy} runs Istio's workload API (ztunnel --xds-dialect workload): it has no Envoy listeners, clusters, endpoints, routes or secrets to show`,
    { hint: `its workloads, services, policies and certificates: meshctl ztunnel-config workloads|services|policies|certificates|all ${ref}` },
  );
}

export function registerProxyConfig(program: Command, ctx: CommandContext): void {
  const pc = program
    .command('proxy-config')
    .alias('pc')
    .description("Show a proxy's Envoy configuration: listeners, clusters, endpoints, routes, secrets")
    .addHelpText('after', '\nExamples:\n  meshctl proxy-config listeners ztunnel-node-a\n  meshctl pc ep productpage-v1.default\n  meshctl pc all --file config_dump.json -o json\n');

  for (const sub of SUBCOMMANDS) {
    const command = pc.command(sub.name).alias(sub.alias).description(sub.description).argument('[target]', TARGET_HELP);
    for (const [flags, description, parse] of sub.options) {
      if (parse) command.option(flags, description, parse);
      else command.option(flags, description);
    }
    addTargetOptions(command).addHelpText('after', `\nExamples:\n${sub.examples.map((e) => `  ${e}`).join('\n')}\n`);
    command.action(async (target: string | undefined, opts: TargetFlags & Record<string, unknown>) => {
      const format = parseOutputFormat(opts.output);
      const loaded = await loadFor(ctx, target, opts);
      requireEnvoyDialect(loaded, target);
      const { file: _f, admin: _a, output: _o, ...filters } = opts;
      const section = sub.build(loaded.dump, filters, ctx, loaded.pod);
      ctx.stdout.write(format === 'short' ? section.table : formatStructured(section.resources, format));
    });
  }

  const all = pc
    .command('all')
    .alias('a')
    .description('Every table above; with -o json|yaml the whole config dump')
    .argument('[target]', TARGET_HELP);
  addTargetOptions(all).addHelpText('after', '\nExamples:\n  meshctl pc all ztunnel-node-b\n  meshctl pc a ztunnel-node-a -o json > config_dump.json\n');
  all.action(async (target: string | undefined, opts: TargetFlags) => {
    const format = parseOutputFormat(opts.output);
    const loaded = await loadFor(ctx, target, opts);
    requireEnvoyDialect(loaded, target);
    if (format !== 'short') return void ctx.stdout.write(formatStructured(loaded.raw, format));
    const pod = loaded.pod;
    const sections = SUBCOMMANDS.map((sub) => sub.build(loaded.dump, {}, ctx, pod));
    ctx.stdout.write(sections.map((s) => `${s.title}\n${s.table}`).join('\n'));
  });
}
