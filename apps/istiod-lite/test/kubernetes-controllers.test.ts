/**
 * istiod-lite's controllers (src/config-source/kubernetes-controllers.ts) against a real
 * kube-apiserver (kube-cluster.ts), running as its deployed service account (istio-system/istiod)
 * with exactly the RBAC of deploy/kubernetes/istiod-rbac.yaml, and with kube-controller-manager's
 * garbage collector, Deployment and ReplicaSet controllers (no scheduler or kubelet: the test sets
 * the waypoint pod's status as a kubelet would):
 * - the `istio-ca-root-cert` ConfigMap in every namespace but those Istio skips, with the mesh
 *   root; corrected after an edit (keys someone added kept), made again after a delete, made in a
 *   namespace created later;
 * - a waypoint Gateway gets a ServiceAccount, Deployment and Service owned by it, whose pod, once
 *   Ready, makes the Gateway Programmed; a Gateway of another class gets none; an object of the
 *   same name without the owner reference is left alone; deleting the Gateway has the garbage
 *   collector delete its objects;
 * - an AuthorizationPolicy targeting the waypoint gets Istio's `WaypointAccepted` condition, one
 *   with a selector Istio's `ZtunnelAccepted`.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppsV1Api, CoreV1Api, loadAllYaml } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryLogger, parseConfig, startIstiod } from '../src/index.js';
import type { Istiod } from '../src/index.js';
import { kubeToolsMissing, startKubeCluster, writeServiceAccountKubeconfig, type ApiObject, type KubeCluster } from './kube-cluster.js';
import { TRUST_DOMAIN, testGenerators, waitFor } from './helpers.js';
import { kubeToolsMissing as toolsMissing } from '@mesh/kube-local';

const missing = kubeToolsMissing() ?? toolsMissing(['kube-controller-manager']);

const ISTIOD_RBAC = (loadAllYaml(readFileSync(fileURLToPath(new URL('../../../deploy/kubernetes/istiod-rbac.yaml', import.meta.url)), 'utf8')) as ApiObject[])
  .filter(Boolean)
  .map((o) => (o.kind === 'ServiceAccount' ? { ...o, metadata: { ...o.metadata, namespace: 'istio-system' } } : o));

const CONFIG_MAP = 'istio-ca-root-cert';

function gateway(name: string, namespace: string, gatewayClassName: string): ApiObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name, namespace },
    spec: { gatewayClassName, listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  };
}

describe.skipIf(missing)(`istiod-lite's controllers on a real kube-apiserver${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let cluster: KubeCluster;
  let istiod: Istiod;
  let dir: string;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  const logger = createMemoryLogger();

  const configMap = async (namespace: string) => {
    try {
      return await core.readNamespacedConfigMap({ namespace, name: CONFIG_MAP });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  };
  const absent = async (read: () => Promise<unknown>) => {
    try {
      await read();
      return false;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return true;
      throw err;
    }
  };
  const warnings = () => logger.entries.filter((e) => e.level !== 'info');

  beforeAll(async () => {
    cluster = await startKubeCluster({ controllers: ['garbage-collector-controller', 'deployment-controller', 'replicaset-controller'] });
    core = cluster.admin.makeApiClient(CoreV1Api);
    apps = cluster.admin.makeApiClient(AppsV1Api);
    for (const object of [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } }, ...ISTIOD_RBAC]) await cluster.apply(object);
    for (const name of ['app', 'local-path-storage']) await cluster.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    await cluster.apply({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' } });
    await cluster.setNodeStatus('node-a', '10.79.9.1');
    dir = await mkdtemp(path.join(tmpdir(), 'istiod-kube-controllers-'));
    // A kubeconfig with a token of istio-system/istiod, as its pod has.
    const kubeconfig = await writeServiceAccountKubeconfig(cluster, 'istio-system', 'istiod', path.join(dir, 'istiod.kubeconfig'));
    const config = parseConfig({ configSource: 'kubernetes', kubeconfig, stateDir: path.join(dir, 'state'), xdsTlsPort: 0, debugPort: 0, listenAddress: '127.0.0.1', trustDomain: TRUST_DOMAIN });
    istiod = await startIstiod({ config, generators: testGenerators, logger, debounceMs: 50 });
  }, 240_000);

  afterAll(async () => {
    await istiod?.close();
    await cluster?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('publishes the mesh root as istio-ca-root-cert in every namespace but those Istio skips', async () => {
    for (const namespace of ['default', 'kube-system', 'istio-system', 'app']) {
      const map = await waitFor(() => configMap(namespace), { what: `the ConfigMap in ${namespace}`, timeoutMs: 20_000, lastSeen: warnings });
      expect(map.data).toEqual({ 'root-cert.pem': istiod.ca.rootCertPem });
      expect(map.metadata?.labels).toEqual({ 'istio.io/config': 'true' });
    }
    for (const namespace of ['kube-public', 'kube-node-lease', 'local-path-storage']) expect(await configMap(namespace)).toBeUndefined();
    // As its deployed service account, with exactly its deployed ClusterRole: nothing was refused.
    expect(warnings().filter((e) => e['status'] === 403 || String(e.msg).startsWith('could not'))).toEqual([]);
  }, 30_000);

  it('corrects an edited ConfigMap (keeping keys someone added), makes a deleted one again, and one in a new namespace', async () => {
    const before = (await configMap('app'))!;
    await core.replaceNamespacedConfigMap({ namespace: 'app', name: CONFIG_MAP, body: { ...before, data: { 'root-cert.pem': 'tampered', extra: 'kept' } } });
    const corrected = await waitFor(async () => {
      const map = await configMap('app');
      return map?.data?.['root-cert.pem'] === istiod.ca.rootCertPem && map;
    }, { what: 'the edited ConfigMap corrected', timeoutMs: 20_000, lastSeen: warnings });
    expect(corrected.data).toEqual({ 'root-cert.pem': istiod.ca.rootCertPem, extra: 'kept' });

    await core.deleteNamespacedConfigMap({ namespace: 'app', name: CONFIG_MAP });
    const again = await waitFor(() => configMap('app'), { what: 'the deleted ConfigMap made again', timeoutMs: 20_000, lastSeen: warnings });
    expect(again.data).toEqual({ 'root-cert.pem': istiod.ca.rootCertPem });
    expect(again.metadata?.uid).not.toBe(before.metadata?.uid);

    await cluster.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'later' } });
    expect((await waitFor(() => configMap('later'), { what: 'the ConfigMap in a new namespace', timeoutMs: 20_000, lastSeen: warnings })).data).toEqual({ 'root-cert.pem': istiod.ca.rootCertPem });
  }, 60_000);

  it('makes a waypoint Gateway its ServiceAccount, Deployment and Service, owned by it; its Ready pod makes it Programmed', async () => {
    // Another class first: once the waypoint's objects exist, a pass has seen this one too.
    await cluster.apply(gateway('ingress', 'app', 'istio'));
    const created = await cluster.apply(gateway('waypoint', 'app', 'istio-waypoint'));
    const uid = created.metadata!.uid!;
    const deployment = await waitFor(async () => (await absent(() => apps.readNamespacedDeployment({ namespace: 'app', name: 'waypoint' }))) ? undefined : apps.readNamespacedDeployment({ namespace: 'app', name: 'waypoint' }), {
      what: "the waypoint's Deployment",
      timeoutMs: 20_000,
      lastSeen: warnings,
    });
    const service = await waitFor(async () => (await absent(() => core.readNamespacedService({ namespace: 'app', name: 'waypoint' }))) ? undefined : core.readNamespacedService({ namespace: 'app', name: 'waypoint' }), { what: "the waypoint's Service", timeoutMs: 20_000 });
    const account = await core.readNamespacedServiceAccount({ namespace: 'app', name: 'waypoint' });
    for (const object of [deployment, service, account]) {
      expect(object.metadata?.ownerReferences).toEqual([{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: 'waypoint', uid, controller: true }]);
      expect(object.metadata?.labels).toMatchObject({ 'gateway.networking.k8s.io/gateway-name': 'waypoint', 'istio.io/gateway-name': 'waypoint' });
      expect(object.metadata?.managedFields?.map((f) => f.manager)).toContain('istio.io/istiod-lite');
    }
    const pod = deployment.spec!.template.spec!;
    const container = pod.containers[0]!;
    expect(container.image).toBe('mesh/waypoint:latest');
    expect(container.ports?.map((p) => p.containerPort)).toEqual([15008, 15020, 15021]);
    expect(container.readinessProbe?.httpGet).toMatchObject({ path: '/healthz/ready', port: 15021 });
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(pod.serviceAccountName).toBe('waypoint');
    expect(pod.volumes?.find((v) => v.configMap)?.configMap?.name).toBe(CONFIG_MAP);
    expect(service.spec?.ports?.find((p) => p.name === 'mesh')?.port).toBe(15008);
    expect(service.spec?.selector).toEqual({ 'gateway.networking.k8s.io/gateway-name': 'waypoint' });
    // The other class: none.
    expect(await absent(() => apps.readNamespacedDeployment({ namespace: 'app', name: 'ingress' }))).toBe(true);
    expect(await absent(() => core.readNamespacedService({ namespace: 'app', name: 'ingress' }))).toBe(true);

    // The Deployment and ReplicaSet controllers make its pod; play scheduler (bind it to a node)
    // and kubelet (Ready with an IP).
    const waypointPod = await waitFor(async () => (await core.listNamespacedPod({ namespace: 'app', labelSelector: 'gateway.networking.k8s.io/gateway-name=waypoint' })).items[0], { what: "the waypoint's pod", timeoutMs: 30_000 });
    const podName = waypointPod.metadata!.name!;
    await core.createNamespacedPodBinding({ namespace: 'app', name: podName, body: { metadata: { name: podName }, target: { apiVersion: 'v1', kind: 'Node', name: 'node-a' } } });
    await cluster.setPodStatus('app', podName, { podIP: '10.79.2.30', ready: true });
    const programmed = await waitFor(
      async () => ((await cluster.read(gateway('waypoint', 'app', 'istio-waypoint')))['status'] as { conditions?: Array<{ type: string; status: string; message: string }> } | undefined)?.conditions?.find((c) => c.type === 'Programmed' && c.status === 'True'),
      { what: 'the waypoint Gateway Programmed', timeoutMs: 20_000, lastSeen: warnings },
    );
    expect(programmed.message).toContain('10.79.2.30');
  }, 90_000);

  it("writes an AuthorizationPolicy's WaypointAccepted: bound to the waypoint it targets, or why not", async () => {
    const policy = (name: string, targetRef: Record<string, string>): ApiObject => ({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name, namespace: 'app' },
      spec: { targetRefs: [targetRef], action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] },
    });
    const condition = async (name: string) =>
      ((await cluster.read(policy(name, {})))['status'] as { conditions?: Array<Record<string, unknown>> } | undefined)?.conditions?.find((c) => c['type'] === 'WaypointAccepted');
    await cluster.apply(policy('via-waypoint', { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'waypoint' }));
    await cluster.apply(policy('no-service', { group: '', kind: 'Service', name: 'missing' }));
    expect(await waitFor(() => condition('via-waypoint'), { what: 'WaypointAccepted on via-waypoint', timeoutMs: 20_000, lastSeen: warnings })).toMatchObject({
      status: 'True',
      reason: 'Accepted',
      message: 'bound to app/waypoint',
      observedGeneration: 1,
    });
    expect(await waitFor(() => condition('no-service'), { what: 'WaypointAccepted on no-service', timeoutMs: 20_000 })).toMatchObject({ status: 'False', reason: 'TargetNotFound', message: 'Service app/missing was not found' });
  }, 40_000);

  it("writes a selector policy's ZtunnelAccepted: UnsupportedValue while ztunnel cannot see a rule's method, Accepted once it can see all", async () => {
    const atZtunnel = (operation: Record<string, string[]>): ApiObject => ({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'at-ztunnel', namespace: 'app' },
      spec: { selector: { matchLabels: { app: 'echo' } }, action: 'ALLOW', rules: [{ to: [{ operation }] }] },
    });
    const conditions = async (name: string) =>
      ((await cluster.read({ ...atZtunnel({}), metadata: { name, namespace: 'app' } }))['status'] as { conditions?: Array<Record<string, unknown>> } | undefined)?.conditions ?? [];
    const ztunnelAccepted = async (reason: string) => (await conditions('at-ztunnel')).find((c) => c['type'] === 'ZtunnelAccepted' && c['reason'] === reason);
    await cluster.apply(atZtunnel({ ports: ['8080'], methods: ['GET'] }));
    const unsupported = await waitFor(() => ztunnelAccepted('UnsupportedValue'), { what: 'ZtunnelAccepted UnsupportedValue on at-ztunnel', timeoutMs: 20_000, lastSeen: warnings });
    expect(unsupported).toMatchObject({
      status: 'True',
      message:
        'ztunnel does not support HTTP attributes (found: methods). In ambient mode you must use a waypoint proxy to enforce HTTP rules. Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more restrictive than requested.',
      observedGeneration: 1,
    });
    // Without the method: Accepted at the new generation; still True, so the transition time stays.
    await cluster.apply(atZtunnel({ ports: ['8080'] }));
    const accepted = await waitFor(() => ztunnelAccepted('Accepted'), { what: 'ZtunnelAccepted Accepted on at-ztunnel', timeoutMs: 20_000, lastSeen: warnings });
    expect(accepted).toEqual({ type: 'ZtunnelAccepted', status: 'True', reason: 'Accepted', message: 'attached to ztunnel', observedGeneration: 2, lastTransitionTime: unsupported['lastTransitionTime'] });
    expect((await conditions('at-ztunnel')).map((c) => c['type'])).toEqual(['ZtunnelAccepted']);
    // A policy with targetRefs has only WaypointAccepted.
    expect((await conditions('via-waypoint')).map((c) => c['type'])).toEqual(['WaypointAccepted']);
  }, 40_000);

  it('leaves an object of the same name without the owner reference alone', async () => {
    const foreign = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'mine', namespace: 'app', labels: { owner: 'someone-else' } }, spec: { ports: [{ port: 80 }] } };
    await cluster.apply(foreign);
    await cluster.apply(gateway('mine', 'app', 'istio-waypoint'));
    await waitFor(() => logger.entries.find((e) => String(e.msg).startsWith('Service app/mine exists without the Gateway')), { what: 'the foreign Service said', timeoutMs: 20_000, lastSeen: warnings });
    const service = await core.readNamespacedService({ namespace: 'app', name: 'mine' });
    expect(service.metadata?.ownerReferences).toBeUndefined();
    expect(service.metadata?.labels).toEqual({ owner: 'someone-else' });
    expect(service.spec?.ports?.map((p) => p.port)).toEqual([80]);
    // Its other objects are made.
    await waitFor(async () => !(await absent(() => apps.readNamespacedDeployment({ namespace: 'app', name: 'mine' }))), { what: "the Gateway's Deployment", timeoutMs: 20_000 });
  }, 40_000);

  it("deleting the Gateway has the garbage collector delete the waypoint's objects", async () => {
    await cluster.remove(gateway('waypoint', 'app', 'istio-waypoint'));
    await waitFor(
      async () =>
        (await absent(() => apps.readNamespacedDeployment({ namespace: 'app', name: 'waypoint' }))) &&
        (await absent(() => core.readNamespacedService({ namespace: 'app', name: 'waypoint' }))) &&
        (await absent(() => core.readNamespacedServiceAccount({ namespace: 'app', name: 'waypoint' }))),
      { what: "the waypoint's objects garbage-collected", timeoutMs: 60_000 },
    );
  }, 90_000);
});
