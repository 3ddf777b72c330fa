/**
 * `meshctl tunnels <ztunnel>`: HBONE pool connections and the tunnels on each, live. On a
 * terminal it is an ink screen refreshed every second (sortable, filterable); with `--once`,
 * `-o json|yaml` or when stdout is not a terminal it prints one snapshot as plain text or data.
 */
import type { Command } from 'commander';
import { MeshError } from '@mesh/errors';
import { isPodRef, loadTarget, resolveZtunnelAdmin } from '../api/targets.js';
import type { TunnelsSnapshot } from '../api/tunnels.js';
import { groupsText } from '../tunnels/format.js';
import { SORT_KEYS, groupByConnection, matchesFilter, sortRows, tunnelRows, type SortKey } from '../tunnels/tunnel-rows.js';
import { formatStructured, parseOutputFormat, type CommandContext } from './context.js';

export const TUNNELS_REFRESH_MS = 1_000;

const TARGET_HINT = 'meshctl tunnels ztunnel-<node> (with --kubeconfig/--context also the ztunnel pod name), a pod name.namespace, or --admin <host:port>';

interface TunnelsFlags {
  once?: boolean;
  output: string;
  sort: string;
  workload?: string;
  admin?: string;
  interval: string;
}

function parseSort(value: string): SortKey {
  if ((SORT_KEYS as readonly string[]).includes(value)) return value as SortKey;
  throw new MeshError('MESHCTL_ERR_BAD_FLAG', `--sort ${value} is not a sort key`, { hint: `use one of ${SORT_KEYS.join(', ')}` });
}

/**
 * Which ztunnel, its admin API, and the pod to filter to. A target that starts with `ztunnel-` is a
 * ztunnel, shown whole: `ztunnel-<node>`, or with a cluster the ztunnel pod's name (`ztunnel-x7k2p`,
 * `ztunnel-x7k2p.istio-system`; targets.ts resolves both as proxy-config does). Any other
 * `name.namespace` is an application pod: its node's ztunnel, filtered to that pod. So the ztunnel
 * reading wins for a name that could be either (an application pod named `ztunnel-…` is reached
 * as its node's ztunnel with --workload).
 */
async function resolveAdmin(ctx: CommandContext, target: string | undefined, flags: TunnelsFlags): Promise<{ proxy: string; admin: string; podFilter: string | undefined }> {
  if (flags.admin) return { proxy: target ?? flags.admin, admin: flags.admin, podFilter: undefined };
  if (target !== undefined && isPodRef(target)) {
    // A pod: its node's ztunnel, filtered to the pod.
    const loaded = await loadTarget(ctx, target, {});
    if (!loaded.adminAddress) throw noAdmin(loaded.proxy, loaded.adminProblem);
    return { proxy: loaded.proxy, admin: loaded.adminAddress, podFilter: loaded.pod?.ip };
  }
  const { proxy, admin } = await resolveZtunnelAdmin(ctx, target, TARGET_HINT);
  if (!admin.address) throw noAdmin(proxy, admin.problem);
  return { proxy, admin: admin.address, podFilter: undefined };
}

function noAdmin(proxy: string, why: { problem: string; hint: string } | undefined): MeshError {
  return new MeshError('MESHCTL_ERR_NO_ADMIN_ADDRESS', `${why?.problem ?? `istiod-lite does not know ${proxy}'s admin address`}, and tunnels are live state only the proxy has`, {
    hint: why?.hint ?? 'pass --admin <host:port> (ztunnel admin listens on 15000)',
  });
}

export function registerTunnels(program: Command, ctx: CommandContext): void {
  program
    .command('tunnels')
    .description("Live view of a ztunnel's HBONE pool connections and the tunnels on each: identities, :authority, bytes each way with rate, age")
    .argument('[ztunnel]', 'ztunnel-<node> or the ztunnel pod name (ztunnel-x7k2p[.istio-system], with a cluster); or a pod name.namespace (its node\'s ztunnel, filtered to it)')
    .option('--once', 'print one snapshot and exit')
    .option('-o, --output <format>', 'short (text), json or yaml; json/yaml print one snapshot', 'short')
    .option('--sort <key>', `sort tunnels by ${SORT_KEYS.join(', ')}`, 'bytes')
    .option('-w, --workload <text>', 'only tunnels whose source or destination workload, address or identity contains this')
    .option('--admin <address>', "the ztunnel's admin API: host:port, unix:<socket> or netns:<namespace>/<host:port>")
    .option('--interval <ms>', 'refresh interval of the live view', String(TUNNELS_REFRESH_MS))
    .addHelpText(
      'after',
      '\nKeys in the live view: s cycles the sort, / types a workload filter (enter keeps it, esc clears it), q quits.\n\nExamples:\n  meshctl tunnels ztunnel-node-a\n  meshctl tunnels ztunnel-node-a --workload reviews --sort rate\n  meshctl --context prod tunnels ztunnel-x7k2p.istio-system --once\n  meshctl tunnels productpage-v1.default --once\n  meshctl tunnels --admin 127.0.0.1:15000 -o json\n',
    )
    .action(async (target: string | undefined, flags: TunnelsFlags) => {
      const format = parseOutputFormat(flags.output);
      const sortKey = parseSort(flags.sort);
      const { proxy, admin, podFilter } = await resolveAdmin(ctx, target, flags);
      const filter = flags.workload ?? podFilter ?? '';
      const fetchSnapshot = (): Promise<TunnelsSnapshot> => ctx.client().tunnels(admin, proxy);
      const live = format === 'short' && !flags.once && ctx.stdout.isTTY === true;
      if (!live) {
        const snapshot = await fetchSnapshot();
        const rows = sortRows(tunnelRows(snapshot).filter((r) => matchesFilter(r, filter)), sortKey);
        if (format !== 'short') return void ctx.stdout.write(formatStructured({ proxy, pool: snapshot.pool, server: snapshot.server, tunnels: rows }, format));
        const groups = groupByConnection(rows, snapshot).filter((g) => filter === '' || g.tunnels.length > 0);
        return void ctx.stdout.write(`${proxy}\n${groupsText(groups)}`);
      }
      const intervalMs = Math.max(100, Number(flags.interval) || TUNNELS_REFRESH_MS);
      // ink and React load only for the live view: every other command starts without them.
      const [{ render }, { TunnelsApp }] = await Promise.all([import('ink'), import('../ui/TunnelsApp.js')]);
      const instance = render(<TunnelsApp proxy={proxy} fetchSnapshot={fetchSnapshot} intervalMs={intervalMs} initialSort={sortKey} initialFilter={filter} />, {
        stdout: ctx.stdout as NodeJS.WriteStream,
        ...(ctx.stdin ? { stdin: ctx.stdin } : {}),
      });
      await instance.waitUntilExit();
    });
}
