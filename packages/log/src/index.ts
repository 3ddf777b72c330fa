export {
  applyLoggingQuery,
  createLogger,
  createMemoryLogger,
  fdWriter,
  isLogLevel,
  LOG_LEVELS,
  type EmitLevel,
  type LogFields,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  type MemoryLogger,
  type ScopedLogger,
} from './logger.js';
export { createMemoryProxyLogger, createProxyLogger, PROXY_LOG_SCOPES, type ProxyLogger, type ProxyLogScope } from './proxy.js';
export { fdLogSink, LOG_FLUSH_MS, LOG_QUEUE_MAX_BYTES, queuedWriter, type LineWriter, type LogSink, type QueuedWriter } from './writer.js';
export { jsonLineSplitter, type LogEntry } from './reader.js';
