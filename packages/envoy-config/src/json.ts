/**
 * Reading Envoy proto3-JSON with precise paths. Compilers throw `UnsupportedConfig` naming the
 * field they cannot run (`ztunnel_outbound.filter_chains[2].filters[0]`); `attempt` turns it into
 * the NACK reason, so nothing throws across the xDS stream: a bad resource is NACKed and the last good config stays.
 */
export type JsonRecord = Record<string, unknown>;

export class UnsupportedConfig extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

export function isRecord(value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function record(value: unknown, path: string): JsonRecord {
  if (!isRecord(value)) throw new UnsupportedConfig(path, 'expected an object');
  return value;
}

export function optionalRecord(value: unknown, path: string): JsonRecord | undefined {
  return value === undefined || value === null ? undefined : record(value, path);
}

export function list(value: unknown, path: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new UnsupportedConfig(path, 'expected a list');
  return value;
}

export function string(value: unknown, path: string): string {
  if (typeof value !== 'string' || value === '') throw new UnsupportedConfig(path, 'expected a non-empty string');
  return value;
}

export function optionalString(value: unknown, path: string): string | undefined {
  return value === undefined || value === null || value === '' ? undefined : string(value, path);
}

/** proto3-JSON numbers may arrive as numbers or (64-bit) decimal strings. */
export function optionalNumber(value: unknown, path: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new UnsupportedConfig(path, 'expected a number');
  return n;
}

/** proto3-JSON Duration (`"1.500s"`) → milliseconds. */
export function durationMs(value: unknown, path: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const m = typeof value === 'string' ? /^(\d+(?:\.\d+)?)s$/.exec(value) : null;
  if (!m) throw new UnsupportedConfig(path, `expected a duration like "1.5s", got ${JSON.stringify(value)}`);
  return Math.round(Number(m[1]) * 1000);
}

/** The message name of an Any (`type.googleapis.com/x.y.Z` → `x.y.Z`). */
export function anyType(value: unknown, path: string): string {
  const typeUrl = string(record(value, path)['@type'], `${path}.@type`);
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/** `typed_config` of an extension (filter, input, action), with its message name. */
export function typedConfig(extension: unknown, path: string): { type: string; config: JsonRecord } {
  const config = record(record(extension, path)['typed_config'], `${path}.typed_config`);
  return { type: anyType(config, `${path}.typed_config`), config };
}

/** Refuses fields a compiler does not implement, so unsupported config is NACKed, not ignored. */
export function onlyKnown(r: JsonRecord, known: readonly string[], path: string): void {
  for (const key of Object.keys(r)) if (!known.includes(key) && key !== '@type') throw new UnsupportedConfig(`${path}.${key}`, 'is not supported');
}

/** Runs a compiler, turning UnsupportedConfig into `{error}`; other errors are bugs and still become reasons. */
export function attempt<T>(fn: () => T): { value: T; error?: undefined } | { value?: undefined; error: string } {
  try {
    return { value: fn() };
  } catch (err) {
    return { error: err instanceof UnsupportedConfig ? err.message : `internal error: ${(err as Error).message}` };
  }
}
