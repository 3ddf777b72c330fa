/**
 * Structured JSON logs, one object per line on stdout (apps log; packages only publish on `node:diagnostics_channel`). Scopes:
 * `access` (one line per request / TCP connection), `xds`, `cert`, `proxy`, `admin`, `rbac`
 * (Envoy's logger name: dry-run results at debug, `shadow denied, matched policy …`).
 */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogScope = 'access' | 'xds' | 'cert' | 'proxy' | 'admin' | 'rbac';

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export interface Logger {
  log(scope: LogScope, level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(minLevel: LogLevel = 'info', write: (line: string) => void = (line) => process.stdout.write(line)): Logger {
  return {
    log(scope, level, msg, fields = {}) {
      if (RANK[level] < RANK[minLevel]) return;
      write(`${JSON.stringify({ time: new Date().toISOString(), level, scope, msg, ...fields })}\n`);
    },
  };
}

/** A logger that keeps entries, for tests. */
export function createMemoryLogger(): Logger & { entries: Array<Record<string, unknown>> } {
  const entries: Array<Record<string, unknown>> = [];
  return Object.assign(createLogger('debug', (line) => void entries.push(JSON.parse(line) as Record<string, unknown>)), { entries });
}
