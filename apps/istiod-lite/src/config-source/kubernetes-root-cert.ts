/**
 * The `istio-ca-root-cert` ConfigMap in every namespace, as Istio's namespace controller keeps it
 * (istio/istio pilot/pkg/serviceregistry/kube/controller/namespacecontroller.go): key
 * `root-cert.pem` holds the mesh root, so a pod (ztunnel, a waypoint) can mount the root it checks
 * istiod with instead of having it copied onto its node. Pure: from the namespaces and the
 * ConfigMaps as the API server last sent them to the writes that make them right.
 *
 * Invariants:
 * - One ConfigMap per namespace but those Istio skips (IGNORED_NAMESPACES), created when missing
 *   (also after a delete: the watch says so and the plan runs again).
 * - An existing one is corrected only in what it owns: the `root-cert.pem` key and the
 *   `istio.io/config` label; other keys and labels someone added are kept, as Istio's
 *   `InsertDataToConfigMap` keeps them.
 * - A ConfigMap that is already right makes no write (our own write coming back writes nothing).
 */
import type { KubernetesObject } from './kubernetes-objects.js';

export const ROOT_CERT_CONFIG_MAP = 'istio-ca-root-cert';
/** Istio's `constants.CACertNamespaceConfigMapDataName`. */
export const ROOT_CERT_KEY = 'root-cert.pem';
/** The label Istio's namespace controller puts on the ConfigMaps it writes. */
export const ROOT_CERT_LABELS: Readonly<Record<string, string>> = { 'istio.io/config': 'true' };
/**
 * Namespaces that get no ConfigMap: Istio's `inject.IgnoredNamespaces` less kube-system (Istio
 * writes it there since ztunnel may run in kube-system).
 */
export const IGNORED_NAMESPACES: ReadonlySet<string> = new Set(['kube-public', 'kube-node-lease', 'local-path-storage']);

/** A write that makes one namespace's ConfigMap right: `create` a new one, or `update` (PUT, with its resourceVersion) the one there. */
export interface ConfigMapWrite {
  readonly op: 'create' | 'update';
  readonly namespace: string;
  readonly body: KubernetesObject;
}

interface ConfigMapObject extends KubernetesObject {
  data?: Record<string, string>;
}

/**
 * The writes that give every namespace of `namespaces` (but the ignored ones) a right ConfigMap.
 * `existing` is the `istio-ca-root-cert` ConfigMap of each namespace that has one, by namespace.
 */
export function planRootCertConfigMaps(namespaces: Iterable<string>, existing: ReadonlyMap<string, KubernetesObject>, rootCertPem: string): ConfigMapWrite[] {
  const writes: ConfigMapWrite[] = [];
  for (const namespace of [...new Set(namespaces)].sort()) {
    if (IGNORED_NAMESPACES.has(namespace)) continue;
    const current = existing.get(namespace) as ConfigMapObject | undefined;
    if (!current) {
      writes.push({
        op: 'create',
        namespace,
        body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ROOT_CERT_CONFIG_MAP, namespace, labels: { ...ROOT_CERT_LABELS } }, data: { [ROOT_CERT_KEY]: rootCertPem } },
      });
      continue;
    }
    const labels = current.metadata?.labels ?? {};
    const labelled = Object.entries(ROOT_CERT_LABELS).every(([k, v]) => labels[k] === v);
    if (current.data?.[ROOT_CERT_KEY] === rootCertPem && labelled) continue;
    writes.push({
      op: 'update',
      namespace,
      body: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        // The resourceVersion it was computed from: a concurrent edit makes the PUT fail with 409
        // (the watch then brings the newer one and the plan runs again) instead of being lost.
        metadata: { ...current.metadata, name: ROOT_CERT_CONFIG_MAP, namespace, labels: { ...labels, ...ROOT_CERT_LABELS } },
        ...(current['binaryData'] !== undefined ? { binaryData: current['binaryData'] } : {}),
        data: { ...current.data, [ROOT_CERT_KEY]: rootCertPem },
      },
    });
  }
  return writes;
}
