/**
 * Names of workload-API resources, as istiod gives them (pilot/pkg/serviceregistry/ambient):
 * a Workload is named by its uid `<cluster>//Pod/<namespace>/<pod>`, a Service by
 * `<namespace>/<hostname>`, an Authorization by `<namespace>/<name>`.
 */
import { objectKey, serviceHostname, type Pod, type Service } from '@mesh/mesh-model';
import { DEFAULT_CLUSTER_ID } from '@mesh/workload-api';

export { DEFAULT_CLUSTER_ID };

/** `Kubernetes//Pod/default/sleep`. */
export function podUid(pod: Pod): string {
  return podUidOfKey(objectKey(pod));
}

/** The same from the pod's `namespace/name` (for a pod that is gone). */
export function podUidOfKey(key: string): string {
  return `${DEFAULT_CLUSTER_ID}//Pod/${key}`;
}

/** `default/reviews.default.svc.cluster.local`: the Service's resource name and its key in Workload.services. */
export function serviceResourceName(service: Service): string {
  return `${service.namespace}/${serviceHostname(service)}`;
}

/**
 * The Authorization istiod sends whenever any PeerAuthentication exists: DENY connections without
 * a peer identity (plaintext). Workloads whose effective mTLS mode is STRICT list it.
 */
export const STATIC_STRICT_POLICY_NAME = 'istio_converted_static_strict';

/** The Authorization a PeerAuthentication with port-level mTLS converts to. */
export function convertedPeerAuthenticationName(name: string): string {
  return `converted_peer_authentication_${name}`;
}

/** Istio's cluster domain part of waypoint Service hostnames. */
export function waypointHostname(gatewayName: string, namespace: string, clusterDomain: string): string {
  return `${gatewayName}.${namespace}.svc.${clusterDomain}`;
}
