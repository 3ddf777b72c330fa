/**
 * Hostile manifests: every field of every document of the sample mesh (every kind: Namespace,
 * ServiceAccount, Node, Pod, Service, AuthorizationPolicy, PeerAuthentication, Gateway,
 * HTTPRoute) replaced in turn by a value of each wrong type — number, string, boolean, null,
 * list, mapping, a negative number, a huge number, a 10,000-character string — and the file read
 * the way istiod-lite reads it, then generated for every proxy. Parsing never throws; a
 * rejected document is reported with file, line, column and the field path, and the other
 * document in the file is still served; what parsing accepts, every generator either serves or
 * refuses with a MeshError naming why (istiod-lite keeps the last good config then), never a
 * TypeError (generated once per field and shape of value, to keep the run short). The table of input classes is in docs/operations.md ("Hostile input").
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { isMeshError } from '@mesh/errors';
import { buildSnapshot, parseManifests, type MeshResource } from '@mesh/mesh-model';
import { meshGenerators } from '../src/xds/proxy-resources.js';
import { proxyFromNode } from '../src/xds/proxy-node.js';

const EXAMPLES = join(import.meta.dirname, '../../../examples');
const FILE = 'hostile.yaml';
const WRONG_VALUES: readonly unknown[] = [42, 'text', true, null, [], {}, -1, 1e15, 'x'.repeat(10_000)];
/** A document that must be served whatever happens to the one before it in the same file. */
const CANARY = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'canary', namespace: 'default' } };

const DIRS = ['bookinfo', 'waypoint', 'policies'];
const documents = DIRS.flatMap((dir) =>
  readdirSync(join(EXAMPLES, dir))
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseAllDocuments(readFileSync(join(EXAMPLES, dir, f), 'utf8')).map((d, i) => ({ source: `${dir}/${f}#${i}`, value: d.toJS() as unknown })))
    .filter((d) => d.value !== null && typeof d.value === 'object'),
);

/** The rest of the mesh, parsed once: what a mutated document is generated together with. */
const baseline = DIRS.flatMap((dir) =>
  readdirSync(join(EXAMPLES, dir))
    .filter((f) => f.endsWith('.yaml') && dir !== 'policies')
    .flatMap((f) => parseManifests(readFileSync(join(EXAMPLES, dir, f), 'utf8'), `${dir}/${f}`).resources),
);

/**
 * Rules across fields that are reported at the field they forbid, not at the one that changed:
 * a PeerAuthentication whose selector became empty (e.g. `matchLabels: null`, which Kubernetes
 * reads as unset) may not keep its `portLevelMtls` (Istio: "mesh/namespace peer authentication
 * cannot have port level mTLS").
 */
const CROSS_FIELD_RULES: readonly { field: string; reportedAt: string }[] = [{ field: 'spec.selector', reportedAt: 'spec.portLevelMtls' }];

type PathPart = string | number;

/** Every path to a value in `value` (mappings and lists, at any depth). */
function* paths(value: unknown, prefix: PathPart[] = []): Generator<PathPart[]> {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      yield [...prefix, i];
      yield* paths(item, [...prefix, i]);
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      yield [...prefix, key];
      yield* paths(item, [...prefix, key]);
    }
  }
}

function valueAt(doc: unknown, path: readonly PathPart[]): unknown {
  let at = doc as Record<string | number, unknown>;
  for (const part of path) at = at[part] as Record<string | number, unknown>;
  return at;
}

/** The same kind of value, plainly (`"text"` for a string field): not hostile, not tried. */
const sameKindPlain = (original: unknown, wrong: unknown) =>
  (typeof original === 'string' && wrong === 'text') || (typeof original === 'number' && wrong === 42) || (typeof original === 'boolean' && wrong === true);

const totals = { mutations: 0, rejected: 0, accepted: 0, generated: 0, generatorRefusals: 0 };
/** Values that change a field's shape; the others are scalars of the wrong type. */
const STRUCTURAL: readonly unknown[] = WRONG_VALUES.filter((v) => v === null || typeof v === 'object' || (typeof v === 'string' && v.length > 100));
const generated = new Set<string>();

function withValue(doc: unknown, path: readonly PathPart[], replacement: unknown): unknown {
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let at = copy;
  for (const part of path.slice(0, -1)) at = at[part] as Record<string | number, unknown>;
  at[path.at(-1) as PathPart] = structuredClone(replacement);
  return copy;
}

/** `spec.ports[0].port`: how manifest errors name a field. */
/** The parser's display form of a path: list indices and port-number keys (`portLevelMtls[9080]`) in brackets. */
const fieldPath = (path: readonly PathPart[]) => path.map((p, i) => (typeof p === 'number' || /^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');

const proxies = [
  proxyFromNode({ id: 'ztunnel~10.77.0.11~ztunnel-node-a~istio-system.svc.cluster.local', metadata: { NODE_NAME: 'node-a' } } as never, 'node-a'),
  proxyFromNode({ id: 'ztunnel~10.77.0.12~ztunnel-node-b~istio-system.svc.cluster.local', metadata: { NODE_NAME: 'node-b' } } as never, 'node-b'),
  proxyFromNode({ id: 'waypoint~10.77.2.30~waypoint-0~echo.svc.cluster.local', metadata: { NODE_NAME: 'node-b' } } as never, 'node-b'),
];

/** Generates every type for every proxy; a refusal must be a MeshError (the server then keeps the last good config). */
function generateAll(resources: readonly MeshResource[]): string[] {
  const snapshot = buildSnapshot(resources, { trustDomain: 'cluster.local' });
  const refusals: string[] = [];
  for (const proxy of proxies) {
    for (const typeUrl of meshGenerators.typeUrlsFor(proxy)) {
      try {
        meshGenerators.generatorFor(proxy, typeUrl)?.generate(snapshot, proxy);
      } catch (err) {
        if (!isMeshError(err)) throw err;
        refusals.push(err.message);
      }
    }
  }
  return refusals;
}

describe('hostile manifests: every field of every sample document, each wrong type', () => {
  it(`covers every kind of the sample mesh (${documents.length} documents)`, () => {
    const kinds = new Set(documents.map((d) => (d.value as { kind?: string }).kind));
    expect([...kinds].sort()).toEqual(['AuthorizationPolicy', 'Gateway', 'HTTPRoute', 'Namespace', 'Node', 'PeerAuthentication', 'Pod', 'Service', 'ServiceAccount']);
  });

  it.each(documents.map((d) => [d.source, d] as const))('%s', (_source, { value }) => {
    let mutations = 0;
    let rejected = 0;
    for (const path of paths(value)) {
      for (const wrong of WRONG_VALUES) {
        if (sameKindPlain(valueAt(value, path), wrong)) continue;
        const mutated = withValue(value, path, wrong);
        const text = `${stringify(mutated)}---\n${stringify(CANARY)}`;
        mutations++;
        totals.mutations++;
        const result = parseManifests(text, FILE); // never throws: a throw fails the test here
        const canary = result.resources.find((r) => r.kind === 'ServiceAccount' && r.name === 'canary');
        expect(canary, `${fieldPath(path)} = ${JSON.stringify(wrong)?.slice(0, 40)}: the other document was not served`).toBeDefined();
        const accepted = result.resources.some((r) => r !== canary);
        const field = fieldPath(path);
        if (!accepted) {
          rejected++;
          totals.rejected++;
          expect(result.errors.length, `${fieldPath(path)}: rejected without an error`).toBeGreaterThan(0);
          for (const error of result.errors) {
            expect(error).toMatchObject({ file: FILE, line: expect.any(Number), column: expect.any(Number), message: expect.any(String) });
            expect(error.line).toBeGreaterThanOrEqual(1);
            expect(error.message.length).toBeGreaterThan(0);
          }
          // The error names the field, one on the way to it or below it, or — for rules across
          // fields, e.g. "DENY action without rules", "got text/Gateway" — a sibling in the same
          // object; kind/apiVersion/name problems are named as such.
          const parent = fieldPath(path.slice(0, -1));
          const named = result.errors.some(
            (e) =>
              e.path === '' ||
              field.startsWith(e.path) ||
              e.path.startsWith(field) ||
              (parent !== '' && e.path.startsWith(parent)) ||
              ['kind', 'apiVersion', 'metadata.name'].includes(e.path) ||
              CROSS_FIELD_RULES.some((rule) => field.startsWith(rule.field) && e.path === rule.reportedAt),
          );
          expect(named, `${fieldPath(path)} = ${JSON.stringify(wrong)?.slice(0, 40)}: errors ${JSON.stringify(result.errors.map((e) => e.path))}`).toBe(true);
        } else {
          // What parsing accepts goes on to the generators with the rest of the mesh.
          const others = baseline.filter((r) => !result.resources.some((m) => m !== canary && m.kind === r.kind && m.name === r.name && ('namespace' in m ? m.namespace : '') === ('namespace' in r ? r.namespace : '')));
          totals.accepted++;
          // Generating costs ~30 ms a time: once per field and kind of value (scalar, or the structural ones).
          const key = `${field}|${STRUCTURAL.includes(wrong) ? JSON.stringify(wrong)?.slice(0, 12) : 'scalar'}`;
          if (!generated.has(key)) {
            generated.add(key);
            totals.generated++;
            totals.generatorRefusals += generateAll([...others, ...result.resources.filter((r) => r !== canary)]).length;
          }
        }
      }
    }
    expect(mutations).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  }, 120_000);

  afterAll(() => {
    console.log(
      `hostile manifests: ${totals.mutations} mutated documents; ${totals.rejected} rejected with file:line:column and the field; ${totals.accepted} accepted, ${totals.generated} of them (one per field and shape of value) generated for every proxy (${totals.generatorRefusals} generator refusals, all MeshErrors); none threw`,
    );
  });
});
