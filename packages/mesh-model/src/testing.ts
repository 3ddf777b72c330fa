/**
 * Builders for tests and benchmarks: resources with sensible defaults (override any field), and
 * a synthetic mesh of any size.
 */
import type { Namespace, Node, Pod, Service } from './types.js';

const NO_LABELS = Object.freeze({}) as Readonly<Record<string, string>>;

export function makeNamespace(name: string, labels: Record<string, string> = { 'istio.io/dataplane-mode': 'ambient' }): Namespace {
  return { kind: 'Namespace', name, labels, annotations: NO_LABELS };
}

export function makeNode(name: string, address: string): Node {
  return { kind: 'Node', name, address, labels: NO_LABELS, annotations: NO_LABELS };
}

export function makePod(fields: Partial<Pod> & Pick<Pod, 'name' | 'nodeName'>): Pod {
  return {
    kind: 'Pod',
    namespace: 'default',
    labels: NO_LABELS,
    annotations: NO_LABELS,
    serviceAccountName: 'default',
    ready: true,
    hostNetwork: false,
    containers: [],
    ...fields,
  };
}

export function makeService(fields: Partial<Service> & Pick<Service, 'name'>): Service {
  return { kind: 'Service', namespace: 'default', labels: NO_LABELS, annotations: NO_LABELS, ports: [], ...fields };
}

/** Node n's pod CIDR is 10.(20+n).0.0/16, and 10.96.0.0/12 holds the VIPs. */
const MAX_SYNTHETIC_NODES = 76;

export interface SyntheticMeshSize {
  readonly pods: number;
  readonly services: number;
  readonly nodes: number;
  /** Namespaces the services are spread over (default 10). */
  readonly namespaces?: number;
}

/**
 * A mesh of `services` services, each backed by `pods / services` pods with a named target port,
 * pods spread round-robin over `nodes` nodes (at most 76). Addresses: nodes 10.0.x.y; node n
 * owns pod CIDR 10.(20+n).0.0/16; VIPs 10.(96+).x.y.
 */
export function syntheticMesh(size: SyntheticMeshSize): (Namespace | Node | Pod | Service)[] {
  const nsCount = size.namespaces ?? 10;
  const out: (Namespace | Node | Pod | Service)[] = [];
  for (let n = 0; n < nsCount; n++) out.push(makeNamespace(`ns-${n}`));
  if (size.nodes > MAX_SYNTHETIC_NODES) throw new RangeError(`syntheticMesh supports at most ${MAX_SYNTHETIC_NODES} nodes`);
  for (let n = 0; n < size.nodes; n++) out.push({ ...makeNode(`node-${n}`, `10.0.${n >> 8}.${n & 255}`), podCidr: `10.${20 + n}.0.0/16` });
  const ip = (base: number, i: number) => `10.${base + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
  for (let s = 0; s < size.services; s++) {
    out.push(
      makeService({
        name: `svc-${s}`,
        namespace: `ns-${s % nsCount}`,
        clusterIP: ip(96, s),
        selector: { app: `svc-${s}` },
        ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' }],
      }),
    );
  }
  for (let p = 0; p < size.pods; p++) {
    const s = p % size.services;
    out.push(
      makePod({
        name: `svc-${s}-${p}`,
        namespace: `ns-${s % nsCount}`,
        nodeName: `node-${p % size.nodes}`,
        podIP: ip(20 + (p % size.nodes), Math.floor(p / size.nodes) + 1),
        serviceAccountName: `sa-${s}`,
        labels: { app: `svc-${s}`, version: `v${p % 3}` },
        containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }],
      }),
    );
  }
  return out;
}

/**
 * One resource of `syntheticMesh` (or a `makePod`/`makeService` of its shape) as Kubernetes YAML,
 * so benchmarks parse and watch realistic manifests.
 */
export function manifestYaml(r: Namespace | Node | Pod | Service): string {
  const meta = `metadata:\n  name: ${r.name}\n${'namespace' in r && r.namespace ? `  namespace: ${r.namespace}\n` : ''}`;
  const labels = Object.entries('labels' in r ? (r.labels ?? {}) : {});
  const labelBlock = labels.length ? `  labels:\n${labels.map(([k, v]) => `    ${k}: "${v}"\n`).join('')}` : '';
  switch (r.kind) {
    case 'Namespace':
      return `apiVersion: v1\nkind: Namespace\n${meta}${labelBlock}`;
    case 'Node':
      return `apiVersion: v1\nkind: Node\n${meta}spec:\n  podCIDR: ${r.podCidr}\nstatus:\n  addresses: [{type: InternalIP, address: ${r.address}}]\n`;
    case 'Service':
      return `apiVersion: v1\nkind: Service\n${meta}${labelBlock}spec:\n  clusterIP: ${r.clusterIP}\n  selector: {app: ${r.selector?.['app']}}\n  ports: [{name: http, port: 80, targetPort: http, appProtocol: http}]\n`;
    case 'Pod':
      return `apiVersion: v1\nkind: Pod\n${meta}${labelBlock}spec:\n  serviceAccountName: ${r.serviceAccountName}\n  nodeName: ${r.nodeName}\n  containers: [{name: app, ports: [{name: http, containerPort: 8080}]}]\nstatus:\n  podIP: ${r.podIP}\n`;
  }
}

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), for seeded sequences of edits. */
export function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
