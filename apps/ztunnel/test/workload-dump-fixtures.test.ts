/**
 * meshctl's saved workload-dialect dumps (apps/istioctl-ts/test/fixtures/*.ztunnel_dump.json) are
 * what this ztunnel serves on /config_dump for istiod-lite's golden workload resources: the
 * contract between the two apps, checked here (apps never import each other; the files are data).
 * Certificates are left pending (no CA), so the files do not change between runs. Regenerate after
 * a reviewed change with
 *
 *   UPDATE_GOLDEN=1 pnpm exec vitest run apps/ztunnel/test/workload-dump-fixtures.test.ts
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { workloadConfigDump } from '../src/admin/admin-server.js';
import { applyWorkloadGolden, hasIstiodGolden, readIstiodGolden, type WorkloadGolden } from '../src/testing/istiod-goldens.js';
import { offlineZtunnel } from './helpers.js';

const FIXTURES: Record<string, { golden: string; node: string }> = {
  'workload-bookinfo-node-a': { golden: 'workload-bookinfo', node: 'node-a' },
  'workload-deny-node-b': { golden: 'workload-deny', node: 'node-b' },
  'workload-waypoint-node-a': { golden: 'workload-waypoint', node: 'node-a' },
  'workload-waypoint-for-all-node-a': { golden: 'workload-waypoint-for-all', node: 'node-a' },
};

function dumpOf(golden: string, node: string): unknown {
  const ztunnel = offlineZtunnel(node, 'workload');
  try {
    applyWorkloadGolden(ztunnel.store, readIstiodGolden<WorkloadGolden>(golden));
    return workloadConfigDump(ztunnel);
  } finally {
    ztunnel.destroy();
  }
}

describe("meshctl's workload-dialect fixtures are this ztunnel's dumps", () => {
  for (const [name, { golden, node }] of Object.entries(FIXTURES)) {
    it.skipIf(!hasIstiodGolden(golden))(name, () => {
      const file = fileURLToPath(new URL(`../../istioctl-ts/test/fixtures/${name}.ztunnel_dump.json`, import.meta.url));
      const text = `${JSON.stringify(dumpOf(golden, node), null, 1)}\n`;
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, text);
      expect(existsSync(file), `${file} is missing; run with UPDATE_GOLDEN=1`).toBe(true);
      expect(text).toBe(readFileSync(file, 'utf8'));
    });
  }
});
