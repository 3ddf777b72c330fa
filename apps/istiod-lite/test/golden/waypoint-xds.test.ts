/**
 * Golden xDS for waypoints: what the waypoint of namespace `echo` is sent (LDS, CDS, EDS, RDS),
 * byte for byte. Regenerate after a reviewed change with
 *
 *   UPDATE_GOLDEN=1 pnpm exec vitest run apps/istiod-lite/test/golden/waypoint-xds.test.ts
 *
 * Every resource must survive the Envoy proto codec unchanged (field names and types exist).
 * (`waypoint-node-a.json` is the ztunnel side of the same mesh, in ztunnel-xds.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { canonicalResource, type ResourceJson } from '@mesh/xds';
import { generateWaypointConfig, waypointGatewayOfPod } from '../../src/xds/generate/index.js';
import { WAYPOINT_FOR, expectGolden, snapshotOf, waypointForSnapshot } from './golden-files.js';

/** The nodes and the `default` namespace (sources of the ALLOW rule). */
const BOOKINFO = ['bookinfo/00-mesh.yaml'];

const SCENARIOS: Record<string, { manifests: string[]; why: string }> = {
  'waypoint-echo': { manifests: [...BOOKINFO, 'waypoint/echo.yaml'], why: "examples/waypoint's echo service: header route to v2, 90/10 split, timeout and retry" },
  'waypoint-echo-policy': { manifests: [...BOOKINFO, 'waypoint/echo.yaml', 'waypoint/l7-policy.yaml'], why: 'L7 DENY by path and ALLOW by namespace and method on echo' },
};

function generate(manifests: string[]) {
  const snapshot = snapshotOf(...manifests);
  return generateWaypointConfig(snapshot, waypointGatewayOfPod(snapshot, 'echo', 'waypoint-0'));
}

describe('golden waypoint xDS', () => {
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    it(`${name}: ${scenario.why}`, () => {
      expectGolden(name, generate(scenario.manifests));
    });

    it(`${name}: every resource encodes and decodes through the Envoy protos`, () => {
      const config = generate(scenario.manifests);
      const all = [...config.listeners, ...config.clusters, ...config.endpoints, ...config.routes] as unknown as ResourceJson[];
      expect(config.routes.length).toBeGreaterThan(0);
      for (const resource of all) expect(canonicalResource(resource)).toEqual(resource);
    });
  }
});

/** The waypoint of namespace wpfor for each istio.io/waypoint-for: pod chains for workload|all, VIP chains for service|all. */
describe('golden waypoint xDS: istio.io/waypoint-for', () => {
  for (const value of WAYPOINT_FOR) {
    it(`waypoint-wpfor-${value}`, () => {
      const snapshot = waypointForSnapshot(value);
      const config = generateWaypointConfig(snapshot, waypointGatewayOfPod(snapshot, 'wpfor', 'waypoint-0'));
      expectGolden(`waypoint-wpfor-${value}`, config);
      for (const resource of [...config.listeners, ...config.clusters, ...config.endpoints, ...config.routes] as unknown as ResourceJson[]) expect(canonicalResource(resource)).toEqual(resource);
      const names = config.clusters.map((c) => String(c['name']));
      const workload = value === 'workload' || value === 'all';
      const service = value === 'service' || value === 'all';
      // Enrolled pods (web-a, web-b) have a cluster per declared port; the opted-out web-direct none.
      expect(names.includes('inbound-pod|8080||10.77.1.40') && names.includes('inbound-pod|8080||10.77.2.41')).toBe(workload);
      expect(names.some((n) => n.endsWith('|10.77.2.42'))).toBe(false);
      expect(names.includes('inbound-vip|80|http|web.wpfor.svc.cluster.local')).toBe(service);
    });
  }
});
