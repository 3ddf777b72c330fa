/**
 * A mesh suite's configuration on a real API server (@mesh/kube-local) instead of istiod-lite's
 * manifest directory, as `meshctl dev up --kubernetes` runs it (docs/kubernetes.md): etcd,
 * kube-apiserver and kube-controller-manager's EndpointSlice controller on loopback, the real
 * CRDs, istiod-lite reading the API as a token user bound to deploy/kubernetes' ClusterRole.
 *
 * It is the ManifestSink of createMeshFiles (helpers/mesh.ts): each manifest the suite writes is
 * `kubectl apply`'d (without its status, as a person applies it), what a rewrite or removal no
 * longer declares is `kubectl delete`d at once (no kubelet confirms a termination here), and
 * then this plays kubelet: the status the manifest declares (a Pod's IP and phase, a Node's
 * InternalIP) is written through the `status` subresource. The suite writes a pod's manifest
 * once its network namespace is up, so that is when the Pod becomes Ready.
 *
 * istiod-lite runs in the suite's underlay namespace, kube-apiserver on this host's loopback:
 * `exposeIn(netns)` listens on the same 127.0.0.1:<port> inside that namespace and forwards to
 * it, so the kubeconfig (and the API server's certificate, issued for 127.0.0.1) serve as they
 * are, and nothing is added to the host's network. `close()` stops all of it and removes its
 * directory; idempotent.
 */
import { readFile } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import {
  clusterRoleForUser,
  deletionsFor,
  installCrds,
  kubectl,
  kubeToolsMissing,
  manifestsForApply,
  parseManifests,
  setNodeStatus,
  setPodStatus,
  startLocalKube,
  type KubeTool,
  type LocalKube,
  type ManifestObject,
} from '@mesh/kube-local';
import { listenTransparent } from '@mesh/netfilter';
import type { ManifestSink } from './mesh.js';
import { REPO_ROOT } from './process.js';

const KUBE_TOOLS: readonly KubeTool[] = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl', 'istio-api', 'gateway-api'];
/** The token user istiod-lite reads the API as. */
const ISTIOD_USER = 'istiod-lite';

/** Why the kubernetes variant cannot run here (a tool `npm run setup` builds is missing), or undefined. */
export function kubeMeshToolsMissing(): string | undefined {
  return kubeToolsMissing(KUBE_TOOLS);
}

export interface KubeMesh extends ManifestSink {
  readonly kube: LocalKube;
  /** istiod-lite's `--kubeconfig`: the `istiod-lite` user, deploy/kubernetes' ClusterRole. */
  readonly istiodKubeconfig: string;
  /** Makes kube-apiserver reachable at the kubeconfig's address from inside `netns`. */
  exposeIn(netns: string): Promise<void>;
  close(): Promise<void>;
}

type Status = { phase?: string; podIP?: string; addresses?: { type?: string; address?: string }[] };

export async function startKubeMesh(): Promise<KubeMesh> {
  // Only the EndpointSlice controller: the suites' Nodes have no Leases (no node-lifecycle controller to evict their pods).
  const kube = await startLocalKube({ users: { [ISTIOD_USER]: [] }, controllers: ['endpointslice-controller'] });
  const forwarders: Server[] = [];
  const sockets = new Set<Socket>();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const socket of sockets) socket.destroy();
    await Promise.all(forwarders.map((f) => new Promise((resolve) => f.close(resolve))));
    await kube.close();
  };
  try {
    const admin = kube.kubeConfig();
    const adminKubeconfig = await kube.kubeconfigFor('admin');
    const istiodKubeconfig = await kube.kubeconfigFor(ISTIOD_USER);
    await installCrds(admin);
    const rbac = clusterRoleForUser(await readFile(`${REPO_ROOT}deploy/kubernetes/istiod-rbac.yaml`, 'utf8'), ISTIOD_USER, 'istiod-lite-e2e');
    if (!rbac) throw new Error('deploy/kubernetes/istiod-rbac.yaml has no ClusterRole');
    await kubectl(adminKubeconfig, ['apply', '-f', '-'], rbac);

    const nodeAddresses = new Map<string, string>();
    /** The kubelet's part: what the manifests say of their status, Nodes first (a Pod's hostIP is its node's). */
    const playKubelet = async (objects: readonly ManifestObject[]) => {
      for (const node of objects.filter((o) => o.kind === 'Node')) {
        const internalIp = (node.status as Status | undefined)?.addresses?.find((a) => a.type === 'InternalIP')?.address;
        if (!internalIp) continue;
        nodeAddresses.set(node.metadata!.name!, internalIp);
        await setNodeStatus(admin, node.metadata!.name!, { internalIp, ready: true });
      }
      for (const pod of objects.filter((o) => o.kind === 'Pod')) {
        const status = pod.status as Status | undefined;
        if (!status?.podIP) continue;
        const hostIP = nodeAddresses.get(String(pod.spec?.['nodeName']));
        await setPodStatus(admin, pod.metadata?.namespace ?? 'default', pod.metadata!.name!, { podIP: status.podIP, ready: status.phase === 'Running', ...(hostIP ? { hostIP } : {}) });
      }
    };
    const apply = async (texts: readonly string[]) => {
      await kubectl(adminKubeconfig, ['apply', '-f', '-'], manifestsForApply(texts));
      await playKubelet(parseManifests(texts));
    };

    return {
      kube,
      istiodKubeconfig,
      start: (files) => apply([...files.values()]),
      async update(_name, previous, next) {
        for (const target of deletionsFor(previous === undefined ? [] : [previous], next === undefined ? [] : [next])) {
          await kubectl(adminKubeconfig, ['delete', ...target, '--ignore-not-found', '--grace-period=0', '--force']);
        }
        if (next !== undefined) await apply([next]);
      },
      async exposeIn(netns) {
        const { hostname, port } = new URL(kube.server);
        const forwarder = createServer((socket) => {
          const upstream = createConnection({ host: hostname, port: Number(port) });
          const pair = [socket, upstream];
          // Either end failing or closed ends both (close() destroys what is still open).
          const drop = () => pair.forEach((s) => (s.destroy(), sockets.delete(s)));
          pair.forEach((s) => sockets.add(s.on('error', drop).on('close', drop)));
          socket.pipe(upstream).pipe(socket);
        });
        forwarders.push(forwarder);
        await listenTransparent(forwarder, { host: hostname, port: Number(port), netns });
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
