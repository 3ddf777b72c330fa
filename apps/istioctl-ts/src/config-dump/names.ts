/**
 * The resource names istiod-lite gives ztunnel resources (`@mesh/envoy-config`'s names.ts), read back: what a name says
 * about the source identity, protocol and service, so tables can show it in columns.
 */
import { TUNNEL_CLUSTER_PREFIX, TUNNEL_LISTENER_PREFIX } from '@mesh/envoy-config';
export { TUNNEL_LISTENER_PREFIX, TUNNEL_CLUSTER_PREFIX, OUTBOUND_LISTENER, INBOUND_LISTENER, INBOUND_PLAINTEXT_LISTENER } from '@mesh/envoy-config';

/** `spiffe://<td>/ns/<ns>/sa/<sa>_to_<proto>_<fqdn>_outbound_internal` */
const SERVICE_CLUSTER = /^(spiffe:\/\/[^_]+)_to_([a-z0-9-]+)_(.+)_outbound_internal$/;
/** `spiffe://<td>/ns/<ns>/sa/<sa>_to_pod_outbound_direct` */
const DIRECT_CHAIN = /^(spiffe:\/\/[^_]+)_to_pod_outbound_direct$/;

export interface ServiceClusterName {
  sourceIdentity: string;
  protocol: string;
  fqdn: string;
}

export function parseServiceClusterName(name: string): ServiceClusterName | undefined {
  const m = SERVICE_CLUSTER.exec(name);
  return m ? { sourceIdentity: m[1]!, protocol: m[2]!, fqdn: m[3]! } : undefined;
}

/** The source identity a cluster, chain or internal listener belongs to, if its name carries one. */
export function sourceIdentityOf(name: string): string | undefined {
  if (name.startsWith(TUNNEL_LISTENER_PREFIX)) return name.slice(TUNNEL_LISTENER_PREFIX.length);
  if (name.startsWith(TUNNEL_CLUSTER_PREFIX)) return name.slice(TUNNEL_CLUSTER_PREFIX.length);
  return parseServiceClusterName(name)?.sourceIdentity ?? DIRECT_CHAIN.exec(name)?.[1];
}

/** `spiffe://cluster.local/ns/default/sa/sleep` → `default/sleep`; other strings unchanged. */
export function shortIdentity(identity: string): string {
  const m = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(identity);
  return m ? `${m[1]}/${m[2]}` : identity;
}

/** `reviews.default.svc.cluster.local` → {name: reviews, namespace: default}. */
export function serviceOfFqdn(fqdn: string): { name: string; namespace: string } {
  const [name = fqdn, namespace = ''] = fqdn.split('.');
  return { name, namespace };
}

/** Istio's RBAC policy key `ns[<ns>]-policy[<name>]-rule[<i>]`. */
export function parseRbacPolicyKey(key: string): { namespace: string; name: string; rule: number } | undefined {
  const m = /^ns\[([^\]]*)\]-policy\[([^\]]*)\]-rule\[(\d+)\]$/.exec(key);
  return m ? { namespace: m[1]!, name: m[2]!, rule: Number(m[3]) } : undefined;
}
