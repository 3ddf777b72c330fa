import { describe, expect, it } from 'vitest';
import { BoundedCache } from './bounded-cache.js';

/** A cache bounded at as many entries as `keys`, holding them all (values 1, 2, …). */
function full(...keys: string[]): BoundedCache<string, number> {
  const cache = new BoundedCache<string, number>(keys.length);
  keys.forEach((key, i) => cache.set(key, i + 1));
  return cache;
}

describe('BoundedCache', () => {
  it('returns the stored value itself on a hit, and undefined on a miss', () => {
    const cache = new BoundedCache<string, { n: number }>(4);
    const value = { n: 1 };
    cache.set('a', value);
    expect(cache.get('a')).toBe(value);
    expect(cache.get('a')).toBe(value);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.has('b')).toBe(false);
  });

  it('keeps a stored undefined apart from a miss', () => {
    const cache = new BoundedCache<string, string | undefined>(4);
    cache.set('none', undefined);
    expect(cache.has('none')).toBe(true);
    expect(cache.get('none')).toBeUndefined();
    expect(cache.has('other')).toBe(false);
  });

  it('never holds more than maxEntries', () => {
    const cache = new BoundedCache<number, number>(3);
    for (let i = 0; i < 100; i++) {
      cache.set(i, i);
      expect(cache.size).toBeLessThanOrEqual(3);
    }
  });

  it('clears whole when a new key comes to a full cache, then keeps the new key', () => {
    const cache = full('a', 'b', 'c');
    expect(cache.size).toBe(3);
    cache.set('d', 4);
    expect(cache.size).toBe(1);
    expect(['a', 'b', 'c'].map((k) => cache.has(k))).toEqual([false, false, false]);
    expect(cache.get('d')).toBe(4);
  });

  it('replaces a key already held without clearing a full cache', () => {
    const cache = full('a', 'b');
    cache.set('a', 10);
    expect(cache.size).toBe(2);
    expect(cache.get('a')).toBe(10);
    expect(cache.get('b')).toBe(2);
  });

  it('refuses a bound that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new BoundedCache(bad)).toThrow(RangeError);
    }
    expect(new BoundedCache(1).maxEntries).toBe(1);
  });
});
