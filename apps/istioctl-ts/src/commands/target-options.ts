/** The options every config-reading command shares: where the config comes from and how to print it. */
import { Option, type Command } from 'commander';
import { loadTarget, type LoadedTarget } from '../api/targets.js';
import type { CommandContext } from './context.js';

export interface TargetFlags {
  file?: string;
  admin?: string;
  output: string;
}

export function addTargetOptions(command: Command): Command {
  return command
    .addOption(new Option('-o, --output <format>', 'short (table), json or yaml').default('short'))
    .option('-f, --file <config_dump.json>', 'read a saved Envoy config dump instead of a live proxy ("-" for stdin)')
    .option('--admin <host:port>', "read this proxy admin API directly (ztunnel's is on 15000)");
}

export async function loadFor(ctx: CommandContext, target: string | undefined, flags: TargetFlags): Promise<LoadedTarget> {
  const loaded = await loadTarget(ctx, target, { file: flags.file, admin: flags.admin });
  if (loaded.origin === 'istiod') {
    ctx.stderr.write(`note: istiod-lite does not know ${loaded.proxy}'s admin address; showing the config istiod-lite sends it (pass --admin <host:port> for what it runs)\n`);
  }
  return loaded;
}
