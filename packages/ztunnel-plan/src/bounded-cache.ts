/**
 * A memo for what the proxies compute again and again on their per-connection path from a few
 * inputs (a tunnel's compiled hostname/header templates, the inbound chain serving an address,
 * the source's baggage). It is bounded because its keys come from outside: configurations change,
 * pods come and go, and some keys (the address an inbound tunnel asks for) are the peer's to
 * choose, so an unbounded `Map` would grow for as long as the process runs.
 *
 * When it is full, storing a new key first clears it whole. The keys in use are few and come back
 * on the next connections, so a clear costs one miss per key in use; in exchange a hit stays one
 * `Map` lookup and a miss one `set`, with nothing allocated: least-recently-used would re-insert
 * the key on every hit, and evicting the oldest entry would make an iterator on every miss of a
 * full cache (the case a peer choosing addresses drives).
 *
 * Invariants: `size <= maxEntries`; a stored value is returned as stored (the same object) until
 * a clear; `undefined` is a value like any other, so a caller that stores it tells it from a miss
 * with `has`.
 */
export class BoundedCache<K, V> {
  readonly maxEntries: number;
  readonly #entries = new Map<K, V>();

  constructor(maxEntries: number) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError(`BoundedCache: maxEntries must be a positive integer, not ${maxEntries}`);
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  has(key: K): boolean {
    return this.#entries.has(key);
  }

  get(key: K): V | undefined {
    return this.#entries.get(key);
  }

  /** Stores `value` under `key`; if `key` is new and the cache already holds `maxEntries`, clears it first. */
  set(key: K, value: V): void {
    const entries = this.#entries;
    if (entries.size >= this.maxEntries && !entries.has(key)) entries.clear();
    entries.set(key, value);
  }
}
