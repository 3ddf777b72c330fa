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
    .option('--admin <address>', "read this proxy admin API directly: host:port, unix:<socket> or netns:<namespace>/<host:port> (ztunnel's is 127.0.0.1:15000 in its node's namespace)");
}

export async function loadFor(ctx: CommandContext, target: string | undefined, flags: TargetFlags): Promise<LoadedTarget> {
  const loaded = await loadTarget(ctx, target, { file: flags.file, admin: flags.admin });
  if (loaded.origin === 'istiod') {
    const problem = loaded.adminProblem ?? { problem: `istiod-lite does not know ${loaded.proxy}'s admin address`, hint: 'pass --admin <host:port>' };
    ctx.stderr.write(`note: ${problem.problem}; showing the config istiod-lite sends it (for what it runs: ${problem.hint})\n`);
  }
  return loaded;
}
