/**
 * What every program's entry point does around its own work (ztunnel, the waypoint, istiod-lite):
 * read the command line the same way, and wait for the signal that stops it.
 */
import { isMeshError } from '@mesh/errors';
import type { ParsedCommandLine } from './command-line.js';

/** The configuration to run with, or the exit status when there is nothing to run. */
export type EntryCommandLine<Config> = { config: Config } | { exitCode: number };

/**
 * Parses the command line: a bad flag or value is one line on stderr (`<program>: <why>`) and exit
 * status 2, `--help` prints `helpText` and exit status 0; anything else is the configuration.
 */
export function readEntryCommandLine<Config>(program: string, parse: () => ParsedCommandLine<Config>, helpText: string): EntryCommandLine<Config> {
  let parsed: ParsedCommandLine<Config>;
  try {
    parsed = parse();
  } catch (err) {
    process.stderr.write(`${program}: ${isMeshError(err) ? err.message : String(err)}\n`);
    return { exitCode: 2 };
  }
  if (parsed.help) {
    process.stdout.write(helpText);
    return { exitCode: 0 };
  }
  return { config: parsed.config };
}

/** Resolves with the signal's name at the first SIGINT or SIGTERM: the request to stop. */
export function stopSignal(): Promise<'SIGINT' | 'SIGTERM'> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}
