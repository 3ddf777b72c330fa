import type { ManifestError, MeshSnapshot } from '@mesh/mesh-model';

/**
 * Where the mesh configuration comes from: a watched manifest directory (DirectoryConfigSource) or
 * the Kubernetes API (KubernetesConfigSource). A source always has a snapshot in force; it emits 'snapshot' only when what is in force
 * changed, never for a rejected edit.
 *
 * Lifecycle: `close()` stops watching and is idempotent; `current()` still returns the last
 * snapshot after it.
 */
export interface ConfigSource {
  current(): MeshSnapshot;
  /** Increases by one for every snapshot emitted; the initial snapshot is generation 1. */
  generation(): number;
  /** Problems in the configuration as last read (files or objects whose last good content is in force). */
  problems(): readonly ManifestError[];
  /** Applies pending changes now instead of after the debounce (tests, SIGHUP); resolves when applied. */
  reload(): Promise<void>;
  on(event: 'snapshot', listener: (snapshot: MeshSnapshot) => void): this;
  off(event: 'snapshot', listener: (snapshot: MeshSnapshot) => void): this;
  close(): void;
}

/**
 * `file:line:column path: message`, the way compilers print it; an object from the Kubernetes API
 * has no position (line 0) and is named by its `file`, `Kind namespace/name`: `Kind namespace/name: path: message`.
 */
export function formatManifestError(error: ManifestError): string {
  if (error.line === 0) return `${error.file}: ${error.path ? `${error.path}: ` : ''}${error.message}`;
  return `${error.file}:${error.line}:${error.column}${error.path ? ` ${error.path}` : ''}: ${error.message}`;
}
