/**
 * `meshctl dev up --kubernetes`: the dev mesh's configuration on a real API server instead of
 * istiod-lite's manifest directory (docs/kubernetes.md, "`pnpm dev` on a real API server").
 * @mesh/kube-local starts etcd, kube-apiserver and kube-controller-manager (EndpointSlice and
 * node-lifecycle controllers); the sample manifests go in with the real `kubectl apply`;
 * istiod-lite reads the API as the `istiod-lite` user bound to deploy/kubernetes' ClusterRole.
 * This module plays kubelet for the dev mesh's nodes and pods: each Node Ready with its Lease
 * renewed, each Pod Running and Ready with its IP once its process listens, so the
 * EndpointSlices istiod-lite reads are the EndpointSlice controller's.
 *
 * The proxies authenticate as on a real cluster (docs/kubernetes.md, "Proxy identity"): each node
 * has a ztunnel Pod `istio-system/ztunnel-<node>` (service account `ztunnel`, the one istiod-lite's
 * `--ca-trusted-node-accounts` trusts by default; `spec.nodeName` its node, as the DaemonSet's
 * pod), and the played kubelet fills its volumes: a token from the TokenRequest API bound to that
 * Pod (audience istio-ca, rotated at 80% of its lifetime) and root-cert.pem from istiod-lite's
 * `istio-ca-root-cert` ConfigMap. A waypoint pod gets the same for its own service account.
 *
 * `manifestsForApply` and `ztunnelManifests` are pure (what kubectl is given); `startDevKube`
 * does the I/O.
 */
import { readFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { join } from 'node:path';
import {
  clusterRoleForUser,
  deletionsFor as kubeDeletionsFor,
  DEFAULT_CONTROLLERS,
  ENDPOINTSLICE_CONTROLLER,
  installCrds,
  kubectl,
  kubeToolsMissing,
  manifestsForApply as kubeManifestsForApply,
  readyEndpointAddresses,
  setNodeStatus,
  setPodStatus,
  startLocalKube,
  startNodeLeases,
  startProjectedToken,
  writeConfigMapKey,
  DEFAULT_TOKEN_EXPIRATION_SECONDS,
  type LocalKube,
  type ProjectedToken,
} from '@mesh/kube-local';
import { MeshError } from '@mesh/errors';
import { matchesSelector, type MeshSnapshot } from '@mesh/mesh-model';
import type { ManifestFile } from './manifests.js';
import type { DevNodePlan, DevPodPlan } from './plan.js';

/** The API requires a container image; no container runs here (the pod is a process in a netns). */
export const DEV_POD_IMAGE = 'registry.invalid/meshctl-dev/sample-workload:dev';
/** The user istiod-lite reads the API as, bound to deploy/kubernetes' ClusterRole `istiod-lite`. */
export const ISTIOD_KUBE_USER = 'istiod-lite';
export { ENDPOINTSLICE_CONTROLLER } from '@mesh/kube-local';
const ENDPOINTSLICES_TIMEOUT_MS = 30_000;
/** ztunnel's namespace and service account: istiod-lite's default `--ca-trusted-node-accounts` (Istio's CA_TRUSTED_NODE_ACCOUNTS). */
export const ZTUNNEL_NAMESPACE = 'istio-system';
export const ZTUNNEL_SERVICE_ACCOUNT = 'ztunnel';
export const DEV_ZTUNNEL_IMAGE = 'registry.invalid/meshctl-dev/ztunnel:dev';
/** The audience of the proxies' tokens, which istiod-lite's TokenReview asks for. */
export const ISTIO_CA_AUDIENCE = 'istio-ca';
/** istiod-lite's ConfigMap of the mesh root in each namespace, and its key (Istio's names). */
const ROOT_CERT_CONFIG_MAP = 'istio-ca-root-cert';
const ROOT_CERT_KEY = 'root-cert.pem';
/** istiod-lite writes the ConfigMaps as soon as it has started. */
const ROOT_CERT_TIMEOUT_MS = 30_000;

export const ztunnelPodName = (node: string) => `ztunnel-${node}`;

/**
 * ztunnel's ServiceAccount and, per node, the Pod the DaemonSet of deploy/kubernetes/ztunnel.yaml
 * would make there (already scheduled: `spec.nodeName`; host network; the projected token and
 * the root ConfigMap as volumes, which the played kubelet fills). Namespace first.
 */
export function ztunnelManifests(nodes: readonly Pick<DevNodePlan, 'name'>[]): string {
  const objects: object[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ZTUNNEL_NAMESPACE } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: ZTUNNEL_SERVICE_ACCOUNT, namespace: ZTUNNEL_NAMESPACE } },
    ...nodes.map((node) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: ztunnelPodName(node.name), namespace: ZTUNNEL_NAMESPACE, labels: { app: 'ztunnel', 'sidecar.istio.io/inject': 'false' } },
      spec: {
        nodeName: node.name,
        serviceAccountName: ZTUNNEL_SERVICE_ACCOUNT,
        automountServiceAccountToken: false,
        hostNetwork: true,
        containers: [
          {
            name: 'istio-proxy',
            image: DEV_ZTUNNEL_IMAGE,
            volumeMounts: [
              { name: 'istio-token', mountPath: '/var/run/secrets/tokens' },
              { name: 'istiod-ca-cert', mountPath: '/var/run/secrets/istio' },
            ],
          },
        ],
        volumes: [
          { name: 'istio-token', projected: { sources: [{ serviceAccountToken: { path: 'istio-token', audience: ISTIO_CA_AUDIENCE, expirationSeconds: DEFAULT_TOKEN_EXPIRATION_SECONDS } }] } },
          { name: 'istiod-ca-cert', configMap: { name: ROOT_CERT_CONFIG_MAP } },
        ],
      },
    })),
  ];
  return objects.map((o) => stringify(o)).join('---\n');
}

/** The files a proxy authenticates to istiod-lite with: `--token-file` and `--ca-root-cert`. */
export interface ProxyCredentials {
  readonly tokenFile: string;
  readonly rootCertFile: string;
}

/**
 * The manifests as a person applies them (@mesh/kube-local `manifestsForApply`): without
 * `status`, each container with DEV_POD_IMAGE, Namespaces first, then the rest in file order.
 */
export function manifestsForApply(files: readonly ManifestFile[]): string {
  return kubeManifestsForApply(files.map((f) => f.text), DEV_POD_IMAGE);
}

/**
 * What a manifest edit deletes: the objects `previous` declared and `next` does not, and the
 * pods in `pods` (removed or changed: the next apply creates a changed one again), as kubectl
 * targets (@mesh/kube-local `deletionsFor`).
 */
export function deletionsFor(previous: readonly ManifestFile[], next: readonly ManifestFile[], pods: readonly { name: string; namespace: string }[]): string[][] {
  return kubeDeletionsFor(previous.map((f) => f.text), next.map((f) => f.text), pods);
}

/** Service → the pod IPs its EndpointSlices should list as ready, for the pods that run. */
export function expectedEndpoints(snapshot: MeshSnapshot, running: readonly DevPodPlan[]): Map<string, string[]> {
  const expected = new Map<string, string[]>();
  for (const service of snapshot.services.values()) {
    if (!service.selector || Object.keys(service.selector).length === 0) continue;
    const ips = running
      .filter((p) => p.namespace === service.namespace && matchesSelector(service.selector!, snapshot.pods.get(`${p.namespace}/${p.name}`)?.labels ?? {}))
      .map((p) => p.ip)
      .sort();
    expected.set(`${service.namespace}/${service.name}`, ips);
  }
  return expected;
}

export interface DevKube {
  readonly kube: LocalKube;
  /** A kubeconfig for `kubectl` as cluster admin (printed for the person). */
  readonly adminKubeconfig: string;
  /** istiod-lite's `--kubeconfig`. */
  readonly istiodKubeconfig: string;
  /** `kubectl apply` of the manifests after an edit (new objects created, changed ones updated). */
  apply(files: readonly ManifestFile[]): Promise<void>;
  /** Deletes what deletionsFor says, at once (no kubelet confirms a pod's termination here). */
  remove(previous: readonly ManifestFile[], next: readonly ManifestFile[], pods: readonly DevPodPlan[]): Promise<void>;
  /** What a kubelet writes once the pod's process listens: Running, its IP, Ready. */
  podRunning(pod: DevPodPlan, node: DevNodePlan): Promise<void>;
  /**
   * The pod's token (renewed until `forget` or close) and root certificate as files, as the
   * kubelet's volumes; waits for istiod-lite's root ConfigMap in the pod's namespace.
   */
  credentials(pod: { namespace: string; name: string }): Promise<ProxyCredentials>;
  /** Stops renewing a removed pod's token. */
  forget(pod: { namespace: string; name: string }): void;
  /** The node's ztunnel Pod Running and Ready (host network: the node's address), once it is. */
  ztunnelRunning(node: DevNodePlan): Promise<void>;
  /** Waits until every selector Service's controller-made slices list exactly these pods as ready. */
  waitForEndpointSlices(expected: Map<string, string[]>): Promise<void>;
  close(): Promise<void>;
}

export function devKubeToolsMissing(): string | undefined {
  return kubeToolsMissing(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl', 'istio-api', 'gateway-api']);
}

/** The ClusterRole of deploy/kubernetes/istiod-rbac.yaml, bound to the token user istiod-lite runs as. */
async function istiodRbac(repoRoot: string): Promise<string> {
  const rbac = clusterRoleForUser(await readFile(join(repoRoot, 'deploy/kubernetes/istiod-rbac.yaml'), 'utf8'), ISTIOD_KUBE_USER, 'istiod-lite-dev');
  if (!rbac) throw new MeshError('MESHCTL_ERR_DEV_KUBE', 'deploy/kubernetes/istiod-rbac.yaml has no ClusterRole');
  return rbac;
}

/**
 * Starts the control plane under `<stateDir>/kube` (kube-apiserver on `apiServerAddress`, where
 * istiod-lite reaches it), installs the CRDs, applies the manifests with kubectl, and makes each
 * node Ready with its Lease renewed. A failure removes what it started before rethrowing.
 */
export async function startDevKube(options: {
  repoRoot: string;
  stateDir: string;
  logsDir: string;
  apiServerAddress: string;
  files: readonly ManifestFile[];
  nodes: readonly DevNodePlan[];
  /** Called as soon as the programs run (their pids, for crash cleanup). */
  onStarted?: (pids: number[]) => Promise<void>;
}): Promise<DevKube> {
  const missing = devKubeToolsMissing();
  if (missing) throw new MeshError('MESHCTL_ERR_DEV_KUBE_TOOLS', `--kubernetes needs the Kubernetes programs: ${missing}`);
  const kube = await startLocalKube({
    dir: join(options.stateDir, 'kube'),
    apiServerAddress: options.apiServerAddress,
    users: { [ISTIOD_KUBE_USER]: [] },
    controllers: DEFAULT_CONTROLLERS,
    logDir: options.logsDir,
  });
  let leases: { close(): void } | undefined;
  try {
    await options.onStarted?.(kube.pids());
    const admin = kube.kubeConfig();
    const adminKubeconfig = await kube.kubeconfigFor('admin');
    const istiodKubeconfig = await kube.kubeconfigFor(ISTIOD_KUBE_USER);
    // The experimental channel: examples/waypoint's HTTPRoute retries (`rules[].retry`, GEP-1731),
    // which the standard channel's CRD does not have and kubectl's strict validation refuses.
    await installCrds(admin, 'experimental');
    await kubectl(adminKubeconfig, ['apply', '-f', '-'], `${await istiodRbac(options.repoRoot)}---\n${manifestsForApply(options.files)}---\n${ztunnelManifests(options.nodes)}`);
    for (const node of options.nodes) await setNodeStatus(admin, node.name, { internalIp: node.address, ready: true });
    leases = await startNodeLeases(admin, options.nodes.map((n) => n.name));
    const closeLeases = leases;
    const tokens = new Map<string, ProjectedToken>();
    /** The pod's volumes, as the kubelet's: `<kube dir>/pods/<namespace>/<pod>/volumes/<volume>/<file>` (removed with the cluster). */
    const volumeFile = (pod: { namespace: string; name: string }, volume: string, file: string) => join(kube.dir, 'pods', pod.namespace, pod.name, 'volumes', volume, file);
    const podKey = (pod: { namespace: string; name: string }) => `${pod.namespace}/${pod.name}`;
    return {
      kube,
      adminKubeconfig,
      istiodKubeconfig,
      async apply(files) {
        await kubectl(adminKubeconfig, ['apply', '-f', '-'], manifestsForApply(files));
      },
      async remove(previous, next, pods) {
        for (const target of deletionsFor(previous, next, pods)) {
          await kubectl(adminKubeconfig, ['delete', ...target, '--ignore-not-found', '--grace-period=0', '--force']);
        }
      },
      podRunning: (pod, node) => setPodStatus(admin, pod.namespace, pod.name, { podIP: pod.ip, ready: true, hostIP: node.address }),
      async credentials(pod) {
        const rootCertFile = volumeFile(pod, 'istiod-ca-cert', ROOT_CERT_KEY);
        await writeConfigMapKey(admin, { namespace: pod.namespace, name: ROOT_CERT_CONFIG_MAP, key: ROOT_CERT_KEY, file: rootCertFile, timeoutMs: ROOT_CERT_TIMEOUT_MS });
        tokens.get(podKey(pod))?.close();
        const token = await startProjectedToken(admin, { namespace: pod.namespace, pod: pod.name, audience: ISTIO_CA_AUDIENCE, file: volumeFile(pod, 'istio-token', 'istio-token') });
        tokens.set(podKey(pod), token);
        return { tokenFile: token.file, rootCertFile };
      },
      forget(pod) {
        tokens.get(podKey(pod))?.close();
        tokens.delete(podKey(pod));
      },
      ztunnelRunning: (node) => setPodStatus(admin, ZTUNNEL_NAMESPACE, ztunnelPodName(node.name), { podIP: node.address, ready: true, hostIP: node.address }),
      async waitForEndpointSlices(expected) {
        const deadline = Date.now() + ENDPOINTSLICES_TIMEOUT_MS;
        let differ: string[] = [];
        for (;;) {
          const listed = await readyEndpointAddresses(admin, { managedBy: ENDPOINTSLICE_CONTROLLER });
          differ = [...expected]
            .filter(([service, ips]) => JSON.stringify(listed.get(service) ?? []) !== JSON.stringify(ips))
            .map(([service, ips]) => `${service}: [${(listed.get(service) ?? []).join(', ')}], expected [${ips.join(', ')}]`);
          if (differ.length === 0) return;
          if (Date.now() > deadline) {
            throw new MeshError('MESHCTL_ERR_DEV_KUBE', `the EndpointSlice controller did not list the running pods within ${ENDPOINTSLICES_TIMEOUT_MS} ms: ${differ.join('; ')}`, {
              hint: `see ${join(options.logsDir, 'kube-controller-manager.log')}`,
            });
          }
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      },
      async close() {
        closeLeases.close();
        for (const token of tokens.values()) token.close();
        await kube.close();
      },
    };
  } catch (err) {
    leases?.close();
    await kube.close();
    throw err;
  }
}
