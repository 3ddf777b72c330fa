/** `meshctl x explain --from <pod> --to <host:port>`: the config path of one connection, step by step. */
import { basename } from 'node:path';
import type { Command } from 'commander';
import { MeshError } from '@mesh/errors';
import { allZtunnelDumps } from '../api/targets.js';
import { parseConfigDump } from '../config-dump/config-dump.js';
import type { NamedDump } from '../config-dump/workloads.js';
import { formatExplanation } from '../explain/format.js';
import { formatStructured, parseOutputFormat, type CommandContext } from './context.js';

interface ExplainFlags {
  from: string;
  to: string;
  file: string[];
  endpoint?: string;
  output: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** `--file node-a=dump.json` names the proxy; a bare path is named after the file. */
async function dumpsFromFiles(ctx: CommandContext, files: readonly string[]): Promise<NamedDump[]> {
  return Promise.all(
    files.map(async (spec) => {
      const eq = spec.indexOf('=');
      const [name, path] = eq > 0 ? [spec.slice(0, eq), spec.slice(eq + 1)] : [basename(spec).replace(/(\.config_dump)?\.json$/, ''), spec];
      let raw: unknown;
      try {
        raw = JSON.parse(await ctx.readInput(path)) as unknown;
      } catch (err) {
        throw new MeshError('MESHCTL_ERR_BAD_CONFIG_DUMP', `${path} is not a JSON config dump`, { cause: err });
      }
      return { name, dump: parseConfigDump(raw, path) };
    }),
  );
}

export function registerExplain(x: Command, ctx: CommandContext): void {
  x.command('explain')
    .description("Walk the config a connection takes: outbound listener, each filter_chain_matcher branch, cluster, endpoint and tunnel, the destination ztunnel's inbound chain and the authorization verdict")
    .requiredOption('--from <pod>', 'source pod, name.namespace or IP')
    .requiredOption('--to <host:port>', 'destination: a Service (reviews:9080, reviews.default.svc.cluster.local:9080), a pod name.namespace:port, or ip:port')
    .option('-f, --file <[name=]config_dump.json>', 'use saved config dumps (repeat: the source and destination ztunnels) instead of the live mesh', collect, [])
    .option('--endpoint <ip[:port]>', 'follow this endpoint instead of the first healthy one')
    .option('-o, --output <format>', 'short (numbered steps), json or yaml', 'short')
    .addHelpText(
      'after',
      '\nExamples:\n  meshctl x explain --from productpage-v1.default --to reviews:9080\n  meshctl x explain --from sleep.default --to ratings:9080 --endpoint 10.77.2.13\n  meshctl x explain --from sleep.default --to 10.77.2.13:9080 -f ztunnel-node-a=a.json -f ztunnel-node-b=b.json\n',
    )
    .action(async (flags: ExplainFlags) => {
      const format = parseOutputFormat(flags.output);
      const proxies = flags.file.length > 0 ? await dumpsFromFiles(ctx, flags.file) : await allZtunnelDumps(ctx.client(), undefined, (message) => ctx.stderr.write(message), ctx.hostFacts);
      // Loaded here, not at start-up: ztunnel's planner brings @mesh/proxy-runtime (~0.3 s of
      // imports), which no other command needs.
      const { explainPath } = await import('../explain/explain.js');
      const explanation = explainPath({ proxies, from: flags.from, to: flags.to, endpoint: flags.endpoint });
      ctx.stdout.write(format === 'short' ? formatExplanation(explanation) : formatStructured(explanation, format));
    });
}

