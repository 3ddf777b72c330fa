export { parseCommandLine, validateConfig } from './command-line.js';
export type { CommandLineSpec, ParsedCommandLine } from './command-line.js';
export { durationMs, parseDurationMs } from './duration.js';
export { hostPortField, logLevelField, portField } from './fields.js';
export { readEntryCommandLine, stopSignal, type EntryCommandLine } from './entry-point.js';
