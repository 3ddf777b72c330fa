/**
 * envoy.type.matcher.v3.MetadataMatcher over a request's dynamic metadata (filter name → the
 * Struct that filter wrote, as plain JSON). Istio matches JWT claims this way: filter
 * `envoy.filters.http.jwt_authn`, path `payload` then the claim names, value "one of the list,
 * or the value itself" (pilot/pkg/security/authz/matcher/metadata.go). Absent metadata matches
 * nothing; `invert` negates the whole match.
 */
import { isRecord, list, record, string, UnsupportedConfig } from './json.js';
import { stringMatcher } from './string-matcher.js';

export type DynamicMetadata = Readonly<Record<string, unknown>>;

type ValueTest = (value: unknown) => boolean;

/** envoy.type.matcher.v3.ValueMatcher: string_match, list_match.one_of, or_match, present_match, bool_match. */
function valueMatcher(value: unknown, path: string): ValueTest {
  const r = record(value, path);
  if (r['string_match'] !== undefined) {
    const test = stringMatcher(r['string_match'], `${path}.string_match`);
    return (v) => typeof v === 'string' && test(v);
  }
  if (r['list_match'] !== undefined) {
    const lm = record(r['list_match'], `${path}.list_match`);
    const inner = valueMatcher(lm['one_of'], `${path}.list_match.one_of`);
    return (v) => Array.isArray(v) && v.some(inner);
  }
  if (r['or_match'] !== undefined) {
    const matchers = list(record(r['or_match'], `${path}.or_match`)['value_matchers'], `${path}.or_match.value_matchers`).map((m, i) => valueMatcher(m, `${path}.or_match.value_matchers[${i}]`));
    return (v) => matchers.some((m) => m(v));
  }
  if (r['present_match'] !== undefined) return (v) => v !== undefined && v !== null;
  if (r['bool_match'] !== undefined) {
    const want = r['bool_match'] === true;
    return (v) => v === want;
  }
  throw new UnsupportedConfig(path, 'expected string_match, list_match, or_match, present_match or bool_match');
}

/** Compiles a MetadataMatcher into a predicate over dynamic metadata. */
export function metadataMatcher(value: unknown, path: string): (metadata: DynamicMetadata | undefined) => boolean {
  const r = record(value, path);
  const filter = string(r['filter'], `${path}.filter`);
  const keys = list(r['path'], `${path}.path`).map((seg, i) => string(record(seg, `${path}.path[${i}]`)['key'], `${path}.path[${i}].key`));
  const test = valueMatcher(r['value'], `${path}.value`);
  const invert = r['invert'] === true;
  return (metadata) => {
    let current: unknown = metadata?.[filter];
    for (const key of keys) current = isRecord(current) ? current[key] : undefined;
    return (current !== undefined && test(current)) !== invert;
  };
}
