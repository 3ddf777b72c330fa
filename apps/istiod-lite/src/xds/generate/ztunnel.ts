/**
 * snapshot → the Envoy v3 resources one node's ztunnel runs (docs/model.md, "ztunnel's
 * configuration"). Pure: no I/O, no clock; output is sorted, so the same snapshot always
 * gives byte-identical JSON and the ADS server can diff by content.
 */
import type { MeshSnapshot, Pod } from '@mesh/mesh-model';
import { byName, type EnvoyResource } from './envoy.js';
import { VIRTUAL_INBOUND_CLUSTER_RESOURCE, inboundListeners } from './inbound.js';
import { BLACKHOLE_CLUSTER_RESOURCE, PASSTHROUGH_CLUSTER_RESOURCE, outboundResources, type XdsResources } from './outbound.js';

export type ZtunnelConfig = XdsResources;

/**
 * Listeners, clusters and ClusterLoadAssignments for the ztunnel on `nodeName`. Only captured
 * pods with an IP on that node are sources and inbound destinations; an unknown node gets the
 * node-independent resources (outbound passthrough, BlackHole, Passthrough, virtual_inbound).
 */
export function generateZtunnelConfig(snapshot: MeshSnapshot, nodeName: string): ZtunnelConfig {
  const localPods = localPodsOf(snapshot, nodeName);
  const outbound = outboundResources(snapshot, localPods);
  const listeners = [...outbound.listeners, ...inboundListeners(snapshot, localPods)];
  const clusters = [...outbound.clusters, VIRTUAL_INBOUND_CLUSTER_RESOURCE, BLACKHOLE_CLUSTER_RESOURCE, PASSTHROUGH_CLUSTER_RESOURCE];
  return {
    listeners: listeners.sort(byName),
    clusters: clusters.sort(byName),
    endpoints: outbound.endpoints.sort(byClusterName),
  };
}

/** The captured pods with an IP on the node: the sources and inbound destinations of its ztunnel. */
export function localPodsOf(snapshot: MeshSnapshot, nodeName: string): Pod[] {
  return snapshot.podsOnNode(nodeName).filter((p) => p.podIP !== undefined && snapshot.isCaptured(p));
}

function byClusterName(a: EnvoyResource, b: EnvoyResource): number {
  const x = String(a.cluster_name);
  const y = String(b.cluster_name);
  return x < y ? -1 : x > y ? 1 : 0;
}
