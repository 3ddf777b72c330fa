/**
 * The waypoint's link to istiod-lite: mTLS with its Gateway's credential (directory mode,
 * `<state-dir>/waypoints/<ns>/<gateway>`) or its service-account token, the server checked by its
 * SPIFFE identity (@mesh/workload-identity); the ADS subscription (CDS, EDS, LDS,
 * RDS over delta xDS by default; each update compiled before the ACK, NACK with the reason
 * otherwise, and on delta the rest of the update applies: @mesh/proxy-runtime's `startProxyXds`). The node id
 * `waypoint~<ip>~<pod>~<ns>.svc.cluster.local` tells istiod-lite which Gateway's config to send.
 */
import type { XdsNode } from '@mesh/xds';
import { WAYPOINT_VERSION } from '../version.js';

/** `adminMetadata`: where its admin API is (@mesh/admin-access), shown in /debug/syncz for meshctl; ISTIO_VERSION its version, as Istio's proxies send it. */
export function waypointNode(podName: string, namespace: string, nodeName: string, ip = '', adminMetadata: Readonly<Record<string, string>> = {}): XdsNode {
  return { id: `waypoint~${ip}~${podName}~${namespace}.svc.cluster.local`, metadata: { NODE_NAME: nodeName, ISTIO_VERSION: WAYPOINT_VERSION, ...adminMetadata }, user_agent_name: 'waypoint-ts' };
}

