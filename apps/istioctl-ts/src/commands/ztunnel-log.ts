/**
 * `meshctl ztunnel-config log [ztunnel] [--level <level>|<scope>:<level>,…] [--reset]`: a
 * ztunnel's log levels, read and set through its admin API's `/logging` (the operator-only
 * surface: its namespace's loopback or its owner-only socket, as every admin read). The ztunnel is
 * resolved as proxy-config's (targets.ts `resolveZtunnelAdmin`): `ztunnel-<node>`, or with a cluster
 * the ztunnel pod's name. Without a ztunnel (or --node, --admin), every ztunnel istiod-lite knows.
 */
import type { Command } from 'commander';
import { MeshError } from '@mesh/errors';
import { proxyAdmin, resolveZtunnelAdmin, type ProxyAdmin } from '../api/targets.js';
import type { CommandContext } from './context.js';

const TARGET_HINT = 'a ztunnel is ztunnel-<node> (or --node <node>), with --kubeconfig/--context also its pod name (ztunnel-x7k2p[.istio-system]); or --admin <host:port>';

/** What `POST /logging` takes: `level=<l>` for every scope, `<scope>=<l>` for one. */
export function parseLevelSpec(spec: string): [scope: string, level: string][] {
  return spec.split(',').map((part) => {
    const [scope, level] = part.includes(':') ? (part.split(':', 2) as [string, string]) : ['level', part];
    if (!scope.trim() || !level.trim()) throw new MeshError('MESHCTL_ERR_BAD_FLAG', `--level ${spec} is not <level> or <scope>:<level>[,…]`, { hint: 'e.g. --level debug, or --level xds:debug,rbac:debug' });
    return [scope.trim(), level.trim()];
  });
}

/** `current log level is info`, or per scope when they differ (istioctl prints the proxy's answer under its name). */
export function levelsLine(levels: Record<string, string>): string {
  const values = [...new Set(Object.values(levels))];
  const text = values.length === 1 ? values[0] : Object.entries(levels).map(([scope, level]) => `${scope}=${level}`).join(',');
  return `current log level is ${text ?? '(none reported)'}`;
}

export function registerZtunnelLog(zc: Command, ctx: CommandContext): void {
  zc.command('log')
    .description("A ztunnel's log levels; --level sets them (all scopes, or <scope>:<level>), --reset puts every scope back to info")
    .argument('[ztunnel]', 'ztunnel-<node>, or with a cluster the ztunnel pod name (ztunnel-x7k2p[.istio-system]) (default: every ztunnel)')
    .option('--node <node>', 'the ztunnel on this node')
    .option('--level <spec>', '<level> for every scope, or <scope>:<level>[,<scope>:<level>…] (levels: debug, info, warn, error, off)')
    .option('--reset', 'every scope back to info')
    .option('--admin <address>', 'this ztunnel admin API directly: host:port, unix:<socket> or netns:<namespace>/<host:port>')
    .addHelpText('after', '\nExamples:\n  meshctl zc log ztunnel-node-a\n  meshctl --context prod zc log ztunnel-x7k2p.istio-system --level debug\n  meshctl zc log --node node-b --level xds:debug,rbac:debug\n  meshctl zc log --reset\n')
    .action(async (name: string | undefined, opts: { node?: string; level?: string; reset?: boolean; admin?: string }) => {
      if (opts.level !== undefined && opts.reset) throw new MeshError('MESHCTL_ERR_BAD_FLAG', '--level and --reset both set levels', { hint: 'give one of them' });
      if (name !== undefined && opts.node !== undefined) throw new MeshError('MESHCTL_ERR_BAD_FLAG', `--node ${opts.node} picks a ztunnel, and so does ${name}`, { hint: 'give one of them' });
      const set = opts.reset ? [['level', 'info'] as [string, string]] : opts.level !== undefined ? parseLevelSpec(opts.level) : [];
      const client = ctx.client();
      let targets: { name: string; admin: ProxyAdmin }[];
      const wanted = name ?? (opts.node !== undefined ? `ztunnel-${opts.node}` : undefined);
      if (opts.admin !== undefined) {
        targets = [{ name: name ?? opts.admin, admin: { address: opts.admin } }];
      } else if (wanted !== undefined) {
        // One ztunnel, resolved as proxy-config resolves it (a ztunnel pod name too, with a cluster).
        const { proxy, admin } = await resolveZtunnelAdmin(ctx, wanted, TARGET_HINT);
        targets = [{ name: proxy, admin }];
      } else {
        const ztunnels = (await client.proxies()).filter((p) => p.type === 'ztunnel');
        if (ztunnels.length === 0) throw new MeshError('MESHCTL_ERR_UNKNOWN_TARGET', 'no ztunnel is connected to istiod-lite', { hint: 'is the mesh running?' });
        targets = ztunnels.map((p) => ({ name: p.name, admin: proxyAdmin(p, ctx.hostFacts) }));
      }
      const reachable = targets.map(({ name: proxy, admin }) => {
        if (admin.address === undefined) throw new MeshError('MESHCTL_ERR_NO_ADMIN_ADDRESS', `log levels live in ${proxy}'s admin API, and ${admin.problem.problem}`, { hint: admin.problem.hint });
        return { name: proxy, address: admin.address };
      });
      for (const t of reachable) {
        const levels = await client.logLevels(t.address, t.name, set);
        ctx.stdout.write(`${t.name}:\n${levelsLine(levels)}\n`);
      }
    });
}
