/**
 * istiod-lite's logger: `@mesh/log` with one scope, `istiod`, every level written, on stderr
 * (queued, so a slow reader never holds the event loop).
 */
import { createLogger, createMemoryLogger as createMemory, fdWriter, type LineWriter, type LogFields, type ScopedLogger } from '@mesh/log';

export type Logger = ScopedLogger;
export const ISTIOD_LOG_SCOPE = 'istiod';

export function createJsonLogger(write: LineWriter = fdWriter(2)): Logger {
  return createLogger({ scopes: [ISTIOD_LOG_SCOPE], level: 'debug', write }).scoped(ISTIOD_LOG_SCOPE);
}

/** A logger that keeps entries in memory, for tests. */
export function createMemoryLogger(): Logger & { entries: Array<{ level: string; msg: string } & LogFields> } {
  const memory = createMemory([ISTIOD_LOG_SCOPE]);
  return Object.assign(memory.scoped(ISTIOD_LOG_SCOPE), { entries: memory.entries as Array<{ level: string; msg: string } & LogFields> });
}
