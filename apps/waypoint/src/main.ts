#!/usr/bin/env node
/**
 * waypoint entry point: parse flags, start, stop cleanly on SIGINT/SIGTERM.
 */
import { readEntryCommandLine, stopSignal } from '@mesh/cli-config';
import { HELP_TEXT, parseConfig } from './config.js';
import { createProxyLogger } from '@mesh/log';
import { Waypoint } from './waypoint.js';

async function main(): Promise<number> {
  const commandLine = readEntryCommandLine('waypoint', () => parseConfig(process.argv.slice(2), process.env), HELP_TEXT);
  if ('exitCode' in commandLine) return commandLine.exitCode;
  const logger = createProxyLogger({ level: commandLine.config.logLevel });
  const waypoint = await Waypoint.start({ config: commandLine.config, logger });
  logger.log('proxy', 'info', 'shutting down', { signal: await stopSignal() });
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
