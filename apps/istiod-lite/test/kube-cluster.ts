/**
 * A real Kubernetes control plane on loopback for tests: etcd and kube-apiserver (started by
 * @mesh/kube-local from the programs `npm run setup` builds from Kubernetes' own Go modules,
 * tools/kube), token authentication, RBAC, and the real CustomResourceDefinitions of Istio and
 * Gateway API read from their Go modules. No kubelet or scheduler, and no controller-manager unless
 * a test asks for some of its controllers: a test
 * plays kubelet by setting Pod and Node status through the `status` subresource.
 *
 * Everything lives in one temporary directory and two processes; `close()` stops both and
 * removes the directory (also after a failed start).
 */
import { writeFile } from 'node:fs/promises';
import { CoreV1Api, CustomObjectsApi, KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { installCrds, kubeToolsMissing as toolsMissing, realCrds as crds, setNodeStatus, setPodStatus, startLocalKube } from '@mesh/kube-local';

/** Why the Kubernetes tests cannot run here, or undefined when every tool is built. */
export function kubeToolsMissing(): string | undefined {
  return toolsMissing(['etcd', 'kube-apiserver', 'istio-api', 'gateway-api']);
}

/** The CRDs Istio publishes in istio.io/api and Gateway API's standard channel, as objects. */
export function realCrds(): KubernetesObject[] {
  return crds();
}

/** Any object of the API: its metadata typed, the rest as the API defines it. */
export type ApiObject = KubernetesObject & { [field: string]: unknown };

export type TokenUser = 'admin' | 'istiod-lite' | 'nobody';

export interface KubeCluster {
  /** `https://127.0.0.1:<port>` */
  readonly server: string;
  /** A cluster-admin client (system:masters). */
  readonly admin: KubeConfig;
  /** Writes a kubeconfig for a token user of the token file (`istiod-lite` and `nobody` have no permissions until a test binds some). */
  kubeconfigFor(user: TokenUser): Promise<string>;
  /** Creates, or replaces what exists, like `kubectl apply` without the merge. */
  apply(object: ApiObject): Promise<KubernetesObject>;
  /** Reads an object as the API server has it now (status included). */
  read(object: ApiObject): Promise<ApiObject>;
  /** Replaces a custom object's status (as its resourceVersion says it is), as another controller would. */
  replaceStatus(plural: string, object: ApiObject): Promise<ApiObject>;
  /** Deletes at once (grace period 0), as a kubelet finishing a pod's termination would. */
  remove(object: ApiObject): Promise<void>;
  /** Sets a Pod's status the way a kubelet does: Running, its IP, Ready (or not). */
  setPodStatus(namespace: string, name: string, status: { podIP: string; ready: boolean }): Promise<void>;
  setNodeStatus(name: string, internalIp: string): Promise<void>;
  /** The Events (events.k8s.io/v1) of a namespace. */
  events(namespace: string): Promise<ApiObject[]>;
  /** Stops kube-apiserver (etcd keeps the data); `startApiServer` brings it back on the same port. */
  stopApiServer(): Promise<void>;
  startApiServer(port?: number): Promise<void>;
  /** Compacts etcd at its current revision: older resourceVersions are gone (a watch from one gets 410). */
  compactEtcd(): Promise<void>;
  close(): Promise<void>;
}

/** `controllers`: kube-controller-manager runs these (e.g. the garbage collector); default none. */
export async function startKubeCluster(options: { controllers?: readonly string[] } = {}): Promise<KubeCluster> {
  const local = await startLocalKube({ users: { 'istiod-lite': [], nobody: [] }, ...(options.controllers ? { controllers: options.controllers } : {}) });
  try {
    // The real CRDs, established before any test creates an object of theirs.
    await installCrds(local.kubeConfig());
  } catch (err) {
    await local.close();
    throw err;
  }
  const client = () => KubernetesObjectApi.makeApiClient(local.kubeConfig());
  const customObjects = () => local.kubeConfig().makeApiClient(CustomObjectsApi);

  return {
    server: local.server,
    admin: local.kubeConfig(),
    kubeconfigFor: (user) => local.kubeconfigFor(user),
    async apply(object) {
      try {
        return await client().create(object);
      } catch (err) {
        if ((err as { code?: number }).code !== 409) throw err;
        const { name, namespace } = object.metadata ?? {};
        const existing = await client().read({ apiVersion: object.apiVersion, kind: object.kind, metadata: { name: name!, ...(namespace ? { namespace } : {}) } } as never);
        return client().replace({ ...object, metadata: { ...object.metadata, resourceVersion: existing.metadata?.resourceVersion } });
      }
    },
    async read(object) {
      const { name, namespace } = object.metadata ?? {};
      return (await client().read({ apiVersion: object.apiVersion, kind: object.kind, metadata: { name: name!, ...(namespace ? { namespace } : {}) } } as never)) as ApiObject;
    },
    async replaceStatus(plural, object) {
      const [group = '', version = ''] = (object.apiVersion ?? '').split('/');
      const { name = '', namespace = 'default' } = object.metadata ?? {};
      return (await customObjects().replaceNamespacedCustomObjectStatus({ group, version, namespace, plural, name, body: object })) as ApiObject;
    },
    async remove(object) {
      // At once: no kubelet is here to finish a pod's graceful deletion.
      await client().delete(object, undefined, undefined, 0);
    },
    setPodStatus: (namespace, name, status) => setPodStatus(local.kubeConfig(), namespace, name, status),
    setNodeStatus: (name, internalIp) => setNodeStatus(local.kubeConfig(), name, { internalIp }),
    async events(namespace) {
      return (await client().list('events.k8s.io/v1', 'Event', namespace)).items as ApiObject[];
    },
    stopApiServer: () => local.stopApiServer(),
    startApiServer: (port) => local.startApiServer(port),
    compactEtcd: () => local.compactEtcd(),
    close: () => local.close(),
  };
}

/**
 * Writes a kubeconfig (to `file`, 0600) holding a token of the ServiceAccount `namespace/name`
 * (audience: the API server), as a pod of that account has: a test runs a program as it.
 */
export async function writeServiceAccountKubeconfig(cluster: KubeCluster, namespace: string, name: string, file: string): Promise<string> {
  const request = await cluster.admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({ namespace, name, body: { spec: { expirationSeconds: 3600 } } });
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'test', server: cluster.server, skipTLSVerify: true }],
    users: [{ name, token: request.status!.token! }],
    contexts: [{ name, cluster: 'test', user: name }],
    currentContext: name,
  });
  await writeFile(file, config.exportConfig(), { mode: 0o600 });
  return file;
}
