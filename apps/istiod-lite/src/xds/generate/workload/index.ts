/**
 * The workload dialect: a snapshot → Istio's workload-API resources, the same for every ztunnel
 * (nothing here depends on the node that asks). `generateWorkloadResources(snapshot)` is pure and
 * memoised per snapshot (snapshots are immutable), so all nodes share one generation.
 */
import { podChangesOf, type MeshSnapshot } from '@mesh/mesh-model';
import { TYPE_URL, type ResourceJson } from '@mesh/xds';
import { addressResources } from './addresses.js';
import { authorizationResources } from './authorization.js';
import { podUidOfKey } from './names.js';

export interface WorkloadResources {
  /** `istio.workload.Address` by resource name (workload uid, or `namespace/hostname`), sorted. */
  readonly addresses: ReadonlyMap<string, ResourceJson>;
  /** `istio.security.Authorization` by resource name (`namespace/name`), sorted. */
  readonly authorizations: ReadonlyMap<string, ResourceJson>;
}

/** The type URLs of the workload dialect, in the order a ztunnel applies them. */
export const WORKLOAD_TYPE_URLS: readonly string[] = [TYPE_URL.ADDRESS, TYPE_URL.AUTHORIZATION];

const GENERATED = new WeakMap<MeshSnapshot, WorkloadResources>();

export function generateWorkloadResources(snapshot: MeshSnapshot): WorkloadResources {
  let resources = GENERATED.get(snapshot);
  if (!resources) {
    // Built from an earlier snapshot by changing pods alone: patch that snapshot's resources
    // (Authorizations depend on no pod, so they stay as they were).
    const changes = podChangesOf(snapshot);
    const before = changes && GENERATED.get(changes.previous);
    resources =
      changes && before
        ? { addresses: addressResources(snapshot, { addresses: before.addresses, changedPods: changes.pods }), authorizations: before.authorizations }
        : { addresses: addressResources(snapshot), authorizations: authorizationResources(snapshot) };
    GENERATED.set(snapshot, resources);
  }
  return resources;
}

/**
 * When `next` was built from `previous` by changing pods alone (mesh-model `podChangesOf`): the
 * Addresses that changed, which are those pods' Workloads (a Service or waypoint depends on no
 * pod, Authorizations on none), costing those pods and not a walk over every Address. Undefined
 * otherwise: the caller compares everything.
 */
export function workloadPodChanges(previous: MeshSnapshot, next: MeshSnapshot): { readonly updated: ReadonlyMap<string, ResourceJson>; readonly removed: readonly string[] } | undefined {
  const changes = podChangesOf(next);
  if (changes?.previous !== previous) return undefined;
  const before = generateWorkloadResources(previous).addresses;
  const after = generateWorkloadResources(next).addresses;
  const updated = new Map<string, ResourceJson>();
  const removed: string[] = [];
  for (const key of changes.pods) {
    const uid = podUidOfKey(key);
    const resource = after.get(uid);
    if (resource === undefined) {
      if (before.has(uid)) removed.push(uid);
    } else if (resource !== before.get(uid)) updated.set(uid, resource);
  }
  return { updated, removed };
}

export { podUid, serviceResourceName, STATIC_STRICT_POLICY_NAME } from './names.js';
