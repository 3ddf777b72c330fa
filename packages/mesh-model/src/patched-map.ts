/**
 * A read-only map made of a base map and a few changes on top of it, so that a snapshot built from
 * an earlier one by changing a few entries (a one-pod edit) costs those entries, not a copy of
 * every entry of a 10,000-entry index.
 *
 * Invariants:
 * - Immutable once made; `patchMap` returns a new map and never changes the one it is given.
 * - Patching a patched map keeps the same base and merges the changes, so lookups are one level
 *   deep however many edits were applied. Once more than `PATCH_FLATTEN_AT` changes piled up the
 *   result is a plain Map again (one copy per that many changed entries: amortised O(1) each).
 * - With `compare`, iteration is in key order, provided the base iterates in that order (the
 *   snapshot's maps do): the base's entries merged with the added keys, sorted once, lazily.
 *   Without it, the base's order, then the added keys in the order they were added.
 */

/** Changes kept on top of a base before the map is copied into a plain Map. */
export const PATCH_FLATTEN_AT = 256;

const GONE: unique symbol = Symbol('gone');
type Change<V> = V | typeof GONE;

class PatchedMap<K, V> implements ReadonlyMap<K, V> {
  readonly base: ReadonlyMap<K, V>;
  readonly changes: ReadonlyMap<K, Change<V>>;
  readonly compare: ((a: K, b: K) => number) | undefined;
  readonly size: number;
  #added: K[] | undefined;

  constructor(base: ReadonlyMap<K, V>, changes: ReadonlyMap<K, Change<V>>, compare: ((a: K, b: K) => number) | undefined, size: number) {
    this.base = base;
    this.changes = changes;
    this.compare = compare;
    this.size = size;
  }

  get(key: K): V | undefined {
    const change = this.changes.get(key);
    if (change === undefined) return this.changes.has(key) ? undefined : this.base.get(key);
    return change === GONE ? undefined : change;
  }

  has(key: K): boolean {
    const change = this.changes.get(key);
    if (change === undefined && !this.changes.has(key)) return this.base.has(key);
    return change !== GONE;
  }

  /** Keys present here and not in the base, in iteration order. */
  #addedKeys(): K[] {
    if (!this.#added) {
      const added: K[] = [];
      for (const [key, change] of this.changes) if (change !== GONE && !this.base.has(key)) added.push(key);
      if (this.compare) added.sort(this.compare);
      this.#added = added;
    }
    return this.#added;
  }

  *#entries(): Generator<[K, V]> {
    const added = this.#addedKeys();
    const compare = this.compare;
    let next = 0;
    for (const [key, value] of this.base) {
      if (compare) while (next < added.length && compare(added[next] as K, key) < 0) yield this.#entry(added[next++] as K);
      const change = this.changes.get(key);
      if (change === undefined && !this.changes.has(key)) yield [key, value];
      else if (change !== GONE) yield [key, change as V];
    }
    while (next < added.length) yield this.#entry(added[next++] as K);
  }

  #entry(key: K): [K, V] {
    return [key, this.changes.get(key) as V];
  }

  entries(): MapIterator<[K, V]> {
    return this.#entries() as unknown as MapIterator<[K, V]>;
  }

  *#keys(): Generator<K> {
    for (const [key] of this.#entries()) yield key;
  }

  keys(): MapIterator<K> {
    return this.#keys() as unknown as MapIterator<K>;
  }

  *#values(): Generator<V> {
    for (const [, value] of this.#entries()) yield value;
  }

  values(): MapIterator<V> {
    return this.#values() as unknown as MapIterator<V>;
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  forEach(callback: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.#entries()) callback.call(thisArg, value, key, this);
  }
}

/**
 * `map` with `changes` applied: a value sets the key, `undefined` deletes it. Costs the changes
 * (plus, every `PATCH_FLATTEN_AT` changed entries, one copy). Pass `compare` when `map` iterates
 * in key order and the result must too.
 */
export function patchMap<K, V>(map: ReadonlyMap<K, V>, changes: ReadonlyMap<K, V | undefined>, compare?: (a: K, b: K) => number): ReadonlyMap<K, V> {
  if (changes.size === 0) return map;
  const base = map instanceof PatchedMap ? (map.base as ReadonlyMap<K, V>) : map;
  const merged = new Map<K, Change<V>>(map instanceof PatchedMap ? (map.changes as ReadonlyMap<K, Change<V>>) : undefined);
  for (const [key, value] of changes) {
    if (value !== undefined) merged.set(key, value);
    else if (base.has(key)) merged.set(key, GONE);
    else merged.delete(key);
  }
  let size = base.size;
  for (const [key, change] of merged) {
    const inBase = base.has(key);
    if (change === GONE && inBase) size--;
    else if (change !== GONE && !inBase) size++;
  }
  const patched = new PatchedMap<K, V>(base, merged, compare, size);
  return merged.size > PATCH_FLATTEN_AT ? new Map(patched) : patched;
}
