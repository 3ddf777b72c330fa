/**
 * `meshctl dev`: what to run for a mesh snapshot, as data. Pure, so the choices (which pods get
 * a sample workload or a waypoint, which names resolve where, where istiod-lite and the host
 * sit) are table-tested; mesh.ts carries the plan out.
 */
import { LABEL_GATEWAY_NAME, type MeshSnapshot, type Pod } from '@mesh/mesh-model';
import { MeshError } from '@mesh/errors';

export type DevMode = 'transparent' | 'explicit';

/** Every namespace, veth and resolver file of the dev mesh starts with this (crash cleanup by name). */
export const DEV_PREFIX = 'mdev-';
/** The host's end of the link into the underlay, in the caller's network namespace. */
export const DEV_HOST_INTERFACE = `${DEV_PREFIX}host`;

/**
 * Which pods a sample workload calls for every HTTP request, by `app` label: bookinfo's call
 * graph (productpage → reviews, details; reviews → ratings), so one curl crosses both nodes.
 */
export const SAMPLE_UPSTREAMS: Readonly<Record<string, readonly string[]>> = {
  productpage: ['http://reviews:9080/', 'http://details:9080/'],
  reviews: ['http://ratings:9080/'],
};

export interface DevNodePlan {
  readonly name: string;
  /** Underlay address (transparent) or the node's loopback address (explicit). */
  readonly address: string;
  /** `spec.podCIDR`: the host routes it via the node (to reach waypoint admin ports). */
  readonly podCidr?: string | undefined;
}

export interface DevPodPlan {
  readonly name: string;
  readonly namespace: string;
  readonly node: string;
  readonly ip: string;
  readonly serviceAccount: string;
  /** `workload`: a sample-workload process; `waypoint`: the waypoint proxy of a Gateway. */
  readonly kind: 'workload' | 'waypoint';
  /** A waypoint's Gateway (its gateway-name label): its credential is `<state-dir>/waypoints/<namespace>/<gateway>`. */
  readonly gateway?: string;
  readonly ports: readonly number[];
  readonly upstreams: readonly string[];
}

export interface DevServicePlan {
  readonly name: string;
  readonly namespace: string;
  readonly vip: string;
  readonly ports: readonly number[];
}

export interface DevPlan {
  readonly mode: DevMode;
  readonly nodes: readonly DevNodePlan[];
  readonly pods: readonly DevPodPlan[];
  readonly services: readonly DevServicePlan[];
  /** istiod-lite's address: on the underlay (transparent) or 127.0.0.1 (explicit). */
  readonly istiodAddress: string;
  /** Transparent: the underlay /24 and the host's address on it (meshctl reaches admin ports). */
  readonly underlayCidr: string | undefined;
  readonly hostAddress: string | undefined;
}

const podKey = (pod: { name: string; namespace: string }) => `${pod.namespace}/${pod.name}`;

/**
 * Explicit mode runs every pod on a loopback address: 10.77.1.11 → 127.77.1.11 (Linux routes
 * all of 127/8 to lo, so any such address can be bound without root). Applied to manifest text.
 */
export function toLoopbackAddresses(manifestText: string): string {
  return manifestText.replace(/\b(?:25[0-5]|2[0-4]\d|1?\d?\d)\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b/g, '127.$1.$2.$3');
}

function ports(pod: Pod): number[] {
  return [...new Set(pod.containers.flatMap((c) => c.ports.map((p) => p.containerPort)))].sort((a, b) => a - b);
}

/** `10.77.0.11` → `10.77.0.` (the /24 the dev underlay uses). */
function slash24(address: string): string {
  return address.slice(0, address.lastIndexOf('.') + 1);
}

export function planDevMesh(snapshot: MeshSnapshot, mode: DevMode): DevPlan {
  const nodes = [...snapshot.nodes.values()].map((n) => ({ name: n.name, address: n.address, ...(n.podCidr ? { podCidr: n.podCidr } : {}) }));
  if (nodes.length === 0) {
    throw new MeshError('MESHCTL_ERR_DEV_PLAN', 'the manifests declare no Node', { hint: 'load examples/bookinfo (it declares node-a and node-b)' });
  }
  const pods: DevPodPlan[] = [];
  for (const pod of snapshot.pods.values()) {
    // Host-network pods share their node's address: nothing of theirs to run in a pod namespace.
    if (!pod.podIP || pod.hostNetwork) continue;
    const gateway = pod.labels[LABEL_GATEWAY_NAME];
    const isWaypoint = gateway !== undefined;
    const app = pod.labels['app'];
    pods.push({
      name: pod.name,
      namespace: pod.namespace,
      node: pod.nodeName,
      ip: pod.podIP,
      serviceAccount: pod.serviceAccountName,
      kind: isWaypoint ? 'waypoint' : 'workload',
      ...(isWaypoint ? { gateway } : {}),
      ports: ports(pod),
      upstreams: !isWaypoint && app ? (SAMPLE_UPSTREAMS[app] ?? []) : [],
    });
  }
  const services = [...snapshot.services.values()]
    .filter((s) => s.clusterIP && s.clusterIP !== 'None')
    .map((s) => ({ name: s.name, namespace: s.namespace, vip: s.clusterIP as string, ports: s.ports.map((p) => p.port) }));
  if (mode === 'explicit') return { mode, nodes, pods, services, istiodAddress: '127.0.0.1', underlayCidr: undefined, hostAddress: undefined };

  const base = slash24(nodes[0]!.address);
  const foreign = nodes.find((n) => slash24(n.address) !== base);
  if (foreign) {
    throw new MeshError('MESHCTL_ERR_DEV_PLAN', `node ${foreign.name} (${foreign.address}) is not on ${base}0/24 with ${nodes[0]!.name}`, {
      hint: 'the dev underlay is one /24: give every Node an InternalIP in it',
    });
  }
  const taken = new Set([...nodes.map((n) => n.address), ...pods.map((p) => p.ip)]);
  for (const reserved of [`${base}1`, `${base}2`]) {
    if (taken.has(reserved)) throw new MeshError('MESHCTL_ERR_DEV_PLAN', `${reserved} is used by the manifests; the dev mesh reserves .1 (host) and .2 (istiod-lite) of the underlay`);
  }
  return { mode, nodes, pods, services, istiodAddress: `${base}2`, underlayCidr: `${base}0/24`, hostAddress: `${base}1` };
}

/**
 * The resolver settings a pod sees (`/etc/netns/<pod netns>/resolv.conf`, bind-mounted over
 * /etc/resolv.conf by `ip netns exec`), as kubelet writes them: the Kubernetes search path of the
 * pod's namespace, `ndots:5`, and a nameserver. Service names are answered by the pod's node's
 * ztunnel: the capture rules send a captured pod's port-53 traffic, whatever address it names,
 * to ztunnel's DNS proxy (apps/ztunnel/ARCHITECTURE.md, "DNS proxy"). The nameserver named is
 * the pod's node, so a pod outside the mesh (not captured) is refused at once rather than left
 * to time out.
 */
export function renderResolvConf(plan: DevPlan, pod: { name: string; namespace: string; node: string }): string {
  const nameserver = plan.nodes.find((n) => n.name === pod.node)?.address ?? plan.istiodAddress;
  return [
    `# meshctl dev: pod ${pod.namespace}/${pod.name}; its node's ztunnel answers (DNS proxy, captured)`,
    `search ${pod.namespace}.svc.cluster.local svc.cluster.local cluster.local`,
    `nameserver ${nameserver}`,
    'options ndots:5',
    '',
  ].join('\n');
}

/** What changed between two plans (a manifest edit under the running mesh). */
export function diffPods(before: readonly DevPodPlan[], after: readonly DevPodPlan[]): { added: DevPodPlan[]; removed: DevPodPlan[] } {
  const same = (a: DevPodPlan, b: DevPodPlan) => JSON.stringify(a) === JSON.stringify(b);
  const beforeByKey = new Map(before.map((p) => [podKey(p), p]));
  const afterByKey = new Map(after.map((p) => [podKey(p), p]));
  const removed = before.filter((p) => {
    const next = afterByKey.get(podKey(p));
    return !next || !same(p, next);
  });
  const added = after.filter((p) => {
    const prev = beforeByKey.get(podKey(p));
    return !prev || !same(p, prev);
  });
  return { added, removed };
}
