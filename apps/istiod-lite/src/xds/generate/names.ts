/**
 * Names and ports of the ztunnel configuration, exactly as the seeds show them (seed 002
 * "ztunnel_outbound 监听器", seed 004 "Outbound Listener"). Resource names carry the source
 * identity, so one node's ztunnel holds a separate set per local identity.
 */
import { serviceHostname, type Service, type ServicePort } from '@mesh/mesh-model';

export const ZTUNNEL_OUTBOUND_PORT = 15001;
export const ZTUNNEL_INBOUND_PLAINTEXT_PORT = 15006;
export const HBONE_PORT = 15008;

export const OUTBOUND_LISTENER = 'ztunnel_outbound';
export const INBOUND_LISTENER = 'ztunnel_inbound';
export const INBOUND_PLAINTEXT_LISTENER = 'ztunnel_inbound_plaintext';
export const VIRTUAL_INBOUND_CLUSTER = 'virtual_inbound';
export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';
export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
export const PASSTHROUGH_FILTER_CHAIN = 'PassthroughFilterChain';
/** The filter chain the outbound matcher picks for traffic aimed at 15001 itself (a loop). */
export const BLACKHOLE_FILTER_CHAIN = 'BlackHoleCluster';
/** SDS secret holding the mesh root certificate that peers are validated against. */
export const ROOT_CA_SECRET = 'ROOTCA';
/** The local SDS server cluster, as in the seed's `tls_certificate_sds_secret_configs`. */
export const SDS_CLUSTER = 'sds-grpc';

/** `http` for HTTP-family appProtocols, else `tcp`: the `<proto>` in chain names. */
export function protocolOf(port: ServicePort): 'http' | 'tcp' {
  const app = port.appProtocol?.toLowerCase();
  return app === 'http' || app === 'http2' || app === 'grpc' || app === 'grpc-web' || app === 'kubernetes.io/h2c' ? 'http' : 'tcp';
}

/**
 * `spiffe://cluster.local/ns/default/sa/sleep_to_http_productpage.default.svc.cluster.local_outbound_internal`:
 * the filter chain, the EDS cluster and its ClusterLoadAssignment for one source identity and one
 * service port. The seed names carry no port because its services have one; for a multi-port
 * service `:<port>` follows the hostname so each port gets its own endpoints.
 */
export function outboundInternalName(sourceSpiffe: string, service: Service, port: ServicePort): string {
  return outboundInternalNameFor(sourceSpiffe, destinationLabel(service, port));
}

/** The identity-independent part of an `_outbound_internal` name: `http_reviews.default.svc.cluster.local`. */
export function destinationLabel(service: Service, port: ServicePort): string {
  const host = service.ports.length > 1 ? `${serviceHostname(service)}:${port.port}` : serviceHostname(service);
  return `${protocolOf(port)}_${host}`;
}

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

export function tunnelListenerName(sourceSpiffe: string): string {
  return `outbound_tunnel_lis_${sourceSpiffe}`;
}

export function tunnelClusterName(sourceSpiffe: string): string {
  return `outbound_tunnel_clus_${sourceSpiffe}`;
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

/** RBAC policy key of the deny-all rule that refuses plaintext under STRICT PeerAuthentication. */
export const STRICT_MTLS_POLICY_KEY = 'peer-authentication-strict-denies-plaintext';

export function address(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
