/**
 * The workload dialect: a snapshot → Istio's workload-API resources, the same for every ztunnel
 * (nothing here depends on the node that asks). `generateWorkloadResources(snapshot)` is pure and
 * memoised per snapshot (snapshots are immutable), so all nodes share one generation.
 */
import { podChangesOf, type MeshSnapshot } from '@mesh/mesh-model';
import { TYPE_URL, type ResourceJson } from '@mesh/xds';
import { addressResources } from './addresses.js';
import { authorizationResources } from './authorization.js';

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

export { podUid, serviceResourceName, STATIC_STRICT_POLICY_NAME } from './names.js';
