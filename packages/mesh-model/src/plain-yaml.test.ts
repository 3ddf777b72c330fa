import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMap, isScalar, isSeq, parseAllDocuments, type Node as YamlNode } from 'yaml';
import { parseManifests } from './index.js';
import { readPlainDocument, splitDocuments } from './plain-yaml.js';

const EXAMPLES = join(import.meta.dirname, '../../../examples');

/** What the decoders see of a node: its type, value or children, and its start offset in the file. */
function shape(node: YamlNode | null | undefined, base: number): unknown {
  if (node == null) return null;
  const at = (node.range?.[0] ?? -1) + base;
  if (isMap(node)) return { map: at, items: node.items.map((p) => [shape(p.key as YamlNode, base), shape(p.value as YamlNode, base)]) };
  if (isSeq(node)) return { seq: at, items: node.items.map((item) => shape(item as YamlNode, base)) };
  if (isScalar(node)) return { scalar: at, value: node.value, type: typeof node.value };
  return { other: at };
}

/**
 * Every document of `text` the plain reader accepts must read exactly as the `yaml` package
 * reads it (values, types, offsets); returns how many documents it accepted and refused.
 */
function compareWithYaml(text: string): { plain: number; refused: number } {
  const documents = splitDocuments(text);
  expect(documents, 'the stream splits into documents').toBeDefined();
  let plain = 0;
  let refused = 0;
  for (const [start, end] of documents!) {
    const mine = readPlainDocument(text, start, end);
    if (mine === undefined) {
      refused++;
      continue;
    }
    const theirs = parseAllDocuments(text.slice(start, end));
    const docs = Array.isArray(theirs) ? theirs : [];
    expect(docs.flatMap((d) => d.errors.map((e) => e.message)), 'a document read as plain has no YAML errors').toEqual([]);
    // An empty document: the yaml package composes a null scalar, which the parser skips as it skips null.
    const root = docs[0]?.contents as YamlNode | null | undefined;
    expect(shape(mine, 0)).toEqual(root == null || (isScalar(root) && root.value === null) ? null : shape(root, start));
    if (mine !== null) plain++;
  }
  return { plain, refused };
}

const PLAIN = `# a comment before the first document
apiVersion: v1
kind: Pod
metadata:
  name: web-1   # trailing comment
  namespace: "ns-1"
  labels:
    app: 'it''s'
    "quoted key": yes
    version: v1
    port: 8080
    flag: true
    negative: -5
    address: 10.0.0.1
    cidr: 10.20.0.0/16
    url: http://example.com/a#b
spec:
  containers: [{name: app, ports: [{name: http, containerPort: 8080}]}, {name: side}]
  list:
  - a
  - - nested
    - 2
  -
    x: 1
  compact:
    - name: one
      value: 1
    - {type: InternalIP, address: 10.0.0.2}
  empty: {}
  none: []
---
# only a comment
--- # a marker with a comment
kind: Service
`;

describe('plain YAML reader', () => {
  it('reads plain manifests exactly as the yaml package does', () => {
    expect(compareWithYaml(PLAIN)).toEqual({ plain: 2, refused: 0 });
  });

  it('reads every example manifest as the yaml package does, and most of them itself', () => {
    let plain = 0;
    for (const dir of ['bookinfo', 'policies', 'waypoint']) {
      for (const file of readdirSync(join(EXAMPLES, dir)).filter((f) => f.endsWith('.yaml'))) {
        plain += compareWithYaml(readFileSync(join(EXAMPLES, dir, file), 'utf8')).plain;
      }
    }
    expect(plain).toBeGreaterThan(10);
  });

  it.each([
    ['an anchor and an alias', 'a: &x 1\nb: *x\n'],
    ['a tag', 'a: !!str 1\n'],
    ['a block scalar', 'a: |\n  text\n'],
    ['a folded scalar', 'a: >-\n  text\n'],
    ['a multi-line plain scalar', 'a: one\n  two\n'],
    ['a multi-line quoted scalar', 'a: "one\n  two"\n'],
    ['an escape', 'a: "\\u0041"\n'],
    ['an empty value', 'a:\nb: 1\n'],
    ['a null', 'a: null\n'],
    ['a float', 'a: 1.5\n'],
    ['an octal', 'a: 0o17\n'],
    ['a hexadecimal', 'a: 0x1f\n'],
    ['a large integer', 'a: 12345678901234567890\n'],
    ['a duplicate key', 'a: 1\na: 2\n'],
    ['a merge key', 'a: {x: 1}\n<<: {y: 2}\n'],
    ['a tab', 'a:\tb\n'],
    ['a CRLF line end', 'a: 1\r\nb: 2\r\n'],
    ['an indented root', '  a: 1\n'],
    ['a scalar root', 'just text\n'],
    ['a sequence root', '- a\n'],
    ['a bad indentation', 'a:\n  b: 1\n   c: 2\n'],
    ['a flow collection that spans lines', 'a: [1,\n  2]\n'],
    ['a trailing comma', 'a: [1, 2, ]\n'],
    ['a colon in a flow value', 'a: [fd00::1]\n'],
    ['a complex key', '? a\n: b\n'],
    ['a value that is a mapping on one line', 'a: b: c\n'],
    ['content after the marker', '--- {a: 1}\n'],
  ])('leaves %s to the yaml package', (_, text) => {
    expect(compareWithYaml(text)).toEqual({ plain: 0, refused: 1 });
  });

  it('leaves nesting deeper than the stack to the yaml package', () => {
    const deep = `a: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`;
    expect(readPlainDocument(deep, 0, deep.length)).toBeUndefined();
  });

  it('leaves a stream with directives or document end markers whole to the yaml package', () => {
    expect(splitDocuments('%YAML 1.2\n---\na: 1\n')).toBeUndefined();
    expect(splitDocuments('a: 1\n...\n---\nb: 2\n')).toBeUndefined();
  });

  it('reports file:line:column in plain and refused documents of one file alike', () => {
    const text = `apiVersion: v1
kind: Service
metadata: {name: ok}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: &n bad
spec:
  ports: [{name: http, port: 99999}]
---
apiVersion: v1
kind: Service
metadata: {name: also-bad}
spec:
  ports: [{name: http, port: 0}]
---
a: [unclosed
`;
    const { resources, errors } = parseManifests(text, 'mixed.yaml');
    expect(resources.map((r) => [r.name, r.source?.line])).toEqual([['ok', 1]]);
    expect(errors.map((e) => `${e.line}:${e.column} ${e.path}`)).toEqual(['12:30 spec.ports[0].port', '18:30 spec.ports[0].port', ...errors.slice(2).map((e) => `${e.line}:${e.column} `)]);
    expect(errors.slice(2).every((e) => e.line >= 20 && e.message.startsWith('invalid YAML'))).toBe(true);
    // The same file through the yaml package alone (a directive keeps it whole) reports the same, two lines down.
    const whole = parseManifests(`%YAML 1.2\n---\n${text}`, 'mixed.yaml');
    expect(whole.errors.map((e) => `${e.line - 2}:${e.column} ${e.path}: ${e.message}`)).toEqual(errors.map((e) => `${e.line}:${e.column} ${e.path}: ${e.message}`));
    expect(whole.resources).toEqual(resources.map((r) => ({ ...r, source: { ...r.source, line: r.source!.line + 2 } })));
  });
});
