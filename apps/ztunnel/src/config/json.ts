/**
 * Reading Envoy proto3-JSON with precise paths. The compilers below throw `UnsupportedConfig`
 * with the path of the field they could not run (`ztunnel_outbound.filter_chains[2].filters[0]`);
 * `compile*` catch it and turn it into the NACK reason, so nothing throws across the xDS stream
 * (conventions §8).
 */
export type Json = unknown;
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

/** The message name of an Any (`type.googleapis.com/x.y.Z` → `x.y.Z`). */
export function anyType(value: unknown, path: string): string {
  const typeUrl = string(record(value, path)['@type'], `${path}.@type`);
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/** `typed_config` of an extension (filter, input, action), with its message name. */
export function typedConfig(extension: unknown, path: string): { type: string; config: JsonRecord } {
  const ext = record(extension, path);
  const config = record(ext['typed_config'], `${path}.typed_config`);
  return { type: anyType(config, `${path}.typed_config`), config };
}

/** Runs a compiler, turning UnsupportedConfig into `{error}`; other errors are bugs and still become reasons. */
export function attempt<T>(fn: () => T): { value: T; error?: undefined } | { value?: undefined; error: string } {
  try {
    return { value: fn() };
  } catch (err) {
    return { error: err instanceof UnsupportedConfig ? err.message : `internal error: ${(err as Error).message}` };
  }
}
