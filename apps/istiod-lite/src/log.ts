/**
 * Structured JSON logs, one object per line (apps log; packages only publish events on `node:diagnostics_channel`).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function createJsonLogger(write: (line: string) => void = (line) => process.stderr.write(line), scope = 'istiod'): Logger {
  const log = (level: LogLevel, msg: string, fields: Record<string, unknown> = {}) =>
    write(`${JSON.stringify({ time: new Date().toISOString(), level, scope, msg, ...fields })}\n`);
  return {
    log,
    info: (msg, fields) => log('info', msg, fields),
    warn: (msg, fields) => log('warn', msg, fields),
    error: (msg, fields) => log('error', msg, fields),
  };
}

/** A logger that keeps entries in memory, for tests. */
export function createMemoryLogger(): Logger & { entries: Array<{ level: LogLevel; msg: string } & Record<string, unknown>> } {
  const entries: Array<{ level: LogLevel; msg: string } & Record<string, unknown>> = [];
  const log = (level: LogLevel, msg: string, fields: Record<string, unknown> = {}) => void entries.push({ level, msg, ...fields });
  return {
    entries,
    log,
    info: (msg, fields) => log('info', msg, fields),
    warn: (msg, fields) => log('warn', msg, fields),
    error: (msg, fields) => log('error', msg, fields),
  };
}
