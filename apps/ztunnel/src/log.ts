/**
 * Structured JSON logs, one object per line on stdout (apps log, libraries publish:
 * conventions §10). Scopes (`access`, `xds`, `cert`, `proxy`, `admin`) have levels that
 * `/logging?<scope>=<level>` changes at runtime, as in Envoy and ztunnel.
 */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'off'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_SCOPES = ['access', 'xds', 'cert', 'proxy', 'admin'] as const;
export type LogScope = (typeof LOG_SCOPES)[number];

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, off: 4 };

export interface Logger {
  readonly levels: Record<LogScope, LogLevel>;
  log(scope: LogScope, level: Exclude<LogLevel, 'off'>, msg: string, fields?: Record<string, unknown>): void;
  setLevel(scope: LogScope | 'all', level: LogLevel): void;
}

export function createLogger(write: (line: string) => void = (line) => process.stdout.write(line), defaultLevel: LogLevel = 'info'): Logger {
  const levels = Object.fromEntries(LOG_SCOPES.map((s) => [s, defaultLevel])) as Record<LogScope, LogLevel>;
  return {
    levels,
    log(scope, level, msg, fields = {}) {
      if (RANK[level] < RANK[levels[scope]]) return;
      write(`${JSON.stringify({ time: new Date().toISOString(), level, scope, msg, ...fields })}\n`);
    },
    setLevel(scope, level) {
      for (const s of scope === 'all' ? LOG_SCOPES : [scope]) levels[s] = level;
    },
  };
}

/** A logger that keeps entries, for tests. */
export function createMemoryLogger(): Logger & { entries: Array<Record<string, unknown>> } {
  const entries: Array<Record<string, unknown>> = [];
  const logger = createLogger((line) => void entries.push(JSON.parse(line) as Record<string, unknown>), 'debug');
  return Object.assign(logger, { entries });
}
