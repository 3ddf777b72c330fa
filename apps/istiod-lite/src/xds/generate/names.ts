/**
 * Names of the ztunnel configuration that only the generator builds (the fixed names and ports
 * its readers look up too live in `@mesh/envoy-config`'s names.ts). Resource names carry the
 * source identity, so one node's ztunnel holds a separate set per local identity.
 */
import { CLUSTER_DOMAIN, serviceHostname, type Gateway, type Service, type ServicePort } from '@mesh/mesh-model';

export { ROOT_CA_SECRET } from '@mesh/envoy-config';
/** The local SDS server cluster, as Istio's `tls_certificate_sds_secret_configs` name it. */
export const SDS_CLUSTER = 'sds-grpc';

/** `http` for HTTP-family appProtocols, else `tcp`: the `<proto>` in chain names. */
export function protocolOf(port: ServicePort): 'http' | 'tcp' {
  const app = port.appProtocol?.toLowerCase();
  return app === 'http' || app === 'http2' || app === 'grpc' || app === 'grpc-web' || app === 'kubernetes.io/h2c' || app === 'kubernetes.io/ws' ? 'http' : 'tcp';
}

/** The identity-independent part of an `_outbound_internal` name: `http_reviews.default.svc.cluster.local`. */
export function destinationLabel(service: Service, port: ServicePort): string {
  const host = service.ports.length > 1 ? `${serviceHostname(service)}:${port.port}` : serviceHostname(service);
  return `${protocolOf(port)}_${host}`;
}

/**
 * `spiffe://cluster.local/ns/default/sa/sleep_to_http_productpage.default.svc.cluster.local_outbound_internal`:
 * the filter chain, the EDS cluster and its ClusterLoadAssignment for one source identity and one
 * service port. `label` is `destinationLabel`'s: for a multi-port service `:<port>` follows the
 * hostname so each port gets its own endpoints.
 */
export function outboundInternalNameFor(sourceSpiffe: string, label: string): string {
  return `${sourceSpiffe}_to_${label}_outbound_internal`;
}

/**
 * Filter chain for connections straight to a captured pod's IP (not through a service VIP). One
 * per source identity: it tunnels to `<original dst ip>:15008` with `:authority` = the original
 * destination, so it needs no per-pod cluster or endpoints.
 */
export function outboundDirectName(sourceSpiffe: string): string {
  return `${sourceSpiffe}_to_pod_outbound_direct`;
}

/**
 * How both dialects name a waypoint in resource names: as Istio's Gateway status addresses it
 * (the Workload's `waypoint` field in the workload API): its declared hostname, else its first
 * declared IP, else the hostname of the Service Istio's waypoint deployment creates.
 */
export function waypointLabel(gateway: Gateway): string {
  return (
    gateway.addresses.find((a) => a.type === 'Hostname')?.value ??
    gateway.addresses.find((a) => a.type === 'IPAddress')?.value ??
    `${gateway.name}.${gateway.namespace}.svc.${CLUSTER_DOMAIN}`
  );
}

/**
 * `spiffe://…/sa/sleep_to_waypoint_waypoint.wpfor.svc.cluster.local_outbound_pod`: the filter
 * chain, EDS cluster and ClusterLoadAssignment that carry one source identity's connections to
 * pod IPs of workloads enrolled in a waypoint (`istio.io/waypoint-for: workload|all`) to that
 * waypoint, CONNECT `:authority` = the original destination.
 */
export function outboundWaypointName(sourceSpiffe: string, waypoint: string): string {
  return `${sourceSpiffe}_to_waypoint_${waypoint}_outbound_pod`;
}

export function inboundChainName(podIp: string): string {
  return `inbound_${podIp}`;
}

export function inboundPlaintextChainName(podIp: string): string {
  return `inbound_plaintext_${podIp}`;
}

/**
 * RBAC policy key for rule `i` of an AuthorizationPolicy, in Istio's own format
 * (`ns[default]-policy[deny-sleep]-rule[0]`), so access logs can name the policy that decided.
 */
export function rbacPolicyKey(namespace: string, policyName: string, ruleIndex: number): string {
  return `ns[${namespace}]-policy[${policyName}]-rule[${ruleIndex}]`;
}

/** Recovers namespace, policy name and rule index from an RBAC policy key. */
export function parseRbacPolicyKey(key: string): { namespace: string; policy: string; rule: number } | undefined {
  const m = /^ns\[([^\]]+)\]-policy\[([^\]]+)\]-rule\[(\d+)\]$/.exec(key);
  return m ? { namespace: m[1] as string, policy: m[2] as string, rule: Number(m[3]) } : undefined;
}

/** RBAC policy key of the DENY rule that refuses plaintext on a pod's STRICT ports (PeerAuthentication). */
export const STRICT_MTLS_POLICY_KEY = 'peer-authentication-strict-denies-plaintext';

export function address(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
