/**
 * Golden xDS for waypoints: what the waypoint of namespace `echo` is sent (LDS, CDS, EDS, RDS),
 * byte for byte. Regenerate after a reviewed change with
 *
 *   UPDATE_GOLDEN=1 pnpm exec vitest run apps/istiod-lite/test/golden/waypoint-xds.test.ts
 *
 * Every resource must survive the Envoy proto codec unchanged (field names and types exist).
 * (`waypoint-node-a.json` is the ztunnel side of the same mesh, in ztunnel-xds.test.ts.)
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSnapshot, parseManifestFiles, type MeshSnapshot } from '@mesh/mesh-model';
import { canonicalResource, type ResourceJson } from '@mesh/xds';
import { generateWaypointConfig, waypointGatewayOfPod } from '../../src/xds/generate/index.js';

const GOLDEN_DIR = import.meta.dirname;
const EXAMPLES = join(import.meta.dirname, '../../../../examples');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

function snapshotOf(...files: string[]): MeshSnapshot {
  const { resources, errors } = parseManifestFiles(files.map((f) => ({ path: join(EXAMPLES, f), text: readFileSync(join(EXAMPLES, f), 'utf8') })));
  expect(errors).toEqual([]);
  return buildSnapshot(resources);
}

/** The nodes and the `default` namespace (sources of the ALLOW rule). */
const BOOKINFO = ['bookinfo/00-mesh.yaml'];

const SCENARIOS: Record<string, { manifests: string[]; why: string }> = {
  'waypoint-echo': { manifests: [...BOOKINFO, 'waypoint/echo.yaml'], why: "seed 003's echo service: header route to v2, 90/10 split, timeout and retry" },
  'waypoint-echo-policy': { manifests: [...BOOKINFO, 'waypoint/echo.yaml', 'waypoint/l7-policy.yaml'], why: 'L7 DENY by path and ALLOW by namespace and method on echo' },
};

function generate(manifests: string[]) {
  const snapshot = snapshotOf(...manifests);
  return generateWaypointConfig(snapshot, waypointGatewayOfPod(snapshot, 'echo', 'waypoint-0'));
}

describe('golden waypoint xDS', () => {
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    it(`${name}: ${scenario.why}`, () => {
      const text = `${JSON.stringify(generate(scenario.manifests), null, 2)}\n`;
      const file = join(GOLDEN_DIR, `${name}.json`);
      if (UPDATE) writeFileSync(file, text);
      expect(existsSync(file), `${file} is missing; run with UPDATE_GOLDEN=1 to create it`).toBe(true);
      expect(text).toBe(readFileSync(file, 'utf8'));
    });

    it(`${name}: every resource encodes and decodes through the Envoy protos`, () => {
      const config = generate(scenario.manifests);
      const all = [...config.listeners, ...config.clusters, ...config.endpoints, ...config.routes] as unknown as ResourceJson[];
      expect(config.routes.length).toBeGreaterThan(0);
      for (const resource of all) expect(canonicalResource(resource)).toEqual(resource);
    });
  }
});
