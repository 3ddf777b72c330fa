/**
 * What a kubelet writes to the API, for pods that are network namespaces and processes rather
 * than containers: a Pod's status (phase, IP, conditions) through the `status` subresource, a
 * Node's addresses and Ready condition, and the node's Lease in `kube-node-lease`, renewed well
 * within its duration. Without the renewals the node-lifecycle controller marks the Node
 * NotReady after its grace period (50 s), taints it and marks its Pods not Ready, and the
 * EndpointSlice controller drops them (https://kubernetes.io/docs/concepts/architecture/nodes/#node-heartbeats).
 */
import { CoreV1Api, DiscoveryV1Api, KubernetesObjectApi, type KubeConfig, type KubernetesObject, type V1NodeCondition } from '@kubernetes/client-node';

/** A MicroTime as the API server parses it: RFC 3339 with six fractional digits. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** A kubelet renews every 10 s a Lease of 40 s (its defaults: `nodeLeaseDurationSeconds`, a quarter of it). */
export const NODE_LEASE_DURATION_SECONDS = 40;
export const NODE_LEASE_RENEW_MS = 10_000;
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

const CONFLICT_RETRIES = 5;

/**
 * Read, change, replace, again on `409 Conflict`: the node-lifecycle controller (taints) or
 * kubectl may update the object between our read and our write, as they may a kubelet's; the
 * `resourceVersion` check refuses the stale write, so it is read again.
 */
async function retryOnConflict(write: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if ((err as { code?: number }).code !== 409 || attempt >= CONFLICT_RETRIES) throw err;
    }
  }
}

/** Sets a Pod's status the way a kubelet does once its containers run: Running, its IP, Ready (or not), each container running. */
export function setPodStatus(config: KubeConfig, namespace: string, name: string, status: { podIP: string; ready: boolean; hostIP?: string }): Promise<void> {
  return retryOnConflict(() => writePodStatus(config, namespace, name, status));
}

async function writePodStatus(config: KubeConfig, namespace: string, name: string, status: { podIP: string; ready: boolean; hostIP?: string }): Promise<void> {
  const core = config.makeApiClient(CoreV1Api);
  const pod = await core.readNamespacedPod({ namespace, name });
  const now = new Date();
  const hostIP = status.hostIP ?? '127.0.0.1';
  const ready = status.ready ? 'True' : 'False';
  pod.status = {
    phase: 'Running',
    podIP: status.podIP,
    podIPs: [{ ip: status.podIP }],
    hostIP,
    hostIPs: [{ ip: hostIP }],
    startTime: now,
    conditions: [
      { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
      { type: 'Initialized', status: 'True', lastTransitionTime: now },
      { type: 'ContainersReady', status: ready, lastTransitionTime: now },
      { type: 'Ready', status: ready, lastTransitionTime: now },
    ],
    // One per container, as the kubelet reports them (kubectl's READY column counts these).
    containerStatuses: (pod.spec?.containers ?? []).map((c) => ({ name: c.name, image: c.image ?? '', imageID: '', ready: status.ready, started: true, restartCount: 0, state: { running: { startedAt: now } } })),
  };
  await core.replaceNamespacedPodStatus({ namespace, name, body: pod });
}

/**
 * Sets a Node's addresses (InternalIP, Hostname) and, when `ready` is given, its Ready condition
 * with a fresh heartbeat; other conditions and fields stay as they are.
 */
export function setNodeStatus(config: KubeConfig, name: string, status: { internalIp: string; ready?: boolean }): Promise<void> {
  return retryOnConflict(() => writeNodeStatus(config, name, status));
}

async function writeNodeStatus(config: KubeConfig, name: string, status: { internalIp: string; ready?: boolean }): Promise<void> {
  const core = config.makeApiClient(CoreV1Api);
  const node = await core.readNode({ name });
  const now = new Date();
  let conditions = node.status?.conditions;
  if (status.ready !== undefined) {
    const ready: V1NodeCondition = {
      type: 'Ready',
      status: status.ready ? 'True' : 'False',
      reason: status.ready ? 'KubeletReady' : 'KubeletNotReady',
      message: status.ready ? 'played by the process that runs this node\'s pods' : 'not ready',
      lastHeartbeatTime: now,
      lastTransitionTime: now,
    };
    conditions = [...(conditions ?? []).filter((c) => c.type !== 'Ready'), ready];
  }
  node.status = {
    ...node.status,
    addresses: [
      { type: 'InternalIP', address: status.internalIp },
      { type: 'Hostname', address: name },
    ],
    ...(conditions ? { conditions } : {}),
  };
  await core.replaceNodeStatus({ name, body: node });
}

export interface NodeLeases {
  /** Renewals that failed so far, with why (the API server restarting, say): the next one retries. */
  readonly failures: readonly string[];
  /** Stops renewing (the Leases stay; the Nodes go NotReady after the grace period). Idempotent. */
  close(): void;
}

/**
 * Creates each node's Lease (holder: the node) and renews it every `renewMs`, as a kubelet does;
 * resolves once every Lease exists.
 */
export async function startNodeLeases(config: KubeConfig, nodes: readonly string[], { renewMs = NODE_LEASE_RENEW_MS }: { renewMs?: number } = {}): Promise<NodeLeases> {
  // The generic client: the typed one writes a Lease's MicroTime with milliseconds, which the API
  // server refuses (it parses exactly six fractional digits).
  const objects = KubernetesObjectApi.makeApiClient(config);
  const core = config.makeApiClient(CoreV1Api);
  const failures: string[] = [];
  const renew = async (node: string) => {
    const spec = { holderIdentity: node, leaseDurationSeconds: NODE_LEASE_DURATION_SECONDS, renewTime: microTime(new Date()) };
    const ref = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: node, namespace: NODE_LEASE_NAMESPACE } };
    try {
      const lease = (await objects.read(ref)) as KubernetesObject & { spec?: Record<string, unknown> };
      await objects.replace({ ...ref, metadata: { ...ref.metadata, resourceVersion: lease.metadata?.resourceVersion }, spec: { ...lease.spec, ...spec } } as KubernetesObject);
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      // Owned by its Node, as a kubelet's: deleting the Node deletes the Lease.
      const owner = await core.readNode({ name: node });
      await objects.create({ ...ref, metadata: { ...ref.metadata, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node, uid: owner.metadata!.uid! }] }, spec } as KubernetesObject);
    }
  };
  await Promise.all(nodes.map(renew));
  let renewing = false;
  const timer = setInterval(() => {
    if (renewing) return;
    renewing = true;
    void Promise.all(nodes.map((node) => renew(node).catch((err: Error) => void failures.push(`${node}: ${err.message}`)))).finally(() => (renewing = false));
  }, renewMs);
  timer.unref();
  return {
    failures,
    close: () => clearInterval(timer),
  };
}

/** The `endpointslice.kubernetes.io/managed-by` label the EndpointSlice controller puts on the slices it manages. */
export const ENDPOINTSLICE_CONTROLLER = 'endpointslice-controller.k8s.io';

/**
 * What the EndpointSlices say, as a reader checks the EndpointSlice controller's work: per
 * Service (`namespace/name`, label `kubernetes.io/service-name`), the addresses of its endpoints
 * that are ready (`conditions.ready` not false), sorted; only slices `managedBy` (label
 * `endpointslice.kubernetes.io/managed-by`) when given.
 */
export async function readyEndpointAddresses(config: KubeConfig, { managedBy }: { managedBy?: string } = {}): Promise<Map<string, string[]>> {
  const discovery = config.makeApiClient(DiscoveryV1Api);
  const slices = (await discovery.listEndpointSliceForAllNamespaces(managedBy ? { labelSelector: `endpointslice.kubernetes.io/managed-by=${managedBy}` } : {})).items;
  const byService = new Map<string, string[]>();
  for (const slice of slices) {
    const service = slice.metadata?.labels?.['kubernetes.io/service-name'];
    if (!service) continue;
    const key = `${slice.metadata?.namespace}/${service}`;
    const ready = (slice.endpoints ?? []).filter((e) => e.conditions?.ready !== false).flatMap((e) => e.addresses);
    byService.set(key, [...(byService.get(key) ?? []), ...ready].sort());
  }
  return byService;
}
