import { isRecord, record, string, UnsupportedConfig } from './json.js';

/** envoy.type.matcher.v3.StringMatcher → predicate. */
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

/** Envoy's RE2 regexes match the whole string. */
export function fullMatchRegex(value: unknown, path: string, ignoreCase = false): RegExp {
  const source = string(value, path);
  try {
    return new RegExp(`^(?:${source})$`, ignoreCase ? 'i' : '');
  } catch {
    throw new UnsupportedConfig(path, `"${source}" is not a valid regular expression`);
  }
}
