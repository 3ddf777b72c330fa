#!/usr/bin/env node
/**
 * istiod-lite entry point: parse flags, start, stop cleanly on SIGINT/SIGTERM.
 */
import { isMeshError } from '@mesh/errors';
import { HELP_TEXT, parseArgs } from './config.js';
import { startIstiod } from './istiod.js';
import { createJsonLogger } from './log.js';
import { meshGenerators } from './xds/proxy-resources.js';

async function main(): Promise<number> {
  const logger = createJsonLogger();
  let parsed;
  try {
    parsed = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`istiod-lite: ${isMeshError(err) ? err.message : String(err)}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(HELP_TEXT);
    return 0;
  }
  const istiod = await startIstiod({ config: parsed.config, generators: meshGenerators, logger });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info('shutting down', { signal });
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
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
