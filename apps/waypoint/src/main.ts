#!/usr/bin/env node
/**
 * waypoint entry point: parse flags, start, stop cleanly on SIGINT/SIGTERM.
 */
import { isMeshError } from '@mesh/errors';
import { HELP_TEXT, parseConfig } from './config.js';
import { createProxyLogger } from '@mesh/log';
import { Waypoint } from './waypoint.js';

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`waypoint: ${isMeshError(err) ? err.message : String(err)}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(HELP_TEXT);
    return 0;
  }
  const logger = createProxyLogger({ level: parsed.config.logLevel });
  const waypoint = await Waypoint.start({ config: parsed.config, logger });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  logger.log('proxy', 'info', 'shutting down');
  await Promise.race([waypoint.close(), new Promise((r) => setTimeout(r, 2000))]);
  waypoint.destroy();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`waypoint: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
