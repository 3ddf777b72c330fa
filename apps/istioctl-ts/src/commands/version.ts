import type { Command } from 'commander';
import { MESHCTL_VERSION } from '../version.js';
import { formatStructured, parseOutputFormat, type CommandContext } from './context.js';

export function registerVersion(program: Command, ctx: CommandContext): void {
  program
    .command('version')
    .description('Print the meshctl version and, unless --remote=false, the proxies istiod-lite serves')
    .option('-o, --output <format>', 'short, json or yaml', 'short')
    .option('--remote <bool>', 'also ask istiod-lite which proxies are connected', 'true')
    .addHelpText('after', '\nExamples:\n  meshctl version\n  meshctl version --remote=false -o json\n')
    .action(async (opts: { output: string; remote: string }) => {
      const format = parseOutputFormat(opts.output);
      const result: { client: { version: string }; meshProxies?: { name: string; type: string; node: string }[]; controlPlane?: string; error?: string } = {
        client: { version: MESHCTL_VERSION },
      };
      if (opts.remote !== 'false') {
        const client = ctx.client();
        result.controlPlane = client.istiodAddress;
        try {
          result.meshProxies = (await client.proxies()).map((p) => ({ name: p.name, type: p.type, node: p.nodeName }));
        } catch (err) {
          result.error = (err as Error).message;
        }
      }
      if (format !== 'short') return void ctx.stdout.write(formatStructured(result, format));
      const lines = [`client version: ${MESHCTL_VERSION}`];
      if (result.controlPlane) {
        lines.push(
          result.error
            ? `control plane: istiod-lite at ${result.controlPlane} unreachable (${result.error})`
            : `control plane: istiod-lite at ${result.controlPlane}, ${result.meshProxies?.length ?? 0} proxies connected${result.meshProxies?.length ? `: ${result.meshProxies.map((p) => p.name).join(', ')}` : ''}`,
        );
      }
      ctx.stdout.write(`${lines.join('\n')}\n`);
    });
}
