/**
 * `meshctl ztunnel-config log [ztunnel] [--level <level>|<scope>:<level>,…] [--reset]`: a
 * ztunnel's log levels, read and set through its admin API's `/logging` (the operator-only
 * surface: its namespace's loopback or its owner-only socket, as every admin read). Without a
 * ztunnel (or --node, --admin), every ztunnel istiod-lite knows.
 */
import type { Command } from 'commander';
import { MeshError } from '@mesh/errors';
import { proxyAdmin } from '../api/targets.js';
import type { CommandContext } from './context.js';

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
    .argument('[ztunnel]', 'ztunnel-<node> (default: every ztunnel)')
    .option('--node <node>', 'the ztunnel on this node')
    .option('--level <spec>', '<level> for every scope, or <scope>:<level>[,<scope>:<level>…] (levels: debug, info, warn, error, off)')
    .option('--reset', 'every scope back to info')
    .option('--admin <address>', 'this ztunnel admin API directly: host:port, unix:<socket> or netns:<namespace>/<host:port>')
    .addHelpText('after', '\nExamples:\n  meshctl zc log ztunnel-node-a\n  meshctl zc log --node node-b --level xds:debug,rbac:debug\n  meshctl zc log --reset\n')
    .action(async (name: string | undefined, opts: { node?: string; level?: string; reset?: boolean; admin?: string }) => {
      if (opts.level !== undefined && opts.reset) throw new MeshError('MESHCTL_ERR_BAD_FLAG', '--level and --reset both set levels', { hint: 'give one of them' });
      if (name !== undefined && opts.node !== undefined) throw new MeshError('MESHCTL_ERR_BAD_FLAG', `--node ${opts.node} picks a ztunnel, and so does ${name}`, { hint: 'give one of them' });
      const set = opts.reset ? [['level', 'info'] as [string, string]] : opts.level !== undefined ? parseLevelSpec(opts.level) : [];
      const client = ctx.client();
      let targets: { name: string; address: string }[];
      if (opts.admin !== undefined) {
        targets = [{ name: name ?? opts.admin, address: opts.admin }];
      } else {
        const wanted = name ?? (opts.node !== undefined ? `ztunnel-${opts.node}` : undefined);
        const ztunnels = (await client.proxies()).filter((p) => p.type === 'ztunnel');
        const chosen = wanted === undefined ? ztunnels : ztunnels.filter((p) => p.name === wanted);
        if (chosen.length === 0) {
          throw new MeshError('MESHCTL_ERR_UNKNOWN_TARGET', wanted === undefined ? 'no ztunnel is connected to istiod-lite' : `no ztunnel ${wanted} is connected to istiod-lite`, {
            hint: ztunnels.length > 0 ? `ztunnels: ${ztunnels.map((p) => p.name).join(', ')}` : 'is the mesh running?',
          });
        }
        targets = chosen.map((p) => {
          const admin = proxyAdmin(p, ctx.hostFacts);
          if (admin.address === undefined) throw new MeshError('MESHCTL_ERR_NO_ADMIN_ADDRESS', `log levels live in ${p.name}'s admin API, and ${admin.problem.problem}`, { hint: admin.problem.hint });
          return { name: p.name, address: admin.address };
        });
      }
      for (const t of targets) {
        const levels = await client.logLevels(t.address, t.name, set);
        ctx.stdout.write(`${t.name}:\n${levelsLine(levels)}\n`);
      }
    });
}
