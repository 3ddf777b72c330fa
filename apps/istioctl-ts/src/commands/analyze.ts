/**
 * `meshctl analyze [path…]`: istioctl analyze over manifest files and directories (read as
 * istiod-lite reads its --config-dir: every *.yaml/*.yml below a directory). Without a path, the
 * manifests this checkout's running `meshctl dev up` serves. Messages go to stdout as istioctl
 * prints them (or `-o json|yaml`); the exit status is istioctl's: 0, 79 when a message is at or
 * above --failure-threshold (Error by default), 65 when some document is not YAML at all.
 */
import type { Command } from 'commander';
import { MeshError } from '@mesh/errors';
import { parseManifestFiles } from '@mesh/mesh-model';
import { analyzeManifests } from '../analyze/analyze.js';
import { formatMessage, LEVEL_RANK, structuredMessage, type AnalysisLevel } from '../analyze/messages.js';
import { ExitStatus, formatStructured, type CommandContext } from './context.js';
import { MANIFEST_PATHS_HELP, manifestPaths, readManifestPaths } from './manifest-input.js';

/** istioctl's exit statuses for analyze. */
export const EXIT_ANALYZER_FOUND_ISSUES = 79;
export const EXIT_FILE_PARSE_ERROR = 65;

const LEVELS: readonly AnalysisLevel[] = ['Error', 'Warning', 'Info'];

function parseLevel(flag: string, value: string): AnalysisLevel {
  const level = LEVELS.find((l) => l.toLowerCase() === value.toLowerCase());
  if (!level) throw new MeshError('MESHCTL_ERR_BAD_FLAG', `${flag} ${value} is not a level`, { hint: `use one of ${LEVELS.join(', ')}` });
  return level;
}

export function registerAnalyze(program: Command, ctx: CommandContext): void {
  program
    .command('analyze')
    .description("Analyze mesh manifests as istioctl analyze does: what would not work as written, with Istio's message codes")
    .argument('[paths...]', MANIFEST_PATHS_HELP)
    .option('-o, --output <format>', 'log (istioctl analyze lines), json or yaml', 'log')
    .option('--failure-threshold <level>', 'the level from which the exit status is 79: Error, Warning or Info', 'Error')
    .option('--output-threshold <level>', 'the lowest level printed: Error, Warning or Info', 'Info')
    .addHelpText(
      'after',
      '\nExit status: 0 no issue at the failure threshold, 79 issues found, 65 a document is not YAML, 1 meshctl could not run.\n\nExamples:\n  meshctl analyze examples\n  meshctl analyze examples/bookinfo examples/policies/deny-ratings.yaml -o json\n  meshctl analyze --failure-threshold Warning\n',
    )
    .action(async (paths: string[], opts: { output: string; failureThreshold: string; outputThreshold: string }) => {
      const format = opts.output === 'log' || opts.output === 'json' || opts.output === 'yaml' ? opts.output : undefined;
      if (!format) throw new MeshError('MESHCTL_ERR_BAD_FLAG', `-o ${opts.output} is not an output format`, { hint: 'use -o log (the default), -o json or -o yaml' });
      const failAt = parseLevel('--failure-threshold', opts.failureThreshold);
      const showFrom = parseLevel('--output-threshold', opts.outputThreshold);
      const targets = await manifestPaths(paths);
      const result = analyzeManifests(parseManifestFiles(await readManifestPaths(targets)));
      for (const e of result.unparsable) ctx.stderr.write(`error: ${e.file}:${e.line}:${e.column}: ${e.message} (this document is left out)\n`);
      const shown = result.messages.filter((m) => LEVEL_RANK[m.level] >= LEVEL_RANK[showFrom]);
      if (format === 'log') {
        if (shown.length > 0) ctx.stdout.write(`${shown.map(formatMessage).join('\n')}\n`);
        else if (result.unparsable.length === 0) ctx.stderr.write(`✔ No validation issues found when analyzing ${targets.join(', ')} (${result.resources} resources).\n`);
        else ctx.stderr.write(`No validation issues found when analyzing ${targets.join(', ')} (but ${result.unparsable.length} document${result.unparsable.length === 1 ? '' : 's'} could not be parsed).\n`);
      } else {
        ctx.stdout.write(formatStructured(shown.map(structuredMessage), format));
      }
      // As istioctl: the exit status goes by every message, whatever --output-threshold hides.
      if (result.messages.some((m) => LEVEL_RANK[m.level] >= LEVEL_RANK[failAt])) {
        if (format === 'log') ctx.stderr.write(`Error: analyzers found issues when analyzing ${targets.join(', ')}.\nSee https://istio.io/latest/docs/reference/config/analysis for more information about causes and resolutions.\n`);
        throw new ExitStatus(EXIT_ANALYZER_FOUND_ISSUES);
      }
      if (result.unparsable.length > 0) throw new ExitStatus(EXIT_FILE_PARSE_ERROR);
    });
}
