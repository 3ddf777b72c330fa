/**
 * What changed in one node's ztunnel config between two snapshots, computed from what the change
 * touches rather than by generating both: an edit costs in proportion to what it changed (and to
 * the per-node Envoy shape where that shape makes a whole resource depend on it), not to the
 * mesh. `generateZtunnelChanges(a, b, node)` agrees with comparing `generateZtunnelConfig(a, node)`
 * and `generateZtunnelConfig(b, node)` (test: `ztunnel-changes.test.ts`, on generated edits); it
 * may list a resource as updated that did not change (the ADS server compares encoded bytes).
 *
 * What each resource is made of (outbound.ts, inbound.ts):
 * - `<id>_to_<dest>_outbound_internal` cluster: its name only; its ClusterLoadAssignment: the
 *   destination's endpoints (`Destination.fingerprint`) and the identity.
 * - tunnel listener and cluster of an identity: the identity only.
 * - `ztunnel_outbound`: the local pods (IP → identity), every destination's label, VIP and port
 *   (`MeshPlan.destinationSetKey`), how pod IPs are recognised (`MeshPlan.podAddressingKey`).
 * - `ztunnel_inbound`, `ztunnel_inbound_plaintext`: the local pods (IP, identity, labels) and
 *   the policies that select them (any AuthorizationPolicy or PeerAuthentication edit
 *   regenerates them on every node).
 * - `virtual_inbound`, `BlackHoleCluster`, `PassthroughCluster`: constant.
 * - `<id>_to_waypoint_<label>_outbound_pod` cluster and ClusterLoadAssignment: the identity and
 *   the waypoints taking pod-addressed traffic (`MeshPlan.workloadWaypointsKey`).
 * A trust domain or root namespace change, two destinations sharing a label, or a change of the
 * waypoints taking pod-addressed traffic (rare: a Gateway, its pods or an enrollment) return
 * undefined: generate from scratch.
 */
import type { MeshSnapshot, Pod } from '@mesh/mesh-model';
import type { EnvoyResource } from './envoy.js';
import { inboundListeners } from './inbound.js';
import { INBOUND_LISTENER, INBOUND_PLAINTEXT_LISTENER, tunnelClusterName, tunnelListenerName } from '@mesh/envoy-config';
import { outboundInternalNameFor, outboundWaypointName } from './names.js';
import { identitiesOf, meshPlan, outboundInternalResources, outboundListener, outboundWaypointResources, tunnelResources, type Destination, type MeshPlan } from './outbound.js';
import { localPodsOf } from './ztunnel.js';

export interface TypeChanges {
  /** Resources added or replaced (possibly some that did not change). */
  readonly updated: EnvoyResource[];
  /** Names of resources gone. */
  readonly removed: string[];
}

export interface ZtunnelChanges {
  readonly listeners: TypeChanges;
  readonly clusters: TypeChanges;
  readonly endpoints: TypeChanges;
}

interface DestinationChanges {
  readonly added: readonly Destination[];
  readonly removed: readonly Destination[];
  /** Same label, other endpoints (or VIP or port). */
  readonly changed: readonly Destination[];
  /** The matcher's VIP levels differ. */
  readonly setChanged: boolean;
}

// Per (previous, next) pair of snapshots: every node of one push shares it.
const DESTINATION_CHANGES = new WeakMap<MeshSnapshot, { previous: MeshSnapshot; changes: DestinationChanges }>();

export function generateZtunnelChanges(previous: MeshSnapshot, next: MeshSnapshot, nodeName: string): ZtunnelChanges | undefined {
  const out: ZtunnelChanges = { listeners: empty(), clusters: empty(), endpoints: empty() };
  if (previous === next) return out;
  if (previous.trustDomain !== next.trustDomain || previous.rootNamespace !== next.rootNamespace) return undefined;
  const before = meshPlan(previous);
  const after = meshPlan(next);
  const destinations = destinationChanges(previous, next, before, after);
  if (!destinations) return undefined;
  if (before.workloadWaypointsKey !== after.workloadWaypointsKey) return undefined;
  const localBefore = localPodsOf(previous, nodeName);
  const localAfter = localPodsOf(next, nodeName);
  const identitiesBefore = identitiesOf(previous, localBefore);
  const identitiesAfter = identitiesOf(next, localAfter);
  const had = new Set(identitiesBefore);
  const has = new Set(identitiesAfter);

  for (const spiffe of identitiesAfter) {
    if (!had.has(spiffe)) {
      for (const dest of after.destinations) addInternal(out, spiffe, dest, true);
      for (const waypoint of after.workloadWaypoints) {
        const resources = outboundWaypointResources(spiffe, waypoint);
        out.clusters.updated.push(resources.cluster);
        out.endpoints.updated.push(resources.endpoints);
      }
      const tunnel = tunnelResources(spiffe);
      out.listeners.updated.push(tunnel.listener);
      out.clusters.updated.push(tunnel.cluster);
      continue;
    }
    for (const dest of destinations.added) addInternal(out, spiffe, dest, true);
    for (const dest of destinations.changed) addInternal(out, spiffe, dest, false);
    for (const dest of destinations.removed) removeInternal(out, spiffe, dest);
  }
  for (const spiffe of identitiesBefore) {
    if (has.has(spiffe)) continue;
    for (const dest of before.destinations) removeInternal(out, spiffe, dest);
    for (const waypoint of before.workloadWaypoints) {
      out.clusters.removed.push(outboundWaypointName(spiffe, waypoint.label));
      out.endpoints.removed.push(outboundWaypointName(spiffe, waypoint.label));
    }
    out.listeners.removed.push(tunnelListenerName(spiffe));
    out.clusters.removed.push(tunnelClusterName(spiffe));
  }

  const sources = (snapshot: MeshSnapshot, pods: readonly Pod[]) => pods.map((pod) => `${pod.podIP}=${snapshot.spiffeOf(pod)}`).join(',');
  if (destinations.setChanged || before.podAddressingKey !== after.podAddressingKey || sources(previous, localBefore) !== sources(next, localAfter)) {
    out.listeners.updated.push(outboundListener(next, localAfter));
  }

  const inboundKey = (snapshot: MeshSnapshot, pods: readonly Pod[]) =>
    pods.map((pod) => `${pod.podIP} ${snapshot.spiffeOf(pod)} ${pod.namespace} ${JSON.stringify(pod.labels)}`).join('\n');
  if (policiesChanged(previous, next) || inboundKey(previous, localBefore) !== inboundKey(next, localAfter)) {
    const inbound = inboundListeners(next, localAfter);
    out.listeners.updated.push(...inbound);
    if (localBefore.length > 0 && inbound.length === 0) out.listeners.removed.push(INBOUND_LISTENER, INBOUND_PLAINTEXT_LISTENER);
  }
  return out;
}

function empty(): TypeChanges {
  return { updated: [], removed: [] };
}

function addInternal(out: ZtunnelChanges, spiffe: string, dest: Destination, withCluster: boolean): void {
  const resources = outboundInternalResources(spiffe, dest);
  if (withCluster) out.clusters.updated.push(resources.cluster); // a cluster depends on its name only
  out.endpoints.updated.push(resources.endpoints);
}

function removeInternal(out: ZtunnelChanges, spiffe: string, dest: Destination): void {
  const name = outboundInternalNameFor(spiffe, dest.label);
  out.clusters.removed.push(name);
  out.endpoints.removed.push(name);
}

function destinationChanges(previous: MeshSnapshot, next: MeshSnapshot, before: MeshPlan, after: MeshPlan): DestinationChanges | undefined {
  const known = DESTINATION_CHANGES.get(next);
  if (known?.previous === previous) return known.changes;
  if (!before.byLabel || !after.byLabel) return undefined;
  const beforeByLabel = before.byLabel;
  const afterByLabel = after.byLabel;
  const changes: DestinationChanges = {
    added: after.destinations.filter((d) => !beforeByLabel.has(d.label)),
    removed: before.destinations.filter((d) => !afterByLabel.has(d.label)),
    changed: after.destinations.filter((d) => {
      const earlier = beforeByLabel.get(d.label);
      return earlier !== undefined && earlier.fingerprint !== d.fingerprint;
    }),
    setChanged: before.destinationSetKey !== after.destinationSetKey,
  };
  DESTINATION_CHANGES.set(next, { previous, changes });
  return changes;
}

/** Any AuthorizationPolicy or PeerAuthentication added, removed or edited (objects of unchanged files are reused). */
function policiesChanged(previous: MeshSnapshot, next: MeshSnapshot): boolean {
  const differs = <T>(a: ReadonlyMap<string, T>, b: ReadonlyMap<string, T>) => a.size !== b.size || [...a].some(([key, value]) => b.get(key) !== value);
  return differs(previous.authorizationPolicies, next.authorizationPolicies) || differs(previous.peerAuthentications, next.peerAuthentications);
}
