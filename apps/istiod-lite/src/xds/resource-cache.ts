/**
 * Generated and encoded xDS resources, per scope (the proxies a generator says get identical
 * resources: one node's ztunnels, one waypoint pod, or every proxy of a dialect that is not
 * client-specific), kept up to date with the snapshot and shared by every stream of the scope.
 *
 * Invariants:
 * - A scope is generated at most once per snapshot generation, however many streams use it.
 * - Each resource's version is a digest of its encoded bytes, so it changes exactly when what a
 *   proxy would decode changes, and is the same across istiod restarts (a reconnecting delta
 *   client that lists it in `initial_resource_versions` is sent nothing).
 * - A type's version (`<time>/<counter>`, like Istio's) changes whenever any of its resources
 *   changes or goes; each change is logged (bounded) so a stream one or a few changes behind
 *   learns what to send by reading the log, not by comparing every resource.
 * - A generator with `update` is asked only for what a snapshot change touches; one without is
 *   asked for everything, and the digests tell what changed.
 * - A failure to generate or encode keeps the scope's last good resources (and logs why); the
 *   next snapshot tries again from the last good one.
 * - Encoded bytes are kept while a scope's whole set is at most `retainBytesLimit`; a larger
 *   scope (the per-node Envoy shape in a big mesh: ~170 MB a node) keeps only versions and
 *   the bytes of its last change, and regenerates its bytes when a stream needs them all
 *   (`materialize`), so memory does not grow with nodes × mesh size.
 * - Scopes nobody uses are dropped after `idleTtlMs` (`prune`), so the cache does not grow with
 *   every proxy that ever connected.
 */
import { createHash } from 'node:crypto';
import type { MeshSnapshot } from '@mesh/mesh-model';
import { encodeResource } from '@mesh/xds';
import type { EncodedAny, ResourceJson } from '@mesh/xds';
import type { ProxyInfo } from './proxy-node.js';
import type { GeneratedChanges, NamedResources, XdsGenerator } from './proxy-resources.js';

/** Scopes whose encoded resources total more than this keep only versions (see above). */
export const DEFAULT_RETAIN_BYTES_LIMIT = 32 * 1024 * 1024;
/** How long a scope nobody uses is kept, so a proxy that reconnects soon finds its versions. */
export const DEFAULT_IDLE_SCOPE_TTL_MS = 60_000;
/** Changes remembered per type for streams that are behind. */
const CHANGE_LOG_LENGTH = 16;

export interface TypeState {
  /** name → version, in send order. */
  readonly versions: Map<string, string>;
  /** `<time>/<counter>`; new whenever a resource of this type changes or goes. */
  version: string;
  /** Increases with every change of this type. */
  seq: number;
  changedAt: string;
  /** The last changes: which names each touched (changed or removed). */
  readonly log: Array<{ readonly seq: number; readonly names: readonly string[] }>;
}

export interface ScopeError {
  readonly generation: number;
  readonly message: string;
  readonly at: string;
}

export class Scope {
  readonly key: string;
  readonly generator: XdsGenerator;
  /** A proxy of the scope: what the generator is called with (any other would give the same). */
  readonly proxy: ProxyInfo;
  readonly types = new Map<string, TypeState>();
  /** The snapshot the resources were generated from; undefined before the first success. */
  snapshot: MeshSnapshot | undefined;
  /** The generation last attempted (successfully or not). */
  generation = 0;
  lastError: ScopeError | undefined;
  /** Whether every resource's bytes are kept (`bytes`), or only the last change's (`recent`). */
  retainsBytes = true;
  readonly bytes = new Map<string, Map<string, EncodedAny>>();
  /**
   * While bytes are kept: the JSON object each resource was encoded from. A generator that returns
   * the same object again (it memoises unchanged resources) costs neither encoding nor a digest.
   */
  readonly json = new Map<string, Map<string, ResourceJson>>();
  recent = new Map<string, Map<string, EncodedAny>>();
  /** Bytes regenerated for streams that need all of them; dropped by `releaseMaterialized()`. */
  materialized: Map<string, Map<string, EncodedAny>> | undefined;
  users = 0;
  idleSince: number | undefined;

  constructor(key: string, generator: XdsGenerator, proxy: ProxyInfo) {
    this.key = key;
    this.generator = generator;
    this.proxy = proxy;
  }

  /** True once resources were generated at least once. */
  get ready(): boolean {
    return this.snapshot !== undefined;
  }
}

export interface ResourceCacheOptions {
  retainBytesLimit?: number;
  idleTtlMs?: number;
  now?: () => number;
  /** Called when a generation fails (the scope keeps its last good resources). */
  onError?: (scope: Scope, error: unknown) => void;
}

/** The outcome of bringing a scope to a generation: per type, the names changed or removed. */
export type ScopeUpdate = ReadonlyMap<string, readonly string[]>;

export class ResourceCache {
  readonly #scopes = new Map<string, Scope>();
  readonly #retainBytesLimit: number;
  readonly #idleTtlMs: number;
  readonly #now: () => number;
  readonly #onError: ((scope: Scope, error: unknown) => void) | undefined;
  #versionCounter = 0;

  constructor(options: ResourceCacheOptions = {}) {
    this.#retainBytesLimit = options.retainBytesLimit ?? DEFAULT_RETAIN_BYTES_LIMIT;
    this.#idleTtlMs = options.idleTtlMs ?? DEFAULT_IDLE_SCOPE_TTL_MS;
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError;
  }

  get size(): number {
    return this.#scopes.size;
  }

  scopes(): IterableIterator<Scope> {
    return this.#scopes.values();
  }

  /** The scope of (generator, proxy), created empty if new; a user must `acquire` it. */
  scopeFor(generator: XdsGenerator, proxy: ProxyInfo): Scope {
    const key = `${generator.name}|${generator.scopeOf(proxy)}`;
    let scope = this.#scopes.get(key);
    if (!scope) {
      scope = new Scope(key, generator, proxy);
      this.#scopes.set(key, scope);
    }
    return scope;
  }

  acquire(scope: Scope): void {
    scope.users += 1;
    scope.idleSince = undefined;
  }

  release(scope: Scope): void {
    scope.users = Math.max(0, scope.users - 1);
    if (scope.users === 0) scope.idleSince = this.#now();
  }

  /** Drops scopes unused for longer than the idle TTL; returns how many. */
  prune(): number {
    const cutoff = this.#now() - this.#idleTtlMs;
    let dropped = 0;
    for (const [key, scope] of this.#scopes) {
      if (scope.users === 0 && scope.idleSince !== undefined && scope.idleSince <= cutoff) {
        this.#scopes.delete(key);
        dropped += 1;
      }
    }
    return dropped;
  }

  /**
   * Brings the scope to `generation` of `snapshot` (once per generation). Returns the names that
   * changed per type, or an empty map when nothing did or the generation failed. Atomic: a
   * generator or encoding failure changes nothing.
   */
  update(scope: Scope, snapshot: MeshSnapshot, generation: number): ScopeUpdate {
    if (scope.generation === generation) return new Map();
    scope.generation = generation;
    let staged: { types: Map<string, StagedType>; full: boolean };
    try {
      staged = this.#stage(scope, this.#generate(scope, snapshot));
    } catch (err) {
      scope.lastError = { generation, message: errorMessage(err), at: new Date(this.#now()).toISOString() };
      this.#onError?.(scope, err);
      return new Map();
    }
    scope.lastError = undefined;
    scope.snapshot = snapshot;
    scope.materialized = undefined;
    const result = new Map<string, readonly string[]>();
    const recent = new Map<string, Map<string, EncodedAny>>();
    for (const [typeUrl, type] of staged.types) {
      const touched = this.#apply(scope, typeUrl, type, recent);
      if (touched.length > 0) result.set(typeUrl, touched);
    }
    if (staged.full) {
      // Decide on everything: what is kept now, or every resource just encoded.
      let total = 0;
      if (scope.retainsBytes) for (const bytes of scope.bytes.values()) for (const any of bytes.values()) total += any.value.byteLength;
      else for (const type of staged.types.values()) for (const any of type.encoded.values()) total += any.value.byteLength;
      const retain = total <= this.#retainBytesLimit;
      if (!retain && scope.retainsBytes) {
        scope.bytes.clear();
        scope.json.clear();
      }
      // The full set was just encoded: this push reuses it rather than generating it again.
      if (!retain) scope.materialized = new Map([...staged.types].map(([typeUrl, type]) => [typeUrl, type.encoded]));
      scope.retainsBytes = retain;
    }
    scope.recent = scope.retainsBytes || staged.full ? new Map() : recent;
    return result;
  }

  /**
   * The encoded resources of `names` at their current versions. Bytes come from what the scope
   * keeps, else from its last change, else the scope is regenerated once (`materialize`).
   */
  bytesFor(scope: Scope, typeUrl: string, names: readonly string[]): Map<string, EncodedAny> {
    const out = new Map<string, EncodedAny>();
    let missing = false;
    const kept = scope.bytes.get(typeUrl);
    const recent = scope.recent.get(typeUrl);
    const materialized = scope.materialized?.get(typeUrl);
    for (const name of names) {
      const any = kept?.get(name) ?? recent?.get(name) ?? materialized?.get(name);
      if (any) out.set(name, any);
      else missing = true;
    }
    if (!missing) return out;
    const all = this.#materialize(scope).get(typeUrl);
    for (const name of names) {
      const any = all?.get(name);
      if (any && !out.has(name)) out.set(name, any);
    }
    return out;
  }

  /** Drops regenerated bytes held for streams of scopes that do not keep theirs. */
  releaseMaterialized(): void {
    for (const scope of this.#scopes.values()) scope.materialized = undefined;
  }

  #materialize(scope: Scope): Map<string, Map<string, EncodedAny>> {
    if (scope.materialized) return scope.materialized;
    const materialized = new Map<string, Map<string, EncodedAny>>();
    if (scope.snapshot) {
      for (const [typeUrl, resources] of scope.generator.generate(scope.snapshot, scope.proxy)) materialized.set(typeUrl, encodeAll(resources));
    }
    scope.materialized = materialized;
    return materialized;
  }

  /** What the generator says: per type, resources (all of them when `full`) and names removed. */
  #generate(scope: Scope, snapshot: MeshSnapshot): Map<string, { updated: NamedResources; removed: readonly string[]; full: boolean }> {
    const out = new Map<string, { updated: NamedResources; removed: readonly string[]; full: boolean }>();
    const incremental: GeneratedChanges | undefined =
      scope.snapshot && scope.generator.update ? scope.generator.update(scope.snapshot, snapshot, scope.proxy) : undefined;
    if (incremental) {
      for (const [typeUrl, { updated, removed }] of incremental) out.set(typeUrl, { updated, removed, full: false });
      return out;
    }
    const generated = scope.generator.generate(snapshot, scope.proxy);
    for (const typeUrl of scope.generator.typeUrls) {
      const resources: NamedResources = generated.get(typeUrl) ?? new Map();
      const previous = scope.types.get(typeUrl)?.versions;
      const removed = previous ? [...previous.keys()].filter((name) => !resources.has(name)) : [];
      out.set(typeUrl, { updated: resources, removed, full: true });
    }
    return out;
  }

  /** Encodes what needs it (not a resource whose JSON object is the one its bytes came from). May throw. */
  #stage(scope: Scope, generated: Map<string, { updated: NamedResources; removed: readonly string[]; full: boolean }>): { types: Map<string, StagedType>; full: boolean } {
    const types = new Map<string, StagedType>();
    let full = false;
    for (const [typeUrl, { updated, removed, full: typeFull }] of generated) {
      full ||= typeFull;
      const knownJson = scope.retainsBytes ? scope.json.get(typeUrl) : undefined;
      const encoded = new Map<string, EncodedAny>();
      const json = new Map<string, ResourceJson>();
      for (const [name, resource] of updated) {
        if (knownJson?.get(name) === resource) continue;
        encoded.set(name, encodeResource(resource));
        json.set(name, resource);
      }
      types.set(typeUrl, { encoded, json, removed });
    }
    return { types, full };
  }

  /** Applies one type's new bytes and removals; returns the names whose version changed or that went. */
  #apply(scope: Scope, typeUrl: string, staged: StagedType, recent: Map<string, Map<string, EncodedAny>>): string[] {
    let state = scope.types.get(typeUrl);
    if (!state) {
      state = { versions: new Map(), version: '', seq: 0, changedAt: '', log: [] };
      scope.types.set(typeUrl, state);
    }
    const bytes = mapIn(scope.bytes, typeUrl);
    const json = mapIn(scope.json, typeUrl);
    const touched: string[] = [];
    const changedBytes = new Map<string, EncodedAny>();
    for (const [name, any] of staged.encoded) {
      const version = digest(any);
      if (state.versions.get(name) !== version) {
        state.versions.set(name, version);
        touched.push(name);
        changedBytes.set(name, any);
      }
      if (scope.retainsBytes) {
        bytes.set(name, any);
        json.set(name, staged.json.get(name) as ResourceJson);
      }
    }
    for (const name of staged.removed) {
      if (state.versions.delete(name)) touched.push(name);
      bytes.delete(name);
      json.delete(name);
    }
    recent.set(typeUrl, changedBytes);
    // The first generation creates the type's version even when it has no resources.
    if (touched.length > 0 || state.version === '') {
      const now = new Date(this.#now()).toISOString();
      state.seq += 1;
      state.version = `${now.replace(/\.\d+Z$/, 'Z')}/${++this.#versionCounter}`;
      state.changedAt = now;
      state.log.push({ seq: state.seq, names: touched });
      if (state.log.length > CHANGE_LOG_LENGTH) state.log.shift();
    }
    return touched;
  }
}

interface StagedType {
  /** New bytes, by name (resources whose JSON object is unchanged are left out). */
  readonly encoded: Map<string, EncodedAny>;
  readonly json: Map<string, ResourceJson>;
  readonly removed: readonly string[];
}

function mapIn<V>(maps: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let map = maps.get(key);
  if (!map) {
    map = new Map();
    maps.set(key, map);
  }
  return map;
}

/** The names changed or removed since `seq`, or undefined when the log no longer reaches back that far. */
export function changedSince(state: TypeState, seq: number): Set<string> | undefined {
  if (seq === state.seq) return new Set();
  const first = state.log[0];
  if (!first || first.seq > seq + 1) return undefined;
  const names = new Set<string>();
  for (const entry of state.log) if (entry.seq > seq) for (const name of entry.names) names.add(name);
  return names;
}

function encodeAll(resources: NamedResources): Map<string, EncodedAny> {
  const encoded = new Map<string, EncodedAny>();
  for (const [name, resource] of resources) encoded.set(name, encodeResource(resource as ResourceJson));
  return encoded;
}

/** A resource's version: a digest of its bytes (96 bits, base64url). */
function digest(any: EncodedAny): string {
  return createHash('sha256').update(any.type_url).update(any.value).digest('base64url').slice(0, 16);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
