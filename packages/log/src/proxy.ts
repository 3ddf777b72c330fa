import { createLogger, createMemoryLogger, fdWriter, type LogLevel, type Logger, type LoggerOptions, type MemoryLogger } from './logger.js';

/**
 * The scopes ztunnel and the waypoint log under, Envoy's logger names: `access` (one line per
 * connection or request), `xds`, `cert`, `proxy`, `admin`, `rbac` (dry-run results at debug,
 * `shadow denied, matched policy …`), `dns` (ztunnel: one line per DNS query).
 */
export const PROXY_LOG_SCOPES = ['access', 'xds', 'cert', 'proxy', 'admin', 'rbac', 'dns'] as const;
export type ProxyLogScope = (typeof PROXY_LOG_SCOPES)[number];
export type ProxyLogger = Logger<ProxyLogScope>;

/** A proxy's logger: queued, non-blocking writes to stdout unless `write` says otherwise. */
export function createProxyLogger(options: Omit<LoggerOptions<ProxyLogScope>, 'scopes'> & { level?: LogLevel } = {}): ProxyLogger {
  return createLogger({ write: fdWriter(1, 'proxy'), ...options, scopes: PROXY_LOG_SCOPES });
}

/** A proxy logger that keeps entries, for tests. */
export function createMemoryProxyLogger(): MemoryLogger<ProxyLogScope> {
  return createMemoryLogger(PROXY_LOG_SCOPES);
}
