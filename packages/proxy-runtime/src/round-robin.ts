/**
 * Round robin per key (a cluster name): each pick takes the next of the given items. The cursor
 * is kept per key, apart from the items, so it survives an EDS update that replaces them (a new
 * list of the same endpoints goes on where the old one was).
 */
export class RoundRobin {
  /** Wraps well below 2^53 so a long-lived key never loses precision. */
  static readonly #WRAP = 1_000_000_007;
  readonly #cursors = new Map<string, number>();

  pick<T>(key: string, items: readonly T[]): T | undefined {
    if (items.length === 0) return undefined;
    const cursor = this.#cursors.get(key) ?? 0;
    this.#cursors.set(key, (cursor + 1) % RoundRobin.#WRAP);
    return items[cursor % items.length];
  }
}
