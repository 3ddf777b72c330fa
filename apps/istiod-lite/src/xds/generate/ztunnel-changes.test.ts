/**
 * Incremental generation equals generation from scratch: on a synthetic mesh, a seeded sequence
 * of edits (pods added, removed, moved, relabelled; services added, removed, re-ported; policies
 * and PeerAuthentications; a namespace leaving and joining the mesh; a node's pod CIDR), and for
 * every node after every edit, applying `generateZtunnelChanges(previous, next)` to the previous
 * config gives exactly `generateZtunnelConfig(next)`. Unchanged resources keep their objects
 * between snapshots, as the directory config source does.
 */
import { describe, expect, it } from 'vitest';
import { buildSnapshot, parseManifests } from '@mesh/mesh-model';
import type { MeshResource, MeshSnapshot, Pod, Service } from '@mesh/mesh-model';
import { makePod, makeService, seededRandom as random, syntheticMesh } from '@mesh/mesh-model/testing';
import { generateZtunnelChanges } from './ztunnel-changes.js';
import { generateZtunnelConfig } from './ztunnel.js';

const NODES = ['node-0', 'node-1', 'node-2', 'node-3', 'node-4'];
const STEPS = 48;

function parsed(yaml: string): MeshResource[] {
  const result = parseManifests(yaml, 'edit.yaml');
  if (result.errors.length > 0) throw new Error(JSON.stringify(result.errors));
  return [...result.resources];
}

function byName(config: ReturnType<typeof generateZtunnelConfig>): Record<string, Map<string, string>> {
  const index = (resources: readonly Record<string, unknown>[]) => new Map(resources.map((r) => [String(r['name'] ?? r['cluster_name']), JSON.stringify(r)]));
  return { listeners: index(config.listeners), clusters: index(config.clusters), endpoints: index(config.endpoints) };
}

function applyChanges(before: Record<string, Map<string, string>>, previous: MeshSnapshot, next: MeshSnapshot, node: string) {
  const changes = generateZtunnelChanges(previous, next, node);
  if (!changes) return byName(generateZtunnelConfig(next, node)); // "generate from scratch"
  const out: Record<string, Map<string, string>> = {};
  for (const type of ['listeners', 'clusters', 'endpoints'] as const) {
    const map = new Map(before[type]);
    for (const name of changes[type].removed) map.delete(name);
    for (const resource of changes[type].updated) map.set(String(resource['name'] ?? resource['cluster_name']), JSON.stringify(resource));
    out[type] = map;
  }
  return out;
}

type Configs = Map<string, Record<string, Map<string, string>>>;

/**
 * For every node: applying the changes from `snapshot` to `nextSnapshot` to its config equals
 * generating `nextSnapshot` from scratch. Returns the new configs and how many nodes got changes
 * (not a generation from scratch).
 */
function expectIncrementalEqualsScratch(snapshot: MeshSnapshot, nextSnapshot: MeshSnapshot, configs: Configs, what: string): { configs: Configs; incremental: number } {
  const nextConfigs: Configs = new Map();
  let incremental = 0;
  for (const node of NODES) {
    if (generateZtunnelChanges(snapshot, nextSnapshot, node)) incremental += 1;
    const applied = applyChanges(configs.get(node)!, snapshot, nextSnapshot, node);
    const scratch = byName(generateZtunnelConfig(nextSnapshot, node));
    for (const type of ['listeners', 'clusters', 'endpoints'] as const) {
      expect(new Map([...applied[type]!].sort()), `${what}, ${node}, ${type}`).toEqual(new Map([...scratch[type]!].sort()));
    }
    nextConfigs.set(node, scratch);
  }
  return { configs: nextConfigs, incremental };
}

type Edit = (resources: MeshResource[], next: () => number) => MeshResource[];

let counter = 0;
const pick = <T>(items: readonly T[], next: () => number): T => items[Math.floor(next() * items.length)] as T;
const pods = (rs: MeshResource[]) => rs.filter((r): r is Pod => r.kind === 'Pod');
const services = (rs: MeshResource[]) => rs.filter((r): r is Service => r.kind === 'Service');
const replace = (rs: MeshResource[], old: MeshResource, by: MeshResource | undefined) => rs.flatMap((r) => (r === old ? (by ? [by] : []) : [r]));

const EDITS: Record<string, Edit> = {
  addPod: (rs, next) => {
    const svc = pick(services(rs), next);
    const n = ++counter;
    const sa = next() < 0.5 ? `sa-${svc.name.slice(4)}` : `new-sa-${n}`;
    return [
      ...rs,
      makePod({
        name: `added-${n}`,
        namespace: svc.namespace,
        nodeName: pick(NODES, next),
        podIP: `10.${20 + Math.floor(next() * NODES.length)}.200.${n % 250}`,
        serviceAccountName: sa,
        labels: { ...svc.selector },
        containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }],
      }),
    ];
  },
  removePod: (rs, next) => replace(rs, pick(pods(rs), next), undefined),
  movePod: (rs, next) => {
    const pod = pick(pods(rs), next);
    return replace(rs, pod, { ...pod, nodeName: pick(NODES, next) });
  },
  relabelPod: (rs, next) => {
    const pod = pick(pods(rs), next);
    return replace(rs, pod, { ...pod, labels: { ...pod.labels, tier: next() < 0.5 ? 'front' : 'back' } });
  },
  unreadyPod: (rs, next) => {
    const pod = pick(pods(rs), next);
    return replace(rs, pod, { ...pod, ready: !pod.ready });
  },
  addService: (rs, next) => {
    const n = ++counter;
    const target = pick(services(rs), next);
    return [...rs, makeService({ name: `new-svc-${n}`, namespace: target.namespace, clusterIP: `10.99.0.${n % 250}`, selector: target.selector, ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' }] })];
  },
  removeService: (rs, next) => replace(rs, pick(services(rs), next), undefined),
  reportService: (rs, next) => {
    const svc = pick(services(rs), next);
    return replace(rs, svc, { ...svc, ports: [...svc.ports, { name: 'tcp', port: 9000 + Math.floor(next() * 100), targetPort: 8080, protocol: 'TCP' }] });
  },
  policy: (rs, next) => {
    const n = ++counter;
    const ns = pick(services(rs), next).namespace;
    const action = next() < 0.5 ? 'ALLOW' : 'DENY';
    return [...rs, ...parsed(`apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: policy-${n}\n  namespace: ${ns}\nspec:\n  action: ${action}\n  rules:\n    - from:\n        - source:\n            principals: ["cluster.local/ns/${ns}/sa/sa-${n % 7}"]\n`)];
  },
  dropPolicy: (rs, next) => {
    const policies = rs.filter((r) => r.kind === 'AuthorizationPolicy' || r.kind === 'PeerAuthentication');
    return policies.length === 0 ? rs : replace(rs, pick(policies, next), undefined);
  },
  strict: (rs, next) => {
    const ns = pick(services(rs), next).namespace;
    return [...rs, ...parsed(`apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: strict-${++counter}\n  namespace: ${ns}\nspec:\n  mtls:\n    mode: STRICT\n`)];
  },
  namespaceMode: (rs, next) => {
    const namespaces = rs.filter((r) => r.kind === 'Namespace');
    const ns = pick(namespaces, next);
    const ambient = ns.labels['istio.io/dataplane-mode'] === 'ambient';
    return replace(rs, ns, { ...ns, labels: { 'istio.io/dataplane-mode': ambient ? 'none' : 'ambient' } });
  },
  nodeCidr: (rs, next) => {
    const nodes = rs.filter((r) => r.kind === 'Node');
    const node = pick(nodes, next);
    return replace(rs, node, node.kind === 'Node' && node.podCidr ? { ...node, podCidr: undefined } : { ...node, podCidr: `10.${20 + nodes.indexOf(node)}.0.0/16` });
  },
};

describe('incremental ztunnel generation', () => {
  it('equals generation from scratch on a generated sequence of edits, on every node', () => {
    const next = random(20261204);
    let resources: MeshResource[] = syntheticMesh({ pods: 60, services: 8, nodes: NODES.length, namespaces: 3 });
    let snapshot = buildSnapshot(resources);
    let configs = new Map(NODES.map((node) => [node, byName(generateZtunnelConfig(snapshot, node))]));
    const names = Object.keys(EDITS);
    let incremental = 0;
    for (let step = 0; step < STEPS; step++) {
      const edit = names[step % names.length === 0 ? 0 : Math.floor(next() * names.length)] as string;
      resources = EDITS[edit]!(resources, next);
      const nextSnapshot = buildSnapshot(resources);
      const result = expectIncrementalEqualsScratch(snapshot, nextSnapshot, configs, `step ${step} (${edit})`);
      incremental += result.incremental;
      snapshot = nextSnapshot;
      configs = result.configs;
    }
    expect(incremental).toBe(STEPS * NODES.length); // none of these edits needs a generation from scratch
  });

  it('equals generation from scratch with a waypoint taking pod-addressed traffic (istio.io/waypoint-for), whatever its type', () => {
    const next = random(20261205);
    let resources: MeshResource[] = syntheticMesh({ pods: 40, services: 6, nodes: NODES.length, namespaces: 3 });
    const ns = resources.find((r) => r.kind === 'Namespace' && r.labels['istio.io/dataplane-mode'] === 'ambient');
    if (!ns) throw new Error('the synthetic mesh has no ambient namespace');
    resources = [
      ...replace(resources, ns, { ...ns, labels: { ...ns.labels, 'istio.io/use-waypoint': 'waypoint' } }),
      ...parsed(
        `apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: waypoint, namespace: ${ns.name}, labels: { istio.io/waypoint-for: workload } }\nspec: { gatewayClassName: istio-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }\n---\n` +
          `apiVersion: v1\nkind: Pod\nmetadata: { name: waypoint-0, namespace: ${ns.name}, labels: { gateway.networking.k8s.io/gateway-name: waypoint } }\nspec: { nodeName: node-1, serviceAccountName: waypoint }\nstatus: { phase: Running, podIP: 10.21.250.1 }\n`,
      ),
    ];
    const edits: Record<string, Edit> = {
      ...EDITS,
      waypointFor: (rs, n) => {
        const gw = rs.find((r) => r.kind === 'Gateway');
        return gw ? replace(rs, gw, { ...gw, labels: { 'istio.io/waypoint-for': pick(['service', 'workload', 'all', 'none'], n) } }) : rs;
      },
    };
    let snapshot = buildSnapshot(resources);
    let configs = new Map(NODES.map((node) => [node, byName(generateZtunnelConfig(snapshot, node))]));
    expect([...configs.get('node-0')!['clusters']!.keys()].some((name) => name.includes('_to_waypoint_waypoint.'))).toBe(true);
    const names = Object.keys(edits);
    for (let step = 0; step < 24; step++) {
      const edit = step % 3 === 0 ? 'waypointFor' : (names[Math.floor(next() * names.length)] as string);
      resources = edits[edit]!(resources, next);
      const nextSnapshot = buildSnapshot(resources);
      configs = expectIncrementalEqualsScratch(snapshot, nextSnapshot, configs, `step ${step} (${edit})`).configs;
      snapshot = nextSnapshot;
    }
  });

  it('an edit of one pod touches only what depends on it', () => {
    const resources: MeshResource[] = syntheticMesh({ pods: 200, services: 20, nodes: NODES.length });
    const before = buildSnapshot(resources);
    const pod = pods(resources)[0]!;
    const after = buildSnapshot([...resources, { ...pod, name: 'one-more', podIP: '10.20.9.9' }]);
    const elsewhere = generateZtunnelChanges(before, after, NODES.find((n) => n !== pod.nodeName)!)!;
    // Another node: the one destination's endpoints, for each of its identities; no listener.
    expect(elsewhere.listeners).toEqual({ updated: [], removed: [] });
    expect(elsewhere.clusters).toEqual({ updated: [], removed: [] });
    expect(elsewhere.endpoints.updated.map((r) => String(r['cluster_name']).split('_to_')[1])).toEqual(
      elsewhere.endpoints.updated.map(() => 'http_svc-0.ns-0.svc.cluster.local_outbound_internal'),
    );
    const here = generateZtunnelChanges(before, after, pod.nodeName)!;
    expect(here.listeners.updated.map((l) => l['name']).sort()).toEqual(['ztunnel_inbound', 'ztunnel_inbound_plaintext', 'ztunnel_outbound']);
  });
});
