/** The type URL prefix every Envoy resource in an Any carries. */
export const TYPE_URL_PREFIX = 'type.googleapis.com/';

/** xDS resource type URLs (Envoy v3 and Istio's workload API), as sent in DiscoveryRequest/Response `type_url`. */
export const TYPE_URL = {
  LISTENER: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  CLUSTER: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  CLUSTER_LOAD_ASSIGNMENT: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  ROUTE_CONFIGURATION: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  SECRET: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
  /** Istio's workload API: a Workload or a Service (ztunnel's workload dialect). */
  ADDRESS: 'type.googleapis.com/istio.workload.Address',
  /** Istio's L4 authorization policy for ztunnel (workload dialect). */
  AUTHORIZATION: 'type.googleapis.com/istio.security.Authorization',
} as const;

export type XdsTypeUrl = (typeof TYPE_URL)[keyof typeof TYPE_URL];

/** The message's full name from a type URL: everything after the last '/'. */
export function messageNameOfTypeUrl(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/** Short names used in logs and debug output (Istio's vocabulary). */
export function shortTypeName(typeUrl: string): string {
  switch (typeUrl) {
    case TYPE_URL.LISTENER:
      return 'LDS';
    case TYPE_URL.CLUSTER:
      return 'CDS';
    case TYPE_URL.CLUSTER_LOAD_ASSIGNMENT:
      return 'EDS';
    case TYPE_URL.ROUTE_CONFIGURATION:
      return 'RDS';
    case TYPE_URL.SECRET:
      return 'SDS';
    case TYPE_URL.ADDRESS:
      return 'WDS';
    case TYPE_URL.AUTHORIZATION:
      return 'WADS';
    default:
      return messageNameOfTypeUrl(typeUrl);
  }
}
