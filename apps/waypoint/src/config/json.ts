/**
 * Reading Envoy proto3-JSON with precise paths: compilers throw `UnsupportedConfig` naming the
 * field they cannot run (`main_internal.filter_chains[2].filters[0]`), and the store turns it
 * into the NACK reason, so nothing throws across the xDS stream (conventions §8).
 * (ztunnel has the same readers in apps/ztunnel/src/config/json.ts; apps do not import each
 * other — a shared `@mesh/envoy-config` package is the place for both.)
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

/** `typed_config` of an extension (filter, input, action) with its message name. */
export function typedConfig(extension: unknown, path: string): { type: string; config: JsonRecord } {
  const config = record(record(extension, path)['typed_config'], `${path}.typed_config`);
  const typeUrl = string(config['@type'], `${path}.typed_config.@type`);
  return { type: typeUrl.slice(typeUrl.lastIndexOf('/') + 1), config };
}

/** Refuses fields the compiler does not implement, so unsupported config is NACKed, not ignored. */
export function onlyKnown(r: JsonRecord, known: readonly string[], path: string): void {
  for (const key of Object.keys(r)) if (!known.includes(key) && key !== '@type') throw new UnsupportedConfig(`${path}.${key}`, 'is not supported by the waypoint');
}

/** envoy.type.matcher.v3.StringMatcher → predicate (RE2 regexes are full-match). */
export function stringMatcher(value: unknown, path: string): (s: string) => boolean {
  const r = record(value, path);
  const ignoreCase = r['ignore_case'] === true;
  const fold = (s: string) => (ignoreCase ? s.toLowerCase() : s);
  const pick = (key: string) => (r[key] === undefined ? undefined : fold(string(r[key], `${path}.${key}`)));
  const exact = pick('exact');
  if (exact !== undefined) return (s) => fold(s) === exact;
  const prefix = pick('prefix');
  if (prefix !== undefined) return (s) => fold(s).startsWith(prefix);
  const suffix = pick('suffix');
  if (suffix !== undefined) return (s) => fold(s).endsWith(suffix);
  const contains = pick('contains');
  if (contains !== undefined) return (s) => fold(s).includes(contains);
  if (isRecord(r['safe_regex'])) {
    const regex = fullMatchRegex(r['safe_regex']['regex'], `${path}.safe_regex.regex`, ignoreCase);
    return (s) => regex.test(s);
  }
  throw new UnsupportedConfig(path, 'expected exact, prefix, suffix, contains or safe_regex');
}

export function fullMatchRegex(value: unknown, path: string, ignoreCase = false): RegExp {
  const source = string(value, path);
  try {
    return new RegExp(`^(?:${source})$`, ignoreCase ? 'i' : '');
  } catch {
    throw new UnsupportedConfig(path, `"${source}" is not a valid regular expression`);
  }
}

/** Runs a compiler, turning UnsupportedConfig into `{error}` (the NACK reason). */
export function attempt<T>(fn: () => T): { value: T; error?: undefined } | { value?: undefined; error: string } {
  try {
    return { value: fn() };
  } catch (err) {
    return { error: err instanceof UnsupportedConfig ? err.message : `internal error: ${(err as Error).message}` };
  }
}
