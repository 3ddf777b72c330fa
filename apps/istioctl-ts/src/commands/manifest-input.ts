/**
 * Where the commands that read manifests (analyze, waypoint list|status) get them: files and
 * directories named on the command line (every *.yaml/*.yml below a directory, as istiod-lite
 * reads its --config-dir), or, with none, the manifests this checkout's `meshctl dev up` serves.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MeshError } from '@mesh/errors';
import { DEV_STATE_DIR } from '../dev/commands.js';
import { readManifests } from '../dev/manifests.js';

export const MANIFEST_PATHS_HELP = "manifest files or directories (default: the running `meshctl dev up`'s manifests)";

/** The paths to read: as given, or the dev mesh's config directory. */
export async function manifestPaths(paths: readonly string[]): Promise<string[]> {
  if (paths.length > 0) return [...paths];
  const live = join(DEV_STATE_DIR, 'config');
  if (!(await stat(live).catch(() => undefined))?.isDirectory()) {
    throw new MeshError('MESHCTL_ERR_NO_MANIFESTS', 'no manifests to read: no path given and no `meshctl dev up` manifests in this checkout', { hint: 'give the manifest directory, e.g. examples' });
  }
  return [live];
}

export async function readManifestPaths(paths: readonly string[]): Promise<{ path: string; text: string }[]> {
  const files: { path: string; text: string }[] = [];
  for (const path of paths) {
    const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
      throw new MeshError('MESHCTL_ERR_READ_FILE', `cannot read ${path} (${err.code === 'ENOENT' ? 'no such file or directory' : err.message})`, { cause: err });
    });
    if (info.isDirectory()) files.push(...(await readManifests([path])).map((f) => ({ path: f.sourcePath, text: f.text })));
    else files.push({ path, text: await readFile(path, 'utf8') });
  }
  return files;
}
