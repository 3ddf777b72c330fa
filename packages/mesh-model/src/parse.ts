/**
 * Manifest parsing: multi-document YAML → mesh resources, with every problem reported as a
 * ManifestError (file:line:column, field path, what was expected). Parsing never throws; a bad
 * document is skipped and the others are still read, so one typo does not hide the rest.
 */
import { LineCounter, isMap, isScalar, parseAllDocuments, type Document, type Node as YamlNode } from 'yaml';
import { KINDS, isKnownKind } from './kinds.js';
import { DecodeContext, INVALID } from './schema.js';
import type { ManifestError, MeshResource, ParseResult } from './types.js';
import { deepFreeze } from './freeze.js';

const KIND_NAMES = Object.keys(KINDS).join(', ');

export function parseManifests(text: string, file: string): ParseResult {
  return parseManifestFiles([{ path: file, text }]);
}

/** Parses several files; a resource declared twice (same kind, namespace, name) is an error. */
export function parseManifestFiles(files: readonly { path: string; text: string }[]): ParseResult {
  const resources: MeshResource[] = [];
  const errors: ManifestError[] = [];
  const firstSeen = new Map<string, MeshResource>();
  for (const { path, text } of files) {
    for (const outcome of parseFile(text, path)) {
      if ('error' in outcome) {
        errors.push(outcome.error);
        continue;
      }
      const resource = outcome.resource;
      const key = resourceKey(resource);
      const first = firstSeen.get(key);
      if (first) {
        errors.push({
          file: path,
          line: resource.source?.line ?? 1,
          column: 1,
          path: 'metadata.name',
          message: `duplicate ${key}: already declared at ${first.source?.file}:${first.source?.line}`,
          kind: resource.kind,
          name: resource.name,
        });
        continue;
      }
      firstSeen.set(key, resource);
      resources.push(resource);
    }
  }
  return { resources, errors };
}

/** `Kind/namespace/name` for namespaced kinds, `Kind/name` for cluster-scoped ones. */
export function resourceKey(resource: MeshResource): string {
  return 'namespace' in resource ? `${resource.kind}/${resource.namespace}/${resource.name}` : `${resource.kind}/${resource.name}`;
}

type Outcome = { resource: MeshResource } | { error: ManifestError };

function* parseFile(text: string, file: string): Generator<Outcome> {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const position = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line: Math.max(line, 1), column: Math.max(col, 1) };
  };
  if (!Array.isArray(docs)) return; // an empty stream
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        yield { error: { file, ...position(err.pos[0]), path: '', message: `invalid YAML: ${err.message}` } };
      }
      continue;
    }
    yield* decodeDocument(doc, file, position);
  }
}

function* decodeDocument(
  doc: Document.Parsed,
  file: string,
  position: (offset: number) => { line: number; column: number },
): Generator<Outcome> {
  const root = doc.contents as YamlNode | null;
  if (root == null || (isScalar(root) && root.value === null)) return; // `---` with nothing after it
  const start = root.range?.[0] ?? 0;
  const fail = (offset: number, path: string, message: string, extra: Partial<ManifestError> = {}): Outcome => ({
    error: { file, ...position(offset), path, message, ...extra },
  });
  if (!isMap(root)) {
    yield fail(start, '', 'expected a Kubernetes object (a mapping with apiVersion, kind and metadata)');
    return;
  }
  const kindNode = root.get('kind', true) as YamlNode | undefined;
  const kind = isScalar(kindNode) && typeof kindNode.value === 'string' ? kindNode.value : undefined;
  const nameNode = root.getIn(['metadata', 'name'], true) as YamlNode | undefined;
  const name = isScalar(nameNode) && typeof nameNode.value === 'string' ? nameNode.value : undefined;
  const labels = { ...(kind ? { kind } : {}), ...(name ? { name } : {}) };
  if (kind === undefined) {
    yield fail(kindNode?.range?.[0] ?? start, 'kind', `missing required field "kind" (expected one of ${KIND_NAMES})`, labels);
    return;
  }
  if (!isKnownKind(kind)) {
    yield fail(kindNode?.range?.[0] ?? start, 'kind', `unknown kind "${kind}" (expected one of ${KIND_NAMES})`, labels);
    return;
  }
  const spec = KINDS[kind];
  const apiNode = root.get('apiVersion', true) as YamlNode | undefined;
  const apiVersion = isScalar(apiNode) ? apiNode.value : undefined;
  if (typeof apiVersion !== 'string' || !spec.apiVersions.includes(apiVersion)) {
    const got = apiVersion === undefined ? 'nothing' : JSON.stringify(apiVersion);
    yield fail(apiNode?.range?.[0] ?? start, 'apiVersion', `expected apiVersion ${spec.apiVersions.join(' or ')} for kind ${kind}, got ${got}`, labels);
  }
  const ctx = new DecodeContext(doc);
  const value = spec.decode(root, '', ctx, start);
  for (const issue of ctx.issues) yield fail(issue.offset, issue.path, issue.message, labels);
  if (value === INVALID || ctx.issues.length > 0 || typeof apiVersion !== 'string' || !spec.apiVersions.includes(apiVersion)) return;
  yield { resource: deepFreeze({ ...value, source: { file, line: position(start).line } } as MeshResource) };
}
