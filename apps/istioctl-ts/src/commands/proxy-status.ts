/**
 * `meshctl proxy-status [proxy]` (alias `ps`): istioctl's view of every proxy connected to
 * istiod-lite (NAME, CLUSTER, ISTIOD, VERSION, SUBSCRIBED TYPES), and for one proxy each type's
 * sync state (SYNCED / STALE / NOT SENT) with the last NACK's reason, from `/debug/syncz`.
 */
import type { Command } from 'commander';
import { MeshError } from '@mesh/errors';
import { proxyDetail, proxyMatches, proxyStatusTable } from '../proxy-status/status-views.js';
import { formatStructured, parseOutputFormat, type CommandContext } from './context.js';

export function registerProxyStatus(program: Command, ctx: CommandContext): void {
  program
    .command('proxy-status')
    .alias('ps')
    .description("The proxies connected to istiod-lite and their config sync state; with a proxy, each type's state and the last NACK's reason")
    .argument('[proxy]', 'ztunnel-<node>, a waypoint name, <pod>.<namespace> or an xDS node id')
    .option('-o, --output <format>', 'short (table), json or yaml', 'short')
    .addHelpText('after', '\nExamples:\n  meshctl proxy-status\n  meshctl ps ztunnel-node-a\n  meshctl ps waypoint-0 -o json\n')
    .action(async (query: string | undefined, opts: { output: string }) => {
      const format = parseOutputFormat(opts.output);
      const proxies = await ctx.client().proxies();
      if (query === undefined) {
        if (format !== 'short') return void ctx.stdout.write(formatStructured(proxies.map((p) => p.raw), format));
        if (proxies.length === 0) ctx.stderr.write(`note: no proxy is connected to istiod-lite at ${ctx.client().istiodAddress}\n`);
        return void ctx.stdout.write(proxyStatusTable(proxies));
      }
      // One proxy can hold two streams (a reconnect not yet noticed, or one per protocol): show each.
      const matches = proxies.filter((p) => proxyMatches(p, query));
      if (matches.length === 0) {
        throw new MeshError('MESHCTL_ERR_NO_SUCH_PROXY', `no proxy named ${query} is connected to istiod-lite at ${ctx.client().istiodAddress}`, {
          hint: proxies.length > 0 ? `connected: ${proxies.map((p) => p.name).join(', ')}` : 'no proxy is connected at all: are ztunnel and the waypoints running?',
        });
      }
      if (format !== 'short') return void ctx.stdout.write(formatStructured(matches.length === 1 ? matches[0]?.raw : matches.map((p) => p.raw), format));
      ctx.stdout.write(matches.map(proxyDetail).join('\n'));
    });
}
