import { describe, expect, it } from 'vitest';
import { RoundRobin } from '@mesh/proxy-runtime';
import { planOutbound, serviceOfChain, withPart, type RuntimeModel } from '@mesh/ztunnel-plan';
import { BOOKINFO } from '../testing/bookinfo.js';
import { modelForNode } from '../testing/model.js';
import type { FakeMesh } from '../testing/mesh-resources.js';
import { modelOf } from '../testing/model.js';
import { hasIstiodGolden, readIstiodGolden, workloadStoreOf, type WorkloadGolden } from '../testing/istiod-goldens.js';

const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const PRODUCTPAGE = 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage';
const REVIEWS = 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews';
const conn = (src: string, dst: string, port: number) => ({ src: { ip: src, port: 40000 }, dst: { ip: dst, port } });

describe('planOutbound', () => {
  it.each([
    [
      'productpage → reviews VIP (first endpoint, same node)',
      conn('10.77.1.11', '10.77.100.11', 9080),
      { kind: 'hbone', destination: '10.77.1.12:15008', authority: '10.77.1.12:9080', sourceIdentity: PRODUCTPAGE, expectedIdentities: [REVIEWS], headers: { 'x-envoy-original-dst-host': '10.77.1.12:9080' }, service: 'reviews.default.svc.cluster.local' },
    ],
    [
      'sleep → ratings VIP (cross node)',
      conn('10.77.1.10', '10.77.100.13', 9080),
      { kind: 'hbone', destination: '10.77.2.13:15008', authority: '10.77.2.13:9080', sourceIdentity: SLEEP, chain: `${SLEEP}_to_tcp_ratings.default.svc.cluster.local_outbound_internal` },
    ],
    [
      'sleep → a pod IP directly',
      conn('10.77.1.10', '10.77.2.12', 9080),
      { kind: 'hbone', destination: '10.77.2.12:15008', authority: '10.77.2.12:9080', sourceIdentity: SLEEP, expectedIdentities: undefined, chain: `${SLEEP}_to_pod_outbound_direct` },
    ],
    ['sleep → outside the mesh', conn('10.77.1.10', '192.0.2.7', 443), { kind: 'passthrough', destination: '192.0.2.7:443', chain: 'PassthroughFilterChain' }],
    ['sleep → a VIP on a port the service does not have', conn('10.77.1.10', '10.77.100.13', 80), { kind: 'passthrough', destination: '10.77.100.13:80' }],
    ['an unknown source (not a local pod)', conn('10.77.2.10', '10.77.100.13', 9080), { kind: 'passthrough', chain: 'PassthroughFilterChain' }],
    ['anything to 15001 (a capture loop)', conn('10.77.1.10', '10.77.100.13', 15001), { kind: 'blackhole', chain: 'BlackHoleCluster' }],
  ])('%s', (_name, c, expected) => {
    const model = modelForNode(BOOKINFO, 'node-a');
    expect(planOutbound(model, c, new RoundRobin())).toMatchObject(expected);
  });

  it('spreads a service over its three endpoints round robin', () => {
    const model = modelForNode(BOOKINFO, 'node-a');
    const rr = new RoundRobin();
    const picks = Array.from({ length: 6 }, () => {
      const plan = planOutbound(model, conn('10.77.1.11', '10.77.100.11', 9080), rr);
      return plan.kind === 'hbone' ? plan.authority : plan.kind;
    });
    expect(picks).toEqual(['10.77.1.12:9080', '10.77.2.10:9080', '10.77.2.11:9080', '10.77.1.12:9080', '10.77.2.10:9080', '10.77.2.11:9080']);
  });

  it('leaves the model as it was: the round robin is the caller\'s, and goes on across a model swap (an EDS update)', () => {
    const model = modelForNode(BOOKINFO, 'node-a');
    const rr = new RoundRobin();
    const authority = (m: typeof model) => {
      const plan = planOutbound(m, conn('10.77.1.11', '10.77.100.11', 9080), rr);
      return plan.kind === 'hbone' ? plan.authority : plan.kind;
    };
    const snapshot = () => JSON.stringify(model, (_k, v: unknown) => (v instanceof Map ? [...v] : typeof v === 'bigint' ? String(v) : v));
    const before = snapshot();
    expect(authority(model)).toBe('10.77.1.12:9080');
    expect(snapshot()).toBe(before);
    // A new model with a new (equal) endpoint list: the next pick is the second endpoint.
    const swapped = withPart(model, { endpoints: { byCluster: new Map([...model.endpoints.byCluster].map(([k, v]) => [k, [...v]])) } });
    expect(authority(swapped)).toBe('10.77.2.10:9080');
  });

  it('skips unhealthy endpoints and reports UH when none is left', () => {
    const mesh: FakeMesh = {
      ...BOOKINFO,
      pods: BOOKINFO.pods.map((p) => (p.name === 'reviews-v2' || p.name === 'ratings-v1' ? { ...p, healthy: false } : p)),
    };
    const model = modelForNode(mesh, 'node-a');
    const rr = new RoundRobin();
    const picks = new Set(
      Array.from({ length: 4 }, () => {
        const plan = planOutbound(model, conn('10.77.1.11', '10.77.100.11', 9080), rr);
        return plan.kind === 'hbone' ? plan.authority : plan.kind;
      }),
    );
    expect(picks).toEqual(new Set(['10.77.1.12:9080', '10.77.2.11:9080']));
    expect(planOutbound(model, conn('10.77.1.11', '10.77.100.13', 9080), rr)).toMatchObject({ kind: 'reject', responseFlag: 'UH' });
  });

  it('sends plain TCP to endpoints outside the mesh (no tunnel metadata)', () => {
    const mesh: FakeMesh = { ...BOOKINFO, pods: BOOKINFO.pods.map((p) => (p.name === 'details-v1' ? { ...p, captured: false } : p)) };
    const model = modelForNode(mesh, 'node-a');
    expect(planOutbound(model, conn('10.77.1.10', '10.77.100.12', 9080), new RoundRobin())).toMatchObject({ kind: 'passthrough', destination: '10.77.2.12:9080', service: 'details.default.svc.cluster.local' });
    // Direct to that pod: it is not captured, so no tunnel either.
    expect(planOutbound(model, conn('10.77.1.10', '10.77.2.12', 9080), new RoundRobin())).toMatchObject({ kind: 'passthrough', destination: '10.77.2.12:9080' });
  });

  it('uses the configured HBONE port (upstream_port_override)', () => {
    const model = modelForNode({ ...BOOKINFO, hbonePort: 25008 }, 'node-a');
    expect(planOutbound(model, conn('10.77.1.10', '10.77.100.13', 9080), new RoundRobin())).toMatchObject({ destination: '10.77.2.13:25008' });
  });

  it('refuses with NC while a chain names a cluster that has not arrived', () => {
    const model = modelForNode(BOOKINFO, 'node-a');
    const withoutClusters = { ...model, clusters: new Map() };
    expect(planOutbound(withoutClusters, conn('10.77.1.10', '10.77.100.13', 9080), new RoundRobin())).toMatchObject({ kind: 'reject', responseFlag: 'NC' });
  });

  it('reads the service from chain names', () => {
    expect(serviceOfChain(`${SLEEP}_to_http_reviews.default.svc.cluster.local_outbound_internal`)).toBe('reviews.default.svc.cluster.local');
    expect(serviceOfChain(`${SLEEP}_to_tcp_db.x.svc.cluster.local:5432_outbound_internal`)).toBe('db.x.svc.cluster.local');
    expect(serviceOfChain('PassthroughFilterChain')).toBeUndefined();
  });
});

/**
 * istio.io/waypoint-for on istiod-lite's goldens (examples/waypoint-for/web.yaml: namespace wpfor
 * uses waypoint 10.77.2.40; web-a 10.77.1.40 and web-b 10.77.2.41 are enrolled, web-direct
 * 10.77.2.42 opts out; service web 10.77.100.40:80), in both dialects.
 */
describe('planOutbound: istio.io/waypoint-for', () => {
  const WAYPOINT = 'spiffe://cluster.local/ns/wpfor/sa/waypoint';
  const HOST = 'waypoint.wpfor.svc.cluster.local';
  const viaWaypoint = (ip: string) => ({
    kind: 'hbone',
    chain: `${SLEEP}_to_waypoint_${HOST}_outbound_pod`,
    destination: '10.77.2.40:15008',
    authority: `${ip}:8080`,
    sourceIdentity: SLEEP,
    expectedIdentities: [WAYPOINT],
    headers: { 'x-envoy-original-dst-host': `${ip}:8080` },
  });
  const direct = (ip: string) => ({ kind: 'hbone', chain: `${SLEEP}_to_pod_outbound_direct`, destination: `${ip}:15008`, authority: `${ip}:8080` });
  const serviceViaWaypoint = { kind: 'hbone', destination: '10.77.2.40:15008', authority: '10.77.100.40:80', expectedIdentities: [WAYPOINT] };
  const serviceDirect = { kind: 'hbone', chain: `${SLEEP}_to_http_web.wpfor.svc.cluster.local_outbound_internal`, destination: expect.stringMatching(/^10\.77\.[12]\.4[01]:15008$/) };
  const CASES = {
    service: { pod: direct, service: serviceViaWaypoint },
    workload: { pod: viaWaypoint, service: serviceDirect },
    all: { pod: viaWaypoint, service: serviceViaWaypoint },
    none: { pod: direct, service: serviceDirect },
  } as const;
  for (const [value, expected] of Object.entries(CASES)) {
    const models: [string, () => RuntimeModel][] = [
      ['envoy', () => modelOf(readIstiodGolden(`waypoint-for-${value}-node-a`))],
      ['workload', () => workloadStoreOf(readIstiodGolden<WorkloadGolden>(`workload-waypoint-for-${value}`), 'node-a').model],
    ];
    for (const [dialect, model] of models) {
      it.skipIf(!hasIstiodGolden(`waypoint-for-${value}-node-a`) || !hasIstiodGolden(`workload-waypoint-for-${value}`))(`${value} (${dialect} dialect)`, () => {
        const m = model();
        const rr = new RoundRobin();
        // Pod IPs of enrolled workloads, on either node.
        expect(planOutbound(m, conn('10.77.1.10', '10.77.2.41', 8080), rr)).toMatchObject(expected.pod('10.77.2.41'));
        expect(planOutbound(m, conn('10.77.1.10', '10.77.1.40', 8080), rr)).toMatchObject(expected.pod('10.77.1.40'));
        // The opted-out pod is always direct.
        expect(planOutbound(m, conn('10.77.1.10', '10.77.2.42', 8080), rr)).toMatchObject(direct('10.77.2.42'));
        // The Service VIP.
        expect(planOutbound(m, conn('10.77.1.10', '10.77.100.40', 80), rr)).toMatchObject(expected.service);
      });
    }
  }
});

describe('planOutbound decision trace', () => {
  it('records the matcher branches, chain, cluster, endpoint and tunnel hop, and plans alike with or without it', () => {
    const steps: Array<{ kind: string }> = [];
    const traced = planOutbound(modelForNode(BOOKINFO, 'node-a'), conn('10.77.1.10', '10.77.100.13', 9080), new RoundRobin(), (s) => steps.push(s));
    expect(traced).toEqual(planOutbound(modelForNode(BOOKINFO, 'node-a'), conn('10.77.1.10', '10.77.100.13', 9080), new RoundRobin()));
    expect(steps.map((s) => s.kind)).toEqual(['match', 'route', 'endpoints', 'endpoint', 'route', 'original-dst']);
    expect(steps[0]).toMatchObject({
      branches: [
        { input: 'destination port', value: '9080', kind: 'no match' },
        { input: 'source IP', value: '10.77.1.10', kind: 'exact', key: '10.77.1.10' },
        { input: 'destination IP', value: '10.77.100.13', kind: 'exact', key: '10.77.100.13' },
        { input: 'destination port', value: '9080', kind: 'exact', key: '9080' },
      ],
      chain: `${SLEEP}_to_tcp_ratings.default.svc.cluster.local_outbound_internal`,
    });
    expect(steps[5]).toMatchObject({ destination: '10.77.2.13:15008' });
  });

  it('keeps only the branches that led to the chain (on_no_match after a dead end)', () => {
    const steps: Array<{ kind: string; branches?: ReadonlyArray<{ kind: string }> }> = [];
    planOutbound(modelForNode(BOOKINFO, 'node-a'), conn('10.77.1.10', '10.77.100.13', 80), new RoundRobin(), (s) => steps.push(s));
    expect(steps[0]?.branches?.at(-1)).toMatchObject({ kind: 'no match' });
  });
});
