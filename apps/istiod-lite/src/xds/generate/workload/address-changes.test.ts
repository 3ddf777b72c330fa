/**
 * Pod edits applied incrementally equal a build from scratch: on a synthetic mesh with a waypoint,
 * a seeded sequence of edits (pods added, removed, moved, relabelled, made unready, given another
 * pod's IP or the host network; now and then a Service or a policy, which takes the full path),
 * each snapshot built from the previous one as the directory config source builds it, gives the
 * same snapshot answers and the same workload resources as a snapshot built from scratch, and an
 * unchanged Workload keeps its object. The same holds when the snapshot is built from the objects
 * that left and entered the list (`ResourceChanges`, as the directory config source passes them),
 * and the workload generator's `update` then names every Address that changed.
 */
import { describe, expect, it } from 'vitest';
import { buildSnapshot, objectKey, parseManifests, podChangesOf } from '@mesh/mesh-model';
import type { MeshResource, MeshSnapshot, Pod, ResourceChanges, Service } from '@mesh/mesh-model';
import { makePod, seededRandom, syntheticMesh } from '@mesh/mesh-model/testing';
import { TYPE_URL } from '@mesh/xds';
import type { ProxyInfo } from '../../proxy-node.js';
import { workloadGenerator } from '../../proxy-resources.js';
import { generateWorkloadResources } from './index.js';

const NODES = ['node-0', 'node-1', 'node-2', 'node-3'];
/** Any ztunnel: the workload dialect gives every one the same resources. */
const ZTUNNEL: ProxyInfo = { id: 'ztunnel~10.0.0.1~ztunnel-0~istio-system.svc.cluster.local', type: 'ztunnel', ip: '10.0.0.1', podName: 'ztunnel-0', namespace: 'istio-system', nodeName: 'node-0', verified: false, metadata: {} };
const STEPS = 60;

/** The resources of a manifest that must parse. */
function parsed(yaml: string): MeshResource[] {
  const result = parseManifests(yaml, 'edit.yaml');
  if (result.errors.length > 0) throw new Error(`test manifest: ${result.errors[0]?.message}`);
  return [...result.resources];
}

const WAYPOINT = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: ns-0, labels: {istio.io/waypoint-for: all}}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
`;

const pick = <T>(items: readonly T[], next: () => number): T => items[Math.floor(next() * items.length)] as T;
const podsOf = (rs: MeshResource[]) => rs.filter((r): r is Pod => r.kind === 'Pod');
const servicesOf = (rs: MeshResource[]) => rs.filter((r): r is Service => r.kind === 'Service');
const replace = (rs: MeshResource[], old: MeshResource, by: MeshResource | undefined) => rs.flatMap((r) => (r === old ? (by ? [by] : []) : [r]));
/** The objects that left and entered the list, by identity. */
function diff(before: readonly MeshResource[], after: readonly MeshResource[]): ResourceChanges {
  const was = new Set(before);
  const is = new Set(after);
  return { removed: before.filter((r) => !is.has(r)), added: after.filter((r) => !was.has(r)) };
}

type Edit = (rs: MeshResource[], next: () => number) => MeshResource[];
let counter = 0;

const EDITS: Record<string, Edit> = {
  addPod: (rs, next) => {
    const svc = pick(servicesOf(rs), next);
    const n = ++counter;
    const waypointPod = next() < 0.15;
    return [
      ...rs,
      makePod({
        name: `added-${n}`,
        namespace: waypointPod ? 'ns-0' : svc.namespace,
        nodeName: pick(NODES, next),
        podIP: `10.${20 + Math.floor(next() * NODES.length)}.200.${n % 250}`,
        serviceAccountName: `sa-${n % 5}`,
        labels: waypointPod ? { 'gateway.networking.k8s.io/gateway-name': 'waypoint' } : { ...svc.selector },
        containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }],
      }),
    ];
  },
  removePod: (rs, next) => replace(rs, pick(podsOf(rs), next), undefined),
  movePod: (rs, next) => {
    const pod = pick(podsOf(rs), next);
    return replace(rs, pod, { ...pod, nodeName: pick(NODES, next) });
  },
  relabelPod: (rs, next) => {
    const pod = pick(podsOf(rs), next);
    const svc = pick(servicesOf(rs), next);
    return replace(rs, pod, { ...pod, labels: next() < 0.5 ? { ...pod.labels, tier: 'front' } : { ...svc.selector }, namespace: next() < 0.3 ? svc.namespace : pod.namespace });
  },
  unreadyPod: (rs, next) => {
    const pod = pick(podsOf(rs), next);
    return replace(rs, pod, { ...pod, ready: !pod.ready });
  },
  takeAnotherPodsIp: (rs, next) => {
    const pods = podsOf(rs);
    const pod = pick(pods, next);
    return replace(rs, pod, { ...pod, podIP: pick(pods, next).podIP });
  },
  hostNetwork: (rs, next) => {
    const pod = pick(podsOf(rs), next);
    return replace(rs, pod, { ...pod, hostNetwork: !pod.hostNetwork });
  },
  dropIp: (rs, next) => {
    const pod = pick(podsOf(rs), next);
    return replace(rs, pod, { ...pod, podIP: undefined });
  },
  removeService: (rs, next) => replace(rs, pick(servicesOf(rs), next), undefined),
  policy: (rs, next) => {
    const ns = pick(servicesOf(rs), next).namespace;
    return [...rs, ...parsed(`apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: policy-${++counter}\n  namespace: ${ns}\nspec:\n  selector: {matchLabels: {version: v1}}\n  action: DENY\n  rules: [{from: [{source: {namespaces: [other]}}]}]\n`)];
  },
};

/** What generators read off a snapshot, in a comparable form. */
function answers(s: MeshSnapshot) {
  const keys = (items: readonly { name: string; namespace?: string }[]) => items.map((i) => objectKey(i));
  return {
    pods: [...s.pods.keys()],
    byPod: [...s.pods.values()].map((p) => ({
      services: keys(s.servicesOf(p)),
      ownerOfIp: p.podIP ? keys([s.podByIp(p.podIP)].filter((x): x is Pod => x !== undefined)) : [],
      policies: keys(s.policiesFor(p).authorizationPolicies),
    })),
    byNode: NODES.map((n) => keys(s.podsOnNode(n))),
    endpoints: [...s.services.values()].map((svc) => s.endpointsOf(svc).map((e) => `${objectKey(e.pod)} ${e.address}:${e.targetPort}`)),
    waypoints: [...s.gateways.values()].map((gw) => s.waypointAddressesOf(gw)),
  };
}

describe('incremental snapshot and workload Addresses after pod edits', () => {
  it('equal a build from scratch on a generated sequence of edits', () => {
    const next = seededRandom(20261205);
    let resources: MeshResource[] = [...syntheticMesh({ pods: 80, services: 8, nodes: NODES.length, namespaces: 3 }), ...parsed(WAYPOINT)];
    let snapshot = buildSnapshot(resources);
    let generated = generateWorkloadResources(snapshot);
    const names = Object.keys(EDITS);
    let incremental = 0;
    for (let step = 0; step < STEPS; step++) {
      const edit = pick(names, next);
      const previousResources = resources;
      resources = EDITS[edit]!(resources, next);
      const hinted = buildSnapshot(resources, {}, snapshot, diff(previousResources, resources));
      const built = buildSnapshot(resources, {}, snapshot);
      const fromScratch = buildSnapshot(resources);
      expect(answers(hinted), `with changes, after ${edit} (step ${step})`).toEqual(answers(fromScratch));
      expect(podChangesOf(hinted)?.pods).toEqual(podChangesOf(built)?.pods);
      const hintedAddresses = generateWorkloadResources(hinted).addresses;
      expect([...hintedAddresses], `Addresses with changes after ${edit} (step ${step})`).toEqual([...generateWorkloadResources(fromScratch).addresses]);
      // update() reports every Address whose content changed or that went; on a pod-only edit, only
      // Workloads of the pods that changed (an equal pod in a new object may be reported: harmless).
      const reported = workloadGenerator.update?.(snapshot, hinted, ZTUNNEL)?.get(TYPE_URL.ADDRESS);
      const reportedNames = new Set([...(reported?.updated.keys() ?? []), ...(reported?.removed ?? [])]);
      const before = generated.addresses;
      const differing = [...new Set([...before.keys(), ...hintedAddresses.keys()])].filter((name) => JSON.stringify(before.get(name)) !== JSON.stringify(hintedAddresses.get(name)));
      for (const name of differing) expect(reportedNames.has(name), `${name} after ${edit} (step ${step})`).toBe(true);
      const changedPods = podChangesOf(hinted)?.pods;
      if (changedPods) for (const name of reportedNames) expect(changedPods.has(name.split('//Pod/')[1] ?? ''), name).toBe(true);
      const changes = podChangesOf(built);
      if (changes) {
        incremental++;
        expect(changes.previous).toBe(snapshot);
      }
      expect(answers(built), `after ${edit} (step ${step})`).toEqual(answers(fromScratch));
      const resourcesNow = generateWorkloadResources(built);
      expect([...resourcesNow.addresses], `Addresses after ${edit} (step ${step})`).toEqual([...generateWorkloadResources(fromScratch).addresses]);
      expect([...resourcesNow.authorizations]).toEqual([...generateWorkloadResources(fromScratch).authorizations]);
      // Workloads of pods that did not change are the very objects sent before.
      for (const [name, resource] of resourcesNow.addresses) {
        const key = name.split('//Pod/')[1];
        if (changes && key !== undefined && !changes.pods.has(key)) expect(resource, name).toBe(generated.addresses.get(name));
      }
      snapshot = built;
      generated = resourcesNow;
    }
    // Most edits change pods alone; the rest take the full path.
    expect(incremental).toBeGreaterThan(STEPS / 2);
    expect(incremental).toBeLessThan(STEPS);
  });

  it('takes the full path when anything but pods changed', () => {
    const resources = syntheticMesh({ pods: 10, services: 2, nodes: 2 });
    const first = buildSnapshot(resources);
    const service = resources.find((r) => r.kind === 'Service')!;
    expect(podChangesOf(buildSnapshot(replace(resources, service, { ...service }), {}, first))).toBeUndefined();
    expect(podChangesOf(buildSnapshot(resources, { trustDomain: 'other.example' }, first))).toBeUndefined();
    const pod = podsOf(resources)[3]!;
    const changes = podChangesOf(buildSnapshot(replace(resources, pod, { ...pod, ready: false }), {}, first));
    expect([...(changes?.pods ?? [])]).toEqual([objectKey(pod)]);
  });
});
