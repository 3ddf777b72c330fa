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
import { readPlainDocument, splitDocuments } from './plain-yaml.js';

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

/**
 * What of a re-read file stays in force: every document that parsed, plus, for each document
 * that did not, the last good version of the resource it declares (found by the kind,
 * namespace and name its error carries), so a broken edit never removes a policy and one bad
 * document never takes the good documents of its file with it. A problem that names no
 * resource (a YAML syntax error, a missing kind) keeps every earlier resource of the file that
 * the new text no longer declares, since any of them may be the broken one.
 */
export function keepLastGood(previous: readonly MeshResource[] | undefined, result: ParseResult): MeshResource[] {
  if (!previous || result.errors.length === 0) return result.resources;
  const parsed = new Set(result.resources.map(resourceKey));
  const refused = new Set<string>();
  let unnamed = false;
  for (const error of result.errors) {
    if (error.kind === undefined || error.name === undefined || !isKnownKind(error.kind)) {
      unnamed = true;
      continue;
    }
    refused.add(KINDS[error.kind].namespaced ? `${error.kind}/${error.namespace ?? 'default'}/${error.name}` : `${error.kind}/${error.name}`);
  }
  const kept = previous.filter((r) => !parsed.has(resourceKey(r)) && (unnamed || refused.has(resourceKey(r))));
  return [...result.resources, ...kept];
}

/** `Kind/namespace/name` for namespaced kinds, `Kind/name` for cluster-scoped ones. */
export function resourceKey(resource: MeshResource): string {
  return 'namespace' in resource ? `${resource.kind}/${resource.namespace}/${resource.name}` : `${resource.kind}/${resource.name}`;
}

type Outcome = { resource: MeshResource } | { error: ManifestError };

function* parseFile(text: string, file: string): Generator<Outcome> {
  const lineCounter = new LineCounter();
  const position = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line: Math.max(line, 1), column: Math.max(col, 1) };
  };
  const documents = splitDocuments(text);
  if (!documents) {
    // Directives or document end markers: the whole stream goes through the `yaml` package.
    yield* parseWithYaml(text, file, position, lineCounter);
    return;
  }
  lineCounter.addNewLine(0);
  for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) lineCounter.addNewLine(at + 1);
  for (const [start, end] of documents) {
    const root = readPlainDocument(text, start, end);
    if (root === undefined) yield* parseWithYaml(text.slice(start, end), file, (offset) => position(start + offset));
    else if (root !== null) yield* decodeDocument(root, undefined, file, position);
  }
}

/**
 * Documents read by the `yaml` package (all YAML, with its errors); `position` takes offsets in
 * `text` (a whole file or one document of it). A line counter, when given, is filled by the
 * parser (the caller has not counted the file's lines).
 */
function* parseWithYaml(
  text: string,
  file: string,
  position: (offset: number) => { line: number; column: number },
  lineCounter?: LineCounter,
): Generator<Outcome> {
  const docs = parseAllDocuments(text, { ...(lineCounter ? { lineCounter } : {}), prettyErrors: false });
  if (!Array.isArray(docs)) return; // an empty stream
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        yield { error: { file, ...position(err.pos[0]), path: '', message: `invalid YAML: ${err.message}` } };
      }
      continue;
    }
    yield* decodeDocument(doc.contents as YamlNode | null, doc, file, position);
  }
}

/**
 * One document's resource (`position` turns `root`'s offsets into the file's lines and columns;
 * `doc` resolves aliases when the document was composed by the `yaml` package).
 */
function* decodeDocument(
  root: YamlNode | null,
  doc: Document.Parsed | undefined,
  file: string,
  position: (offset: number) => { line: number; column: number },
): Generator<Outcome> {
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
  const namespaceNode = root.getIn(['metadata', 'namespace'], true) as YamlNode | undefined;
  const namespace = isScalar(namespaceNode) && typeof namespaceNode.value === 'string' ? namespaceNode.value : undefined;
  const labels = { ...(kind ? { kind } : {}), ...(name ? { name } : {}), ...(namespace ? { namespace } : {}) };
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
