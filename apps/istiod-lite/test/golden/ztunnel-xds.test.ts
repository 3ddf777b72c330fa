/**
 * Golden xDS for the sample mesh: what each ztunnel is sent, byte for byte. A change to the
 * generator that alters the output fails here until the goldens are regenerated and reviewed:
 *
 *   UPDATE_GOLDEN=1 pnpm exec vitest run apps/istiod-lite/test/golden
 *
 * Every generated resource must also survive the Envoy proto codec unchanged, which proves the
 * field names and types exist in the published protos.
 */
import { describe, expect, it } from 'vitest';
import { buildSnapshot } from '@mesh/mesh-model';
import { canonicalResource, type ResourceJson } from '@mesh/xds';
import { generateZtunnelConfig } from '../../src/xds/generate/index.js';
import { WAYPOINT_FOR, expectGolden, snapshotOf, waypointForSnapshot } from './golden-files.js';

/** name → (manifests, node): each golden file is `<name>.json`. */
const SCENARIOS: Record<string, { manifests: string[]; node: string; why: string }> = {
  'bookinfo-node-a': { manifests: ['bookinfo'], node: 'node-a', why: 'sleep, productpage and reviews-v1: same-node and cross-node paths, reviews with three endpoints' },
  'bookinfo-node-b': { manifests: ['bookinfo'], node: 'node-b', why: 'reviews-v2/v3, details, ratings: the other end of the cross-node paths' },
  'deny-node-b': { manifests: ['bookinfo', 'policies/deny-sleep-to-ratings.yaml'], node: 'node-b', why: 'DENY policy on ratings' },
  'allow-node-a': { manifests: ['bookinfo', 'policies/allow-productpage-to-reviews.yaml'], node: 'node-a', why: 'ALLOW by principal and port on reviews' },
  'waypoint-node-a': { manifests: ['bookinfo', 'waypoint'], node: 'node-a', why: 'services of namespace echo go through its waypoint; the waypoint pod is not captured' },
  'strict-node-a': { manifests: ['bookinfo', 'policies/strict-mtls.yaml'], node: 'node-a', why: 'STRICT PeerAuthentication: plaintext inbound denied' },
  'portlevel-node-b': {
    manifests: ['bookinfo', 'policies/strict-mtls.yaml', 'policies/ratings-plaintext-9080.yaml'],
    node: 'node-b',
    why: 'STRICT namespace, ratings PERMISSIVE on 9080 (port-level): plaintext refused except there',
  },
};

describe('golden ztunnel xDS', () => {
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    it(`${name}: ${scenario.why}`, () => {
      expectGolden(name, generateZtunnelConfig(snapshotOf(...scenario.manifests), scenario.node));
    });
  }

  // Pod-addressed traffic to namespace wpfor: through its waypoint for workload|all, direct for service|none.
  for (const value of WAYPOINT_FOR) {
    it(`waypoint-for-${value}-node-a: istio.io/waypoint-for: ${value}`, () => {
      expectGolden(`waypoint-for-${value}-node-a`, generateZtunnelConfig(waypointForSnapshot(value), 'node-a'));
    });
  }

  it('is deterministic whatever the manifest order', () => {
    const snap = snapshotOf('bookinfo');
    const reversed = buildSnapshot([...snap.pods.values(), ...snap.services.values(), ...snap.nodes.values(), ...snap.namespaces.values()].reverse());
    expect(JSON.stringify(generateZtunnelConfig(reversed, 'node-a'))).toBe(JSON.stringify(generateZtunnelConfig(snap, 'node-a')));
  });
});

describe('every generated resource encodes and decodes through the Envoy protos', () => {
  for (const value of WAYPOINT_FOR) {
    it(`waypoint-for-${value}`, () => {
      const config = generateZtunnelConfig(waypointForSnapshot(value), 'node-a');
      for (const resource of [...config.listeners, ...config.clusters, ...config.endpoints] as unknown as ResourceJson[]) expect(canonicalResource(resource)).toEqual(resource);
    });
  }
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    it(name, () => {
      const config = generateZtunnelConfig(snapshotOf(...scenario.manifests), scenario.node);
      const all = [...config.listeners, ...config.clusters, ...config.endpoints] as unknown as ResourceJson[];
      expect(all.length).toBeGreaterThan(0);
      for (const resource of all) expect(canonicalResource(resource)).toEqual(resource);
    });
  }
});
