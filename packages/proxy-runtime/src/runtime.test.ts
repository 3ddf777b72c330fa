import { describe, expect, it } from 'vitest';
import { configDumpSecrets } from './admin.js';
import { SwapModelStore, type Candidate, type ModelChange } from './model-store.js';
import { formatLabels } from './prometheus.js';
import { RoundRobin } from './round-robin.js';
import type { ResourceJson } from '@mesh/xds';

interface Model {
  readonly names: readonly string[];
}

class NamesStore extends SwapModelStore<Model> {
  constructor() {
    super({ names: [] });
  }
  get typeUrls(): readonly string[] {
    return ['t'];
  }
  protected compile(_typeUrl: string, resources: readonly ResourceJson[]): Candidate<Model> {
    if (resources.some((r) => typeof r['name'] !== 'string')) return { error: 'a resource has no name' };
    const names = resources.map((r) => String(r['name']));
    return { next: (model) => ({ ...model, names }) };
  }
}

const res = (name: unknown) => ({ '@type': 't', name }) as ResourceJson;

describe('SwapModelStore', () => {
  it('puts a validated update in force on commit as a new model, and leaves the one a reader holds as it was', () => {
    const store = new NamesStore();
    const changes: Array<ModelChange<Model>> = [];
    store.on('change', (c: ModelChange<Model>) => changes.push(c));
    const held = store.model;
    expect(store.validate('t', '1', [res('a')])).toBeUndefined();
    expect(store.model).toBe(held); // not before the commit
    store.commit('t');
    expect(store.model.names).toEqual(['a']);
    expect(held.names).toEqual([]);
    expect(changes).toEqual([{ typeUrl: 't', model: store.model, previous: held }]);
    expect(store.synced).toBe(true);
    expect(store.typeStates.get('t')).toMatchObject({ version: '1', resources: [res('a')] });
  });

  it('keeps the last good model after a NACK, and a commit without a candidate changes nothing', () => {
    const store = new NamesStore();
    store.apply('t', '1', [res('a')]);
    const good = store.model;
    expect(store.validate('t', '2', [res(7)])).toBe('a resource has no name');
    store.commit('t');
    expect(store.model).toBe(good);
    expect(store.typeStates.get('t')?.version).toBe('1');
  });
});

describe('RoundRobin', () => {
  it('takes the next item per key, and goes on where it was when the items are replaced', () => {
    const rr = new RoundRobin();
    expect([1, 2, 3].map(() => rr.pick('a', ['x', 'y']))).toEqual(['x', 'y', 'x']);
    expect(rr.pick('b', ['p', 'q'])).toBe('p');
    expect(rr.pick('a', ['x2', 'y2'])).toBe('y2');
    expect(rr.pick('a', [])).toBeUndefined();
  });
});

describe('configDumpSecrets', () => {
  it('lists each certificate in use with its key redacted, then ROOTCA', () => {
    const secrets = configDumpSecrets(
      [
        { identity: 'spiffe://td/ns/a/sa/a', state: 'ready', serialNumber: '01', notBefore: '2026-01-01T00:00:00.000Z', certChainPem: 'CHAIN' },
        { identity: 'spiffe://td/ns/b/sa/b', state: 'pending' },
      ],
      { pem: 'ROOT', lastUpdated: '2026-01-02T00:00:00.000Z' },
    );
    expect(secrets.map((s) => [s.name, s.version, s.lastUpdated])).toEqual([
      ['spiffe://td/ns/a/sa/a', '01', '2026-01-01T00:00:00.000Z'],
      ['ROOTCA', '', '2026-01-02T00:00:00.000Z'],
    ]);
    expect(JSON.stringify(secrets)).toContain('[redacted]');
    expect(configDumpSecrets([], undefined)).toEqual([]);
  });
});

describe('formatLabels', () => {
  it('writes the labels in the given order, escaping backslash, newline and double quote', () => {
    expect(formatLabels(['b', 'a'] as const, { a: 'x"y', b: 'p\\q\nr' })).toBe('b="p\\\\q\\nr",a="x\\"y"');
  });
});
