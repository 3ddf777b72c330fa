#!/usr/bin/env node
/**
 * istiod-lite entry point: parse flags, start, stop cleanly on SIGINT/SIGTERM.
 */
import { readEntryCommandLine, stopSignal } from '@mesh/cli-config';
import { isMeshError } from '@mesh/errors';
import { HELP_TEXT, parseArgs } from './config.js';
import { startIstiod } from './istiod.js';
import { createJsonLogger } from './log.js';
import { meshGenerators } from './xds/proxy-resources.js';

async function main(): Promise<number> {
  const logger = createJsonLogger();
  const commandLine = readEntryCommandLine('istiod-lite', () => parseArgs(process.argv.slice(2)), HELP_TEXT);
  if ('exitCode' in commandLine) return commandLine.exitCode;
  const istiod = await startIstiod({ config: commandLine.config, generators: meshGenerators, logger });
  logger.info('shutting down', { signal: await stopSignal() });
  await istiod.close();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`istiod-lite: ${isMeshError(err) ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
