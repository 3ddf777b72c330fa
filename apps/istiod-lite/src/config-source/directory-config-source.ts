/**
 * A ConfigSource over a directory of *.yaml / *.yml manifests (read recursively).
 *
 * Invariants:
 * - Per document, not per file: a document that fails to parse is reported (file:line:column
 *   path) and the last good version of the resource it declares stays in force, while the
 *   file's other documents and other files' changes apply (mesh-model `keepLastGood`).
 * - A document that has never parsed cleanly contributes nothing.
 * - Only files whose stat (inode, size, modification and change times) or text changed are read
 *   and parsed again; the others keep their parsed resources (the same objects, which lets the
 *   generators see what an edit did not touch). In a file read again, a document whose resource
 *   is unchanged keeps its object too.
 * - The snapshot is built from the last one with the objects that left and entered the list
 *   (mesh-model `ResourceChanges`), so a one-pod edit costs that pod, not a walk over the mesh.
 * - Changes are debounced (DEFAULT_DEBOUNCE_MS) so an editor's write-rename-chmod burst
 *   produces one snapshot; a snapshot is emitted only when the content in force changed.
 *
 * Watching uses `fs.watch(dir, {recursive: true})`, which Node 20 supports on Linux (checked on
 * 20.20: create, modify and files in new sub-directories are reported). Every event triggers a
 * re-scan, so a missed filename never loses a change.
 */
import { EventEmitter } from 'node:events';
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { MeshError } from '@mesh/errors';
import { buildSnapshot, keepLastGood, parseManifests, resourceKey } from '@mesh/mesh-model';
import type { ManifestError, MeshResource, MeshSnapshot } from '@mesh/mesh-model';
import type { Logger } from '../log.js';
import { formatManifestError } from './config-source.js';
import type { ConfigSource } from './config-source.js';

export const DEFAULT_DEBOUNCE_MS = 100;
const MANIFEST_FILE = /\.ya?ml$/i;

export interface DirectoryConfigSourceOptions {
  trustDomain: string;
  logger: Logger;
  debounceMs?: number;
}

interface FileState {
  text: string;
  /** What `stat` said when the text was read: a file whose stat is unchanged is not read again. */
  stamp: string;
  /** Resources in force: the last good version of each document. */
  inForce: readonly MeshResource[] | undefined;
  errors: readonly ManifestError[];
}

export class DirectoryConfigSource extends EventEmitter implements ConfigSource {
  readonly dir: string;
  readonly #options: DirectoryConfigSourceOptions;
  readonly #files = new Map<string, FileState>();
  #snapshot: MeshSnapshot;
  #generation = 1;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reloading: Promise<void> | undefined;
  #reloadAgain = false;
  #closed = false;

  private constructor(dir: string, options: DirectoryConfigSourceOptions) {
    super();
    this.dir = dir;
    this.#options = options;
    this.#snapshot = buildSnapshot([], { trustDomain: options.trustDomain });
  }

  /** Reads the directory, builds the first snapshot and starts watching. */
  static async open(dir: string, options: DirectoryConfigSourceOptions): Promise<DirectoryConfigSource> {
    const info = await stat(dir).catch((cause: unknown) => {
      throw new MeshError('ISTIOD_ERR_CONFIG_DIR', `cannot read the config directory ${dir}: ${String(cause)}`, {
        cause,
        hint: 'pass --config-dir <dir> naming a directory of *.yaml manifests',
      });
    });
    if (!info.isDirectory()) throw new MeshError('ISTIOD_ERR_CONFIG_DIR', `${dir} is not a directory`);
    const source = new DirectoryConfigSource(dir, options);
    await source.#reload(true);
    source.#watch();
    return source;
  }

  current(): MeshSnapshot {
    return this.#snapshot;
  }

  generation(): number {
    return this.#generation;
  }

  problems(): readonly ManifestError[] {
    return [...this.#files.values()].flatMap((file) => file.errors);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#watcher?.close();
  }

  /** Re-reads now instead of waiting for the watcher (tests, SIGHUP). Resolves when applied. */
  async reload(): Promise<void> {
    await this.#scheduleReloadNow();
  }

  #watch(): void {
    this.#watcher = watch(this.dir, { recursive: true }, () => {
      if (this.#closed) return;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => void this.#scheduleReloadNow(), this.#options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
    });
    this.#watcher.on('error', (err) => this.#options.logger.error('config directory watch failed', { dir: this.dir, error: String(err) }));
  }

  /** Serialises reloads: an event during a reload causes exactly one more. */
  async #scheduleReloadNow(): Promise<void> {
    if (this.#reloading) {
      this.#reloadAgain = true;
      return this.#reloading;
    }
    this.#reloading = (async () => {
      do {
        this.#reloadAgain = false;
        await this.#reload(false).catch((err: unknown) =>
          this.#options.logger.error('config reload failed; the previous snapshot stays in force', { error: String(err) }),
        );
      } while (this.#reloadAgain && !this.#closed);
    })();
    try {
      await this.#reloading;
    } finally {
      this.#reloading = undefined;
    }
  }

  async #reload(initial: boolean): Promise<void> {
    const paths = await listManifestFiles(this.dir);
    const present = new Set(paths);
    let changed = false;
    // The objects that left and entered the list; undefined once a file only reordered its
    // resources (which of two duplicates is in force depends on order: buildSnapshot walks then).
    let changes: { removed: MeshResource[]; added: MeshResource[] } | undefined = { removed: [], added: [] };
    for (const known of [...this.#files.keys()]) {
      if (!present.has(known)) {
        changed ||= this.#files.get(known)?.inForce !== undefined;
        changes?.removed.push(...(this.#files.get(known)?.inForce ?? []));
        this.#files.delete(known);
        this.#options.logger.info('manifest file removed', { file: known });
      }
    }
    // All at once: libuv's thread pool answers them in parallel (one at a time, a 1,000-file
    // directory took most of an edit's time on a busy machine).
    const stamps = await Promise.all(paths.map(fileStamp));
    for (const [i, file] of paths.entries()) {
      const previous = this.#files.get(file);
      const stamp = stamps[i];
      if (stamp === undefined) continue; // vanished between listing and reading; the next event handles it
      if (previous?.stamp === stamp) continue;
      const text = await readFile(file, 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      if (previous?.text === text) {
        previous.stamp = stamp;
        continue;
      }
      const result = parseManifests(text, file);
      const inForce = keepObjects(previous?.inForce, keepLastGood(previous?.inForce, result));
      for (const error of result.errors) {
        this.#options.logger.warn(`invalid manifest: ${formatManifestError(error)}`, {
          file: error.file,
          line: error.line,
          column: error.column,
          path: error.path,
          error: error.message,
          keptLastGood: inForce.some((r) => r.kind === error.kind && r.name === error.name && !result.resources.includes(r)),
        });
      }
      this.#files.set(file, { text, stamp, inForce, errors: result.errors });
      const fileChanged = JSON.stringify(inForce) !== JSON.stringify(previous?.inForce ?? []);
      changed ||= fileChanged;
      if (fileChanged && changes) {
        const before = new Set(previous?.inForce ?? []);
        const after = new Set(inForce);
        const removed = (previous?.inForce ?? []).filter((r) => !after.has(r));
        const added = inForce.filter((r) => !before.has(r));
        if (removed.length === 0 && added.length === 0) changes = undefined;
        else {
          changes.removed.push(...removed);
          changes.added.push(...added);
        }
      }
    }
    if (!changed && !initial) return;
    const resources = [...this.#files.values()].flatMap((file) => file.inForce ?? []);
    // From the last snapshot: when only pods changed, only their indexes are patched.
    this.#snapshot = buildSnapshot(resources, { trustDomain: this.#options.trustDomain }, this.#snapshot, initial ? undefined : changes);
    if (!initial) {
      this.#generation += 1;
      this.#options.logger.info('config snapshot updated', { generation: this.#generation, resources: resources.length });
      this.emit('snapshot', this.#snapshot);
    }
  }
}

/**
 * `next` with each resource that is equal to the previous one of its key replaced by that previous
 * object, so an edit to one document of a file leaves the file's other resources as they were
 * (generators and the snapshot tell unchanged resources by identity).
 */
function keepObjects(previous: readonly MeshResource[] | undefined, next: readonly MeshResource[]): MeshResource[] {
  if (!previous || previous.length === 0) return [...next];
  const byKey = new Map(previous.map((r) => [resourceKey(r), r]));
  return next.map((r) => {
    const old = byKey.get(resourceKey(r));
    return old !== undefined && old !== r && JSON.stringify(old) === JSON.stringify(r) ? old : r;
  });
}

/** Inode, size and modification/change times in nanoseconds, or undefined when the file is gone. */
async function fileStamp(file: string): Promise<string | undefined> {
  const info = await stat(file, { bigint: true }).catch(() => undefined);
  return info ? `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}` : undefined;
}

async function listManifestFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && MANIFEST_FILE.test(entry.name))
    .map((entry) => path.join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name))
    .sort();
}
