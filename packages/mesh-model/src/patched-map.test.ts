import { describe, expect, it } from 'vitest';
import { PATCH_FLATTEN_AT, patchMap } from './patched-map.js';
import { seededRandom } from './testing.js';

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const key = (n: number) => `k${String(n).padStart(4, '0')}`;

describe('patchMap', () => {
  it('answers like a copied and sorted Map through a long chain of patches, flattening on the way', () => {
    const next = seededRandom(7);
    const reference = new Map<string, number>();
    for (let i = 0; i < 500; i += 2) reference.set(key(i), i);
    let patched: ReadonlyMap<string, number> = new Map(reference);
    for (let step = 0; step < 3 * PATCH_FLATTEN_AT; step++) {
      const changes = new Map<string, number | undefined>();
      for (let j = 0; j < 3; j++) {
        const k = key(Math.floor(next() * 600));
        changes.set(k, next() < 0.3 ? undefined : step);
      }
      for (const [k, v] of changes) {
        if (v === undefined) reference.delete(k);
        else reference.set(k, v);
      }
      patched = patchMap(patched, changes, compare);
      const sorted = [...reference].sort(([a], [b]) => compare(a, b));
      expect(patched.size).toBe(reference.size);
      if (step % 50 === 0 || step === 3 * PATCH_FLATTEN_AT - 1) {
        expect([...patched]).toEqual(sorted);
        expect([...patched.keys()]).toEqual(sorted.map(([k]) => k));
        expect([...patched.values()]).toEqual(sorted.map(([, v]) => v));
      }
      for (const k of changes.keys()) {
        expect(patched.get(k)).toBe(reference.get(k));
        expect(patched.has(k)).toBe(reference.has(k));
      }
    }
  });

  it('never changes the map it patches, and returns it when nothing changed', () => {
    const base = new Map([['a', 1], ['c', 3]]);
    const once = patchMap(base, new Map([['b', 2], ['c', undefined]]), compare);
    const twice = patchMap(once, new Map([['a', undefined], ['d', 4]]), compare);
    expect([...base]).toEqual([['a', 1], ['c', 3]]);
    expect([...once]).toEqual([['a', 1], ['b', 2]]);
    expect([...twice]).toEqual([['b', 2], ['d', 4]]);
    expect(patchMap(twice, new Map())).toBe(twice);
    const seen: string[] = [];
    twice.forEach((v, k) => seen.push(`${k}=${v}`));
    expect(seen).toEqual(['b=2', 'd=4']);
  });
});
