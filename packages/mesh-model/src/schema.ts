/**
 * Declarative decoders over `yaml` AST nodes. Each decoder turns one node into a typed value or
 * reports what it expected at that node, so every error carries the node's exact offset (turned
 * into line:column by the caller) and its field path. Decoders never throw and keep going after
 * an error, so one document reports all of its problems at once.
 *
 * Resource schemas (`kinds.ts`) are tables of fields built from these combinators; the object
 * decoder's type ties each table to its interface in `types.ts`, so the two cannot drift apart.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { isAlias, isMap, isScalar, isSeq, type Document, type Node as YamlNode } from 'yaml';

export interface DecodeIssue {
  readonly offset: number;
  readonly path: string;
  readonly message: string;
}

/** Marks a value that failed to decode; the failure has already been reported. */
export const INVALID: unique symbol = Symbol('invalid');
export type Decoded<T> = T | typeof INVALID;

export class DecodeContext {
  readonly issues: DecodeIssue[] = [];
  /** `doc` is the document aliases resolve in (none for documents read without the `yaml` package's composer). */
  constructor(private readonly doc?: Document.Parsed) {}

  report(node: YamlNode | null | undefined, fallbackOffset: number, path: string, message: string): typeof INVALID {
    this.issues.push({ offset: node?.range?.[0] ?? fallbackOffset, path, message });
    return INVALID;
  }

  /** Follows YAML aliases (`*anchor`) to the node they name. */
  resolve(node: YamlNode | null | undefined): YamlNode | null | undefined {
    return isAlias(node) && this.doc ? (node.resolve(this.doc) as YamlNode | undefined) : node;
  }
}

/**
 * `at` is the offset to report when `node` is absent (the enclosing mapping), so a missing field
 * points at the object it is missing from.
 */
export type Decoder<T> = (node: YamlNode, path: string, ctx: DecodeContext, at: number) => Decoded<T>;

function describe(node: YamlNode): string {
  if (isScalar(node)) return node.value === null ? 'null' : JSON.stringify(node.value);
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  return 'an unsupported node';
}

/** A scalar accepted by `accept` (undefined = refused, reported as "expected <expected>"). */
export function scalar<T>(expected: string, accept: (value: unknown) => T | undefined): Decoder<T> {
  return (node, path, ctx, at) => {
    const value = isScalar(node) ? accept(node.value) : undefined;
    return value === undefined ? ctx.report(node, at, path, `expected ${expected}, got ${describe(node)}`) : value;
  };
}

export const string = (expected = 'a non-empty string'): Decoder<string> =>
  scalar(expected, (v) => (typeof v === 'string' && v.length > 0 ? v : undefined));

/** A string that may be empty (Gateway API uses `""` for the core API group). */
export const text: Decoder<string> = scalar('a string', (v) => (typeof v === 'string' ? v : undefined));

export const matching = (pattern: RegExp, expected: string): Decoder<string> =>
  scalar(expected, (v) => (typeof v === 'string' && pattern.test(v) ? v : undefined));

/** Kubernetes object names: RFC 1123 DNS subdomain (lowercase alphanumerics, '-' and '.'). */
export const dnsName = matching(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, 'a lowercase DNS name (a-z, 0-9, "-", ".")');

/** Kubernetes named ports (IANA_SVC_NAME): up to 15 lowercase alphanumerics and '-', at least one letter. */
export const portName = matching(/^(?=.*[a-z])[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$/, 'a port name (1-15 of a-z, 0-9, "-", with a letter)');

export const integer = (min: number, max: number): Decoder<number> =>
  scalar(`an integer ${min}-${max}`, (v) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : undefined));

export const port = integer(1, 65535);

export const boolean: Decoder<boolean> = scalar('true or false', (v) => (typeof v === 'boolean' ? v : undefined));

export const oneOf = <const T extends string>(values: readonly T[]): Decoder<T> =>
  scalar(`one of ${values.join(', ')}`, (v) => (values as readonly unknown[]).includes(v) ? (v as T) : undefined);

/** One of a few numbers or strings, compared as YAML scalars (`statusCode: 301`). */
export const scalarOneOf = <const T extends string | number>(values: readonly T[]): Decoder<T> =>
  scalar(`one of ${values.join(', ')}`, (v) => ((values as readonly unknown[]).includes(v) ? (v as T) : undefined));

export const ipAddress: Decoder<string> = scalar('an IPv4 or IPv6 address', (v) =>
  typeof v === 'string' && (isIPv4(v) || isIPv6(v)) ? v : undefined,
);

/** An address or a CIDR block (`10.0.0.1`, `10.0.0.0/8`, `fd00::/8`). */
export function isCidr(v: string): boolean {
  const [ip = '', bits, extra] = v.split('/');
  const maxBits = isIPv4(ip) ? 32 : isIPv6(ip) ? 128 : -1;
  if (maxBits < 0 || extra !== undefined) return false;
  return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= maxBits);
}

/** An address or a CIDR block, as AuthorizationPolicy ipBlocks accept. */
export const cidr: Decoder<string> = scalar('an IP address or CIDR (10.0.0.0/8)', (v) => (typeof v === 'string' && isCidr(v) ? v : undefined));

/** Gateway API Duration: e.g. `10s`, `1h30m`, `500ms`. */
export const duration = matching(/^([0-9]{1,5}(h|m|s|ms)){1,4}$/, 'a duration like 10s, 500ms or 1m30s');

/** Post-processes a decoded value (defaults that depend on other fields, normalisation). */
export function transform<A, B>(decode: Decoder<A>, fn: (value: A) => B): Decoder<B> {
  return (node, path, ctx, at) => {
    const value = decode(node, path, ctx, at);
    return value === INVALID ? INVALID : fn(value as A);
  };
}

/** Tries each decoder silently; reports `expected` when none accepts the node. */
export function either<T>(expected: string, ...decoders: Decoder<T>[]): Decoder<T> {
  return (node, path, ctx, at) => {
    for (const decode of decoders) {
      const before = ctx.issues.length;
      const value = decode(node, path, ctx, at);
      if (value !== INVALID) return value;
      ctx.issues.length = before;
    }
    return ctx.report(node, at, path, `expected ${expected}, got ${describe(node)}`);
  };
}

export function list<T>(item: Decoder<T>): Decoder<T[]> {
  return (node, path, ctx, at) => {
    if (!isSeq(node)) return ctx.report(node, at, path, `expected a list, got ${describe(node)}`);
    const out: T[] = [];
    let ok = true;
    node.items.forEach((raw, i) => {
      const child = ctx.resolve(raw as YamlNode);
      const itemPath = `${path}[${i}]`;
      const value = child == null ? ctx.report(null, node.range?.[0] ?? at, itemPath, 'expected a value, got nothing') : item(child, itemPath, ctx, node.range?.[0] ?? at);
      if (value === INVALID) ok = false;
      else out.push(value);
    });
    return ok ? out : INVALID;
  };
}

/** A mapping of string keys to string values (labels, annotations, selectors). */
export const stringMap: Decoder<Record<string, string>> = (node, path, ctx, at) => {
  if (!isMap(node)) return ctx.report(node, at, path, `expected a mapping of strings, got ${describe(node)}`);
  const out: Record<string, string> = {};
  let ok = true;
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
    const value = ctx.resolve(pair.value as YamlNode | null);
    const valuePath = `${path}.${key ?? '?'}`;
    if (key === undefined) {
      ctx.report(pair.key as YamlNode, at, path, 'expected a string key');
      ok = false;
    } else if (isScalar(value) && typeof value.value === 'string') {
      out[key] = value.value;
    } else {
      const keyAt = (pair.key as YamlNode | null)?.range?.[0] ?? at;
      ctx.report(value, keyAt, valuePath, `expected a string (quote numbers and booleans), got ${value ? describe(value) : 'nothing'}`);
      ok = false;
    }
  }
  return ok ? out : INVALID;
};

export interface FieldSpec<T> {
  readonly decode: Decoder<T>;
  /** Dotted location in the source mapping when it differs from the field name (`spec.selector`). */
  readonly from?: string;
  readonly required?: boolean;
  readonly fallback?: T;
  /** The field is not read from the source at all (e.g. `kind`). */
  readonly fixed?: boolean;
}

/** The fields of T (all keys, optional ones included) mapped to their specs. */
export type Shape<T> = { readonly [K in keyof T]-?: FieldSpec<T[K]> };

export const required = <T>(decode: Decoder<T>, from?: string): FieldSpec<T> => ({ decode, required: true, ...(from ? { from } : {}) });
export const optional = <T>(decode: Decoder<T>, from?: string): FieldSpec<T | undefined> => ({ decode, ...(from ? { from } : {}) });
export const withDefault = <T>(decode: Decoder<T>, fallback: T, from?: string): FieldSpec<T> => ({ decode, fallback, ...(from ? { from } : {}) });
export const fixed = <T>(value: T): FieldSpec<T> => ({ decode: () => value, fixed: true });

/**
 * Looks up a dotted path in nested mappings. Returns the node (or undefined when absent) and the
 * offset of the innermost mapping reached, for "missing field" reports.
 */
function lookup(
  node: YamlNode,
  dotted: string,
  basePath: string,
  ctx: DecodeContext,
): { found: YamlNode | null | undefined; at: number; broken: boolean } {
  let current: YamlNode | null | undefined = node;
  let at = node.range?.[0] ?? 0;
  let path = basePath;
  for (const key of dotted.split('.')) {
    path = path ? `${path}.${key}` : key;
    if (current == null) return { found: undefined, at, broken: false };
    if (!isMap(current)) {
      ctx.report(current, at, path.slice(0, path.length - key.length - 1), `expected a mapping, got ${describe(current)}`);
      return { found: undefined, at, broken: true };
    }
    at = current.range?.[0] ?? at;
    current = ctx.resolve(current.get(key, true) as YamlNode | null | undefined);
  }
  return { found: current, at, broken: false };
}

export interface ObjectOptions {
  /**
   * Refuse keys that no field reads, naming the key and the keys expected there (Istio's
   * validation refuses unknown fields: a typo such as `rule:` for `rules:` must not quietly
   * become a different policy). Checked at every mapping level the fields' dotted sources pass
   * through (`spec`, `spec.mtls`); a field's own decoder checks below it.
   */
  readonly strict?: boolean;
  /** Dotted keys accepted and not read (`status`, ObjectMeta fields the mesh has no use for). */
  readonly ignore?: readonly string[];
}

/** The keys a strict object accepts, as a tree of mapping levels. */
interface KnownKeys {
  /** Keys whose value a field decoder (or the ignore list) owns. */
  readonly leaves: Set<string>;
  /** Keys that are mappings the fields' dotted sources pass through. */
  readonly levels: Map<string, KnownKeys>;
  /** Keys to name in "expected one of" (ignored ones are not advertised). */
  readonly advertised: string[];
}

function knownKeys(fieldPaths: readonly string[], ignored: readonly string[]): KnownKeys {
  const root: KnownKeys = { leaves: new Set(), levels: new Map(), advertised: [] };
  const add = (dotted: string, advertise: boolean) => {
    const parts = dotted.split('.');
    let level = root;
    parts.forEach((key, i) => {
      if (advertise && !level.advertised.includes(key)) level.advertised.push(key);
      if (i === parts.length - 1) {
        level.leaves.add(key);
        return;
      }
      let next = level.levels.get(key);
      if (!next) level.levels.set(key, (next = { leaves: new Set(), levels: new Map(), advertised: [] }));
      level = next;
    });
  };
  for (const p of fieldPaths) add(p, true);
  for (const p of ignored) add(p, false);
  return root;
}

/** Levenshtein distance, for "did you mean" on a mistyped key. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length] as number;
}

function unknownKeyMessage(key: string, expected: readonly string[]): string {
  const close = expected.filter((e) => editDistance(key.toLowerCase(), e.toLowerCase()) <= 2).sort((x, y) => editDistance(key, x) - editDistance(key, y))[0];
  const hint = close ? `did you mean "${close}"? ` : '';
  return `unknown field "${key}" (${hint}expected ${expected.length === 0 ? 'no fields here' : `one of: ${expected.join(', ')}`})`;
}

/** Reports every key of `node` (and of the levels below it) that `known` does not name. */
function checkKnownKeys(node: YamlNode, known: KnownKeys, path: string, ctx: DecodeContext): boolean {
  if (!isMap(node)) return true; // the field decoders report the wrong shape
  let ok = true;
  for (const pair of node.items) {
    const keyNode = pair.key as YamlNode | null;
    const key = isScalar(keyNode) ? String(keyNode.value) : undefined;
    const keyPath = path ? `${path}.${key ?? '?'}` : (key ?? '?');
    if (key === undefined) {
      ctx.report(keyNode, node.range?.[0] ?? 0, keyPath, 'expected a string key');
      ok = false;
      continue;
    }
    if (known.leaves.has(key)) continue;
    const level = known.levels.get(key);
    if (level) {
      const value = ctx.resolve(pair.value as YamlNode | null);
      if (value) ok = checkKnownKeys(value, level, keyPath, ctx) && ok;
      continue;
    }
    ctx.report(keyNode, node.range?.[0] ?? 0, keyPath, unknownKeyMessage(key, known.advertised));
    ok = false;
  }
  return ok;
}

export function object<T>(shape: Shape<T>, options: ObjectOptions = {}): Decoder<T> {
  const entries = Object.entries(shape) as [string, FieldSpec<unknown>][];
  const known = options.strict
    ? knownKeys(
        entries.filter(([, spec]) => !spec.fixed).map(([name, spec]) => spec.from ?? name),
        options.ignore ?? [],
      )
    : undefined;
  return (node, path, ctx, at) => {
    if (!isMap(node)) return ctx.report(node, at, path, `expected a mapping, got ${describe(node)}`);
    const keysOk = known ? checkKnownKeys(node, known, path, ctx) : true;
    const out: Record<string, unknown> = {};
    let ok = true;
    for (const [name, spec] of entries) {
      if (spec.fixed) {
        out[name] = spec.decode(node, path, ctx, at);
        continue;
      }
      const source = spec.from ?? name;
      const fieldPath = path ? `${path}.${source}` : source;
      const { found, at: parentAt, broken } = lookup(node, source, path, ctx);
      if (broken) {
        ok = false;
        continue;
      }
      // YAML `field:` with no value parses as null; treat it like an absent field.
      const absent = found == null || (isScalar(found) && found.value === null);
      if (absent) {
        if (spec.required) {
          ctx.report(null, parentAt, fieldPath, `missing required field "${source.split('.').pop()}"`);
          ok = false;
        } else if (spec.fallback !== undefined) out[name] = spec.fallback;
        continue;
      }
      const value = spec.decode(found, fieldPath, ctx, parentAt);
      if (value === INVALID) ok = false;
      else if (value !== undefined) out[name] = value;
    }
    return ok && keysOk ? (out as T) : INVALID;
  };
}

/**
 * A mapping keyed by port number (`portLevelMtls: { 8080: {mode: STRICT} }`); YAML keys may be
 * written as numbers or numeric strings.
 */
export function portMap<T>(value: Decoder<T>): Decoder<Readonly<Record<number, T>>> {
  return (node, path, ctx, at) => {
    if (!isMap(node)) return ctx.report(node, at, path, `expected a mapping of ports, got ${describe(node)}`);
    const out: Record<number, T> = {};
    let ok = true;
    for (const pair of node.items) {
      const keyNode = pair.key as YamlNode | null;
      const raw = isScalar(keyNode) ? keyNode.value : undefined;
      const port = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
      const keyPath = `${path}[${String(raw)}]`;
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        ctx.report(keyNode, at, keyPath, `expected a port 1-65535 as the key, got ${keyNode ? describe(keyNode) : 'nothing'}`);
        ok = false;
        continue;
      }
      const child = ctx.resolve(pair.value as YamlNode | null);
      const decoded = child == null ? ctx.report(null, keyNode?.range?.[0] ?? at, keyPath, 'expected a value, got nothing') : value(child, keyPath, ctx, keyNode?.range?.[0] ?? at);
      if (decoded === INVALID) ok = false;
      else out[port] = decoded;
    }
    return ok ? out : INVALID;
  };
}

/** Adds a cross-field check; `check` returns a problem (path relative to the object) or nothing. */
export function refine<T>(decode: Decoder<T>, check: (value: T) => { path: string; message: string } | undefined): Decoder<T> {
  return (node, path, ctx, at) => {
    const value = decode(node, path, ctx, at);
    if (value === INVALID) return value;
    const problem = check(value);
    if (!problem) return value;
    const target = problem.path && isMap(node) ? (node.getIn(problem.path.split('.'), true) as YamlNode | undefined) : undefined;
    return ctx.report(target ?? node, at, [path, problem.path].filter(Boolean).join('.'), problem.message);
  };
}

/**
 * Refuses fields the decoder does not read, so a field this mesh does not implement is an error
 * naming it rather than something silently ignored. `at` (dotted, relative to the node) says
 * which mapping to check when the keys live below the decoded node (`spec` of a resource).
 */
export function closed<T>(decode: Decoder<T>, keys: readonly string[], at = ''): Decoder<T> {
  const known = new Set(keys);
  return (node, path, ctx, offset) => {
    const target = at && isMap(node) ? ctx.resolve(node.getIn(at.split('.'), true) as YamlNode | undefined) : node;
    let ok = true;
    if (isMap(target)) {
      for (const pair of target.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
        if (key === undefined || known.has(key)) continue;
        const where = [path, at, key].filter(Boolean).join('.');
        ctx.report(pair.key as YamlNode, offset, where, `unknown field "${key}" (this mesh reads ${keys.join(', ')})`);
        ok = false;
      }
    }
    const value = decode(node, path, ctx, offset);
    return ok ? value : INVALID;
  };
}

/** `object(shape)` that also refuses fields the shape does not name (see `closed`). */
export function strictObject<T>(shape: Shape<T>): Decoder<T> {
  const keys = (Object.entries(shape) as [string, FieldSpec<unknown>][]).filter(([, spec]) => !spec.fixed).map(([name, spec]) => spec.from ?? name);
  return closed(object(shape), keys);
}

/** Gateway API Duration (`1h30m`, `500ms`) in milliseconds; undefined when it is not one. */
export function gatewayDurationMs(text: string): number | undefined {
  if (!/^([0-9]{1,5}(h|m|s|ms)){1,4}$/.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(/(\d+)(ms|h|m|s)/g)) {
    const n = Number(m[1]);
    total += m[2] === 'h' ? n * 3_600_000 : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n;
  }
  return total;
}

/** A problem found after decoding: `at` is the YAML path from the checked node (keys and list indices). */
export interface Problem {
  readonly at: readonly (string | number)[];
  readonly message: string;
}

/** Display form of a YAML path: `spec.rules[0].from`, `metadata.annotations["istio.io/dry-run"]`. */
export function displayPath(base: string, at: readonly (string | number)[]): string {
  let out = base;
  for (const seg of at) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/**
 * Adds cross-field checks that may find several problems (each reported at its own node);
 * the value is refused when any is found.
 */
export function checked<T>(decode: Decoder<T>, check: (value: T) => readonly Problem[]): Decoder<T> {
  return (node, path, ctx, at) => {
    const value = decode(node, path, ctx, at);
    if (value === INVALID) return value;
    const problems = check(value);
    for (const problem of problems) {
      let target: YamlNode | null | undefined = node;
      for (const seg of problem.at) {
        const next: YamlNode | null | undefined = isMap(target) || isSeq(target) ? ctx.resolve(target.get(seg, true) as YamlNode | null | undefined) : undefined;
        if (next == null) break;
        target = next;
      }
      ctx.report(target, at, displayPath(path, problem.at), problem.message);
    }
    return problems.length > 0 ? INVALID : value;
  };
}
