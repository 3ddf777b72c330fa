/**
 * Shared by the golden tests: snapshots of the sample manifests in `examples/`, and the
 * compare-or-rewrite step (`UPDATE_GOLDEN=1` rewrites a golden file instead of comparing).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { buildSnapshot, parseManifestFiles, type MeshSnapshot } from '@mesh/mesh-model';

const GOLDEN_DIR = import.meta.dirname;
const EXAMPLES = join(import.meta.dirname, '../../../../examples');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

/** Manifests of `examples/`: a directory (every .yaml in it, sorted) or one file. */
export function snapshotOf(...entries: string[]): MeshSnapshot {
  return snapshotOfFiles(examplesFiles(entries));
}

function examplesFiles(entries: readonly string[]): { path: string; text: string }[] {
  return entries.flatMap((entry) => {
    const full = join(EXAMPLES, entry);
    const paths = entry.endsWith('.yaml') ? [full] : readdirSync(full).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(full, f));
    return paths.map((path) => ({ path, text: readFileSync(path, 'utf8') }));
  });
}

/** The traffic types of `istio.io/waypoint-for`, each a golden scenario. */
export const WAYPOINT_FOR = ['service', 'workload', 'all', 'none'] as const;

/** bookinfo + `examples/waypoint-for/web.yaml` with its waypoint's `istio.io/waypoint-for` set to `value`. */
export function waypointForSnapshot(value: (typeof WAYPOINT_FOR)[number]): MeshSnapshot {
  const files = examplesFiles(['bookinfo', 'waypoint-for/web.yaml']).map((f) => ({ ...f, text: f.text.replace('istio.io/waypoint-for: workload', `istio.io/waypoint-for: ${value}`) }));
  return snapshotOfFiles(files);
}

function snapshotOfFiles(files: { path: string; text: string }[]): MeshSnapshot {
  const { resources, errors } = parseManifestFiles(files);
  expect(errors).toEqual([]);
  return buildSnapshot(resources);
}

/** `<name>.json` in this directory must hold exactly `value` as indented JSON. */
export function expectGolden(name: string, value: unknown): void {
  const text = `${JSON.stringify(value, null, 2)}\n`;
  const file = join(GOLDEN_DIR, `${name}.json`);
  if (UPDATE) writeFileSync(file, text);
  expect(existsSync(file), `${file} is missing; run with UPDATE_GOLDEN=1 to create it`).toBe(true);
  expect(text).toBe(readFileSync(file, 'utf8'));
}
