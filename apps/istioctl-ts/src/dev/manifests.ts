/**
 * The manifests under a running dev mesh. meshctl dev reads the source directories, mirrors
 * them into istiod-lite's --config-dir (rewritten to loopback addresses in explicit mode), and
 * on every edit first makes the new pods exist (namespaces, processes) and only then copies the
 * files, so by the time istiod-lite pushes a new endpoint its pod is already listening.
 */
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { buildSnapshot, parseManifestFiles, type MeshSnapshot } from '@mesh/mesh-model';
import { MeshError } from '@mesh/errors';

export interface ManifestFile {
  /** Relative to the mirror: `<i>-<source dir name>/<path in it>`. */
  readonly mirrorPath: string;
  readonly sourcePath: string;
  readonly text: string;
}

async function listYaml(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** Reads every *.yaml/*.yml under each directory, `rewrite` applied (explicit mode's addresses). */
export async function readManifests(dirs: readonly string[], rewrite: (text: string) => string = (t) => t): Promise<ManifestFile[]> {
  const files: ManifestFile[] = [];
  for (const [i, dir] of dirs.entries()) {
    let paths: string[];
    try {
      paths = await listYaml(dir);
    } catch (err) {
      throw new MeshError('MESHCTL_ERR_DEV_MANIFESTS', `cannot read manifest directory ${dir}: ${(err as Error).message}`, { cause: err });
    }
    for (const path of paths) {
      files.push({ mirrorPath: join(`${i}-${basename(dir)}`, relative(dir, path)), sourcePath: path, text: rewrite(await readFile(path, 'utf8')) });
    }
  }
  return files;
}

/** The snapshot the files describe; a manifest error names file:line:column. */
export function snapshotOf(files: readonly ManifestFile[]): MeshSnapshot {
  const parsed = parseManifestFiles(files.map((f) => ({ path: f.sourcePath, text: f.text })));
  if (parsed.errors.length > 0) {
    const first = parsed.errors.slice(0, 5).map((e) => `${e.file}:${e.line}:${e.column} ${e.path ? `${e.path}: ` : ''}${e.message}`);
    throw new MeshError('MESHCTL_ERR_DEV_MANIFESTS', `the manifests have errors:\n  ${first.join('\n  ')}`, { context: { errors: parsed.errors.length } });
  }
  return buildSnapshot(parsed.resources);
}

/** Makes `mirrorDir` hold exactly `files` (writes only what changed; istiod-lite watches it). */
export async function writeMirror(mirrorDir: string, files: readonly ManifestFile[], previous: readonly ManifestFile[] = []): Promise<void> {
  const before = new Map(previous.map((f) => [f.mirrorPath, f.text]));
  for (const file of files) {
    if (before.get(file.mirrorPath) === file.text) continue;
    const target = join(mirrorDir, file.mirrorPath);
    await mkdir(join(target, '..'), { recursive: true });
    await writeFile(target, file.text);
  }
  const now = new Set(files.map((f) => f.mirrorPath));
  for (const path of before.keys()) if (!now.has(path)) await rm(join(mirrorDir, path), { force: true });
}

/** Calls `onChange` (debounced, never concurrently) after edits under any of `dirs`. */
export function watchManifests(dirs: readonly string[], onChange: () => Promise<void>, debounceMs = 150): { close(): void } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  const run = () => {
    if (running) {
      again = true;
      return;
    }
    running = onChange().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        run();
      }
    });
  };
  const watchers: FSWatcher[] = dirs.map((dir) =>
    watch(dir, { recursive: true }, () => {
      clearTimeout(timer);
      timer = setTimeout(run, debounceMs);
    }),
  );
  return {
    close() {
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
