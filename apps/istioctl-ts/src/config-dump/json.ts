/**
 * Tolerant readers for Envoy proto3 JSON. A config dump comes from another process (or a file a
 * user saved), so nothing is trusted: a missing or odd field reads as undefined, never throws.
 */
export type JsonRecord = Record<string, unknown>;

export function isRecord(value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function rec(value: unknown): JsonRecord {
  return isRecord(value) ? value : {};
}

export function arr(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function records(value: unknown): JsonRecord[] {
  return arr(value).filter(isRecord);
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** proto3 JSON writes uint32 as numbers but (u)int64 and some wrappers as strings; accept both. */
export function num(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

/** Last segment of an `@type` URL: `type.googleapis.com/envoy...v3.TcpProxy` → `TcpProxy`. */
export function shortType(value: unknown): string | undefined {
  const type = str(value);
  return type?.slice(type.lastIndexOf('.') + 1);
}
