/**
 * `meshctl waypoint apply|delete` on a manifests directory: what istioctl's apply and delete do
 * to the cluster (istioctl/pkg/waypoint), done to the files istiod-lite watches. Pure: the files'
 * text in, the files to write or remove and the messages out; the command does the I/O.
 *
 * - apply writes the waypoint's Gateway (replacing its document where it is declared, else a new
 *   file `waypoint-<namespace>-<name>.yaml`); with `--enroll-namespace` it labels the Namespace
 *   manifest `istio.io/use-waypoint: <name>` (creating `namespace-<namespace>.yaml` when no file
 *   declares the Namespace). As istioctl: the name `none` is reserved; the label
 *   `istio.io/waypoint-for` is written only when `--for` is given (absent, the mesh reads
 *   `service`); a namespace already enrolled with another waypoint is left alone (a warning, nothing
 *   written) unless `--overwrite`; a namespace that is not ambient gets a warning.
 * - delete removes the Gateway documents (a file left empty is removed) and the label
 *   `istio.io/use-waypoint` of the Namespace when it names the deleted waypoint (istioctl leaves
 *   it; here the namespace would otherwise name a waypoint that is gone, which `meshctl analyze`
 *   reports). A name that is not a waypoint in the namespace is reported, as istioctl does.
 *
 * Other documents of an edited file keep their text and comments (yaml's Document API).
 */
import { join } from 'node:path';
import { Document, isMap, parseAllDocuments, type Document as YamlDocument } from 'yaml';
import { MeshError } from '@mesh/errors';
import { DATAPLANE_MODE_AMBIENT, LABEL_DATAPLANE_MODE, LABEL_USE_WAYPOINT, LABEL_USE_WAYPOINT_NAMESPACE, WAYPOINT_GATEWAY_CLASS } from '@mesh/mesh-model';
import { WAYPOINT_FOR, waypointGateway, type WaypointFor } from './waypoint-views.js';

export interface ManifestFile {
  readonly path: string;
  readonly text: string;
}

export interface ManifestEdit {
  /** Files to write (whole text), by path. */
  readonly writes: ReadonlyArray<ManifestFile>;
  /** Files to remove (every document in them was deleted). */
  readonly removes: readonly string[];
  /** What was done, one line each (istioctl's messages, with the file). */
  readonly messages: readonly string[];
  /** What the user should know (istioctl's warnings). */
  readonly warnings: readonly string[];
}

export interface ApplyRequest {
  /** The directory new files go to. */
  readonly dir: string;
  readonly namespace: string;
  readonly name: string;
  /** `--for`; undefined leaves the label off (istioctl). */
  readonly trafficType?: string;
  readonly enrollNamespace: boolean;
  readonly overwrite: boolean;
}

export interface DeleteRequest {
  readonly namespace: string;
  /** Waypoints to delete; undefined with `all`. */
  readonly names: readonly string[] | undefined;
  readonly all: boolean;
}

interface LoadedFile {
  readonly path: string;
  docs: YamlDocument[];
  changed: boolean;
}

interface Found {
  readonly file: LoadedFile;
  readonly doc: YamlDocument;
}

function load(files: readonly ManifestFile[]): LoadedFile[] {
  return files.map((f) => {
    const docs = parseAllDocuments(f.text);
    if (!Array.isArray(docs)) return { path: f.path, docs: [], changed: false };
    return { path: f.path, docs, changed: false };
  });
}

const text = (doc: YamlDocument, path: string[]): string | undefined => {
  const v = doc.getIn(path);
  return typeof v === 'string' ? v : undefined;
};

/** Documents of `kind` named `name` in `namespace` (namespaced kinds default to `default`). */
function find(loaded: readonly LoadedFile[], kind: string, name: string, namespace?: string): Found[] {
  const out: Found[] = [];
  for (const file of loaded) {
    for (const doc of file.docs) {
      if (doc.errors.length > 0 || !isMap(doc.contents)) continue;
      if (text(doc, ['kind']) !== kind || text(doc, ['metadata', 'name']) !== name) continue;
      if (namespace !== undefined && (text(doc, ['metadata', 'namespace']) ?? 'default') !== namespace) continue;
      out.push({ file, doc });
    }
  }
  return out;
}

function render(file: LoadedFile): string {
  return file.docs.map((d) => d.toString({ lineWidth: 0 })).join('');
}

function result(loaded: readonly LoadedFile[], created: readonly ManifestFile[], messages: string[], warnings: string[]): ManifestEdit {
  const writes: ManifestFile[] = [...created];
  const removes: string[] = [];
  for (const file of loaded) {
    if (!file.changed) continue;
    if (file.docs.length === 0) removes.push(file.path);
    else writes.push({ path: file.path, text: render(file) });
  }
  return { writes, removes, messages, warnings };
}

function checkName(name: string): void {
  if (name === 'none') throw new MeshError('MESHCTL_ERR_BAD_FLAG', "invalid name provided for waypoint, 'none' is a reserved value", { hint: `${LABEL_USE_WAYPOINT}: none opts a resource out of waypoints` });
}

export function planWaypointApply(files: readonly ManifestFile[], req: ApplyRequest): ManifestEdit {
  checkName(req.name);
  if (req.trafficType !== undefined && !(WAYPOINT_FOR as readonly string[]).includes(req.trafficType)) {
    throw new MeshError('MESHCTL_ERR_BAD_FLAG', `invalid traffic type: ${req.trafficType}`, { hint: `valid options are ${WAYPOINT_FOR.join(', ')}` });
  }
  const loaded = load(files);
  const messages: string[] = [];
  const warnings: string[] = [];
  const created: ManifestFile[] = [];
  const { namespace, name } = req;

  const namespaces = find(loaded, 'Namespace', namespace);
  if (namespaces.length > 1) throw duplicate('Namespace', namespace, namespaces);
  const nsDoc = namespaces[0];
  if (req.enrollNamespace && nsDoc) {
    const current = text(nsDoc.doc, ['metadata', 'labels', LABEL_USE_WAYPOINT]);
    if (current !== undefined && current !== name && !req.overwrite) {
      // istioctl warns and applies nothing, so an enrolled namespace is never changed by surprise.
      warnings.push(`namespace ${namespace} (${nsDoc.file.path}) already has an enrolled waypoint (${LABEL_USE_WAYPOINT}: ${current}); add --overwrite to replace it`);
      return { writes: [], removes: [], messages, warnings };
    }
  }
  if (req.enrollNamespace && text(nsDoc?.doc ?? new Document({}), ['metadata', 'labels', LABEL_DATAPLANE_MODE]) !== DATAPLANE_MODE_AMBIENT) {
    warnings.push(`namespace ${namespace} is not enrolled in ambient (label ${LABEL_DATAPLANE_MODE}: ${DATAPLANE_MODE_AMBIENT}${nsDoc ? ` in ${nsDoc.file.path}` : ''}): its pods are not captured`);
  }

  // The Gateway: replace its document where it is declared, else a file of its own.
  const gateway = waypointGateway(name, namespace, req.trafficType as WaypointFor | undefined);
  const existing = find(loaded, 'Gateway', name, namespace);
  if (existing.length > 1) throw duplicate('Gateway', `${namespace}/${name}`, existing);
  const found = existing[0];
  if (found) {
    const className = text(found.doc, ['spec', 'gatewayClassName']);
    if (className !== WAYPOINT_GATEWAY_CLASS) {
      throw new MeshError('MESHCTL_ERR_NOT_A_WAYPOINT', `Gateway ${namespace}/${name} in ${found.file.path} has gatewayClassName ${className ?? '(none)'}, not ${WAYPOINT_GATEWAY_CLASS}`, {
        hint: 'choose another --name, or remove that Gateway first',
      });
    }
    const replacement = new Document(gateway);
    const i = found.file.docs.indexOf(found.doc);
    // Keep the document's place (and the `---` before it) in its file.
    if (found.doc.directives?.docStart && replacement.directives) replacement.directives.docStart = true;
    found.file.docs[i] = replacement;
    found.file.changed = true;
    messages.push(`waypoint ${namespace}/${name} applied (${found.file.path})`);
  } else {
    const path = join(req.dir, `waypoint-${namespace}-${name}.yaml`);
    if (loaded.some((f) => f.path === path)) throw new MeshError('MESHCTL_ERR_FILE_EXISTS', `${path} exists and does not declare Gateway ${namespace}/${name}`, { hint: 'move or remove that file, or choose another --name' });
    created.push({ path, text: new Document(gateway).toString({ lineWidth: 0 }) });
    messages.push(`waypoint ${namespace}/${name} applied (${path})`);
  }

  if (req.enrollNamespace) {
    if (nsDoc) {
      nsDoc.doc.setIn(['metadata', 'labels', LABEL_USE_WAYPOINT], name);
      nsDoc.file.changed = true;
      messages.push(`namespace ${namespace} labeled with "${LABEL_USE_WAYPOINT}: ${name}" (${nsDoc.file.path})`);
    } else {
      const path = join(req.dir, `namespace-${namespace}.yaml`);
      if (loaded.some((f) => f.path === path) || created.some((f) => f.path === path)) {
        throw new MeshError('MESHCTL_ERR_FILE_EXISTS', `${path} exists and does not declare Namespace ${namespace}`, { hint: 'declare the Namespace there, or move that file' });
      }
      const doc = new Document({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { [LABEL_USE_WAYPOINT]: name } } });
      created.push({ path, text: doc.toString({ lineWidth: 0 }) });
      messages.push(`namespace ${namespace} labeled with "${LABEL_USE_WAYPOINT}: ${name}" (${path}, created)`);
    }
  }
  return result(loaded, created, messages, warnings);
}

export function planWaypointDelete(files: readonly ManifestFile[], req: DeleteRequest): ManifestEdit {
  const loaded = load(files);
  const messages: string[] = [];
  const warnings: string[] = [];
  const { namespace } = req;
  const isWaypoint = (f: Found) => text(f.doc, ['spec', 'gatewayClassName']) === WAYPOINT_GATEWAY_CLASS;

  let targets: Found[];
  if (req.all || req.names === undefined) {
    targets = loaded.flatMap((file) =>
      file.docs
        .filter((doc) => doc.errors.length === 0 && text(doc, ['kind']) === 'Gateway' && (text(doc, ['metadata', 'namespace']) ?? 'default') === namespace)
        .map((doc) => ({ file, doc }))
        .filter(isWaypoint),
    );
    if (targets.length === 0) warnings.push(`no waypoints in namespace ${namespace}`);
  } else {
    targets = [];
    for (const name of req.names) {
      checkName(name);
      const found = find(loaded, 'Gateway', name, namespace).filter(isWaypoint);
      if (found.length === 0) messages.push(`waypoint ${namespace}/${name} not found`);
      targets.push(...found);
    }
  }

  const deleted = new Set<string>();
  for (const { file, doc } of targets) {
    const name = text(doc, ['metadata', 'name']) as string;
    file.docs = file.docs.filter((d) => d !== doc);
    // A file's first document needs no `---`; drop a now-leading marker so the file reads as before.
    const first = file.docs[0];
    if (first?.directives) first.directives.docStart = null;
    file.changed = true;
    deleted.add(name);
    messages.push(`waypoint ${namespace}/${name} deleted (${file.docs.length === 0 ? `${file.path} removed` : file.path})`);
  }

  // The namespace's enrollment in a deleted waypoint goes with it.
  for (const { file, doc } of find(loaded, 'Namespace', namespace)) {
    const enrolled = text(doc, ['metadata', 'labels', LABEL_USE_WAYPOINT]);
    const enrolledNs = text(doc, ['metadata', 'labels', LABEL_USE_WAYPOINT_NAMESPACE]) ?? namespace;
    if (enrolled === undefined || !deleted.has(enrolled) || enrolledNs !== namespace) continue;
    doc.deleteIn(['metadata', 'labels', LABEL_USE_WAYPOINT]);
    const labels = doc.getIn(['metadata', 'labels']);
    if (isMap(labels) && labels.items.length === 0) doc.deleteIn(['metadata', 'labels']);
    file.changed = true;
    messages.push(`namespace ${namespace}: label "${LABEL_USE_WAYPOINT}: ${enrolled}" removed (${file.path})`);
  }
  return result(loaded, [], messages, warnings);
}

function duplicate(kind: string, name: string, found: readonly Found[]): MeshError {
  return new MeshError('MESHCTL_ERR_DUPLICATE_MANIFEST', `${kind} ${name} is declared more than once: ${found.map((f) => f.file.path).join(', ')}`, {
    hint: `keep one declaration (istiod-lite would take only one of them)`,
  });
}
