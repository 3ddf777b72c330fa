/**
 * Golden workload-dialect xDS for the sample meshes: the `istio.workload.Address` and
 * `istio.security.Authorization` resources every ztunnel is sent (the same for all nodes), byte
 * for byte as proto3-JSON. Regenerate after a reviewed change with
 *
 *   UPDATE_GOLDEN=1 pnpm exec vitest run apps/istiod-lite/test/golden/workload-xds.test.ts
 *
 * Every resource must round-trip through the workload API protos (packages/xds/proto/istio)
 * unchanged, which proves its field names, enum values and types exist there.
 */
import { describe, expect, it } from 'vitest';
import { buildSnapshot } from '@mesh/mesh-model';
import { canonicalResource, decodeResource, encodeResource } from '@mesh/xds';
import { generateWorkloadResources } from '../../src/xds/generate/workload/index.js';
import { WAYPOINT_FOR, expectGolden, snapshotOf, waypointForSnapshot } from './golden-files.js';

const SCENARIOS: Record<string, { manifests: string[]; why: string }> = {
  'workload-bookinfo': { manifests: ['bookinfo'], why: 'a Workload per pod (captured: HBONE), a Service per Service, no policies' },
  'workload-deny': { manifests: ['bookinfo', 'policies/deny-sleep-to-ratings.yaml'], why: 'DENY by principal, listed by the ratings workload it selects' },
  'workload-allow': { manifests: ['bookinfo', 'policies/allow-productpage-to-reviews.yaml'], why: 'ALLOW by principal and port, listed by the reviews workloads' },
  'workload-strict': { manifests: ['bookinfo', 'policies/strict-mtls.yaml'], why: 'STRICT PeerAuthentication: the static strict policy, listed by the default namespace workloads' },
  'workload-portlevel': {
    manifests: ['bookinfo', 'policies/strict-mtls.yaml', 'policies/ratings-plaintext-9080.yaml'],
    why: "port-level mTLS: ratings lists its PeerAuthentication's converted DENY (plaintext refused except on 9080) instead of the static strict policy",
  },
  'workload-waypoint': {
    manifests: ['bookinfo', 'waypoint'],
    why: "namespace echo's services name their waypoint by the hostname of its generated Service, whose endpoint is the waypoint pod (native HBONE); targetRef policies are the waypoint's, not sent",
  },
};

function generate(manifests: string[]) {
  const resources = generateWorkloadResources(snapshotOf(...manifests));
  return { addresses: Object.fromEntries(resources.addresses), authorizations: Object.fromEntries(resources.authorizations) };
}

describe('golden workload-dialect xDS', () => {
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    it(`${name}: ${scenario.why}`, () => {
      expectGolden(name, generate(scenario.manifests));
    });

    it(`${name}: every resource round-trips through the workload API protos`, () => {
      const { addresses, authorizations } = generate(scenario.manifests);
      const all = [...Object.values(addresses), ...Object.values(authorizations)];
      expect(all.length).toBeGreaterThan(0);
      for (const resource of all) {
        expect(canonicalResource(resource)).toEqual(resource);
        expect(decodeResource(encodeResource(resource))).toEqual(resource);
      }
    });
  }

  // The Workload's waypoint field for workload|all, the Service's for service|all, neither for none.
  for (const value of WAYPOINT_FOR) {
    it(`workload-waypoint-for-${value}: istio.io/waypoint-for: ${value}`, () => {
      const resources = generateWorkloadResources(waypointForSnapshot(value));
      const golden = { addresses: Object.fromEntries(resources.addresses), authorizations: Object.fromEntries(resources.authorizations) };
      expectGolden(`workload-waypoint-for-${value}`, golden);
      for (const resource of Object.values(golden.addresses)) expect(decodeResource(encodeResource(resource))).toEqual(resource);
      const waypointOf = (name: string) => (golden.addresses[name] as { workload?: { waypoint?: unknown }; service?: { waypoint?: unknown } } | undefined);
      const workloadHas = value === 'workload' || value === 'all';
      const serviceHas = value === 'service' || value === 'all';
      expect(waypointOf('Kubernetes//Pod/wpfor/web-a')?.workload?.waypoint !== undefined).toBe(workloadHas);
      expect(waypointOf('Kubernetes//Pod/wpfor/web-direct')?.workload?.waypoint).toBeUndefined();
      expect(waypointOf('wpfor/web.wpfor.svc.cluster.local')?.service?.waypoint !== undefined).toBe(serviceHas);
    });
  }

  it('is deterministic whatever the manifest order, and generated once per snapshot', () => {
    const snap = snapshotOf('bookinfo', 'waypoint');
    const reversed = buildSnapshot([...snap.pods.values(), ...snap.services.values(), ...snap.gateways.values(), ...snap.nodes.values(), ...snap.namespaces.values()].reverse());
    expect(JSON.stringify(Object.fromEntries(generateWorkloadResources(reversed).addresses))).toBe(JSON.stringify(Object.fromEntries(generateWorkloadResources(snap).addresses)));
    expect(generateWorkloadResources(snap)).toBe(generateWorkloadResources(snap));
  });
});

describe('incremental: a resource is rebuilt only when what it is made of changed', () => {
  it('adding a pod to a snapshot of the same manifests rebuilds that pod alone; a policy edit rebuilds the workloads it selects', () => {
    const before = snapshotOf('bookinfo');
    const first = generateWorkloadResources(before);
    const sleep = [...before.pods.values()].find((p) => p.name === 'sleep')!;
    const all = [...before.namespaces.values(), ...before.nodes.values(), ...before.serviceAccounts.values(), ...before.pods.values(), ...before.services.values()];
    const extra = { ...sleep, name: 'sleep-2', podIP: '10.77.1.99' };
    const after = generateWorkloadResources(buildSnapshot([...all, extra]));
    const changed = [...after.addresses].filter(([name, r]) => first.addresses.get(name) !== r).map(([name]) => name);
    expect(changed).toEqual(['Kubernetes//Pod/default/sleep-2']);

    const deny = snapshotOf('policies/deny-sleep-to-ratings.yaml').authorizationPolicies.values().next().value!;
    const withPolicy = generateWorkloadResources(buildSnapshot([...all, deny]));
    expect([...withPolicy.addresses].filter(([name, r]) => first.addresses.get(name) !== r).map(([name]) => name)).toEqual(['Kubernetes//Pod/default/ratings-v1']);
  });
});
