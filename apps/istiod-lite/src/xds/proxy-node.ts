/**
 * Who is on the other end of an ADS stream. The node comes from the DiscoveryRequest `node`:
 * id `ztunnel~<ip>~<pod name>~<namespace>.svc.cluster.local` (Istio's sidecar-style id) and
 * metadata `NODE_NAME`. On the mTLS port the node name proven by the client certificate (or the
 * service-account token's bound pod) wins, and a request claiming another node is refused.
 */
import { MeshError } from '@mesh/errors';
import type { XdsNode } from '@mesh/xds';

/** Node metadata key a proxy sets to say where its admin API listens (shown in syncz for meshctl). */
export const ADMIN_ADDRESS_METADATA_KEY = 'ADMIN_ADDRESS';

export const NODE_NAME_METADATA_KEY = 'NODE_NAME';

/** Node metadata keys Istio's proxies send and `istioctl proxy-status` shows (CLUSTER, VERSION). */
export const CLUSTER_ID_METADATA_KEY = 'CLUSTER_ID';
export const ISTIO_VERSION_METADATA_KEY = 'ISTIO_VERSION';

export interface ProxyInfo {
  /** The xDS node id, unique per connected proxy. */
  id: string;
  /** `ztunnel`, `waypoint`, … (first `~` field of the id). */
  type: string;
  ip: string | undefined;
  podName: string | undefined;
  namespace: string | undefined;
  /** The Kubernetes node this proxy serves. */
  nodeName: string;
  /** True when nodeName was proven by a client certificate (mTLS port). */
  verified: boolean;
  /** node.metadata as sent (e.g. NODE_NAME, ADMIN_ADDRESS); informational, never trusted. */
  metadata: Record<string, unknown>;
}

/**
 * Reads the proxy from the first request's node. `verifiedNodeName` is the node from the peer
 * certificate on the mTLS port. Throws ISTIOD_ERR_BAD_NODE or ISTIOD_ERR_NODE_MISMATCH.
 */
export function proxyFromNode(node: XdsNode | undefined, verifiedNodeName?: string, provenBy: 'certificate' | 'token' = 'certificate'): ProxyInfo {
  if (!node?.id) {
    throw new MeshError('ISTIOD_ERR_BAD_NODE', 'the first DiscoveryRequest carries no node id', {
      hint: 'send node.id "ztunnel~<ip>~<name>~<namespace>.svc.cluster.local" and metadata NODE_NAME',
    });
  }
  const [type = '', ip, podName, domain] = node.id.split('~');
  const namespace = domain?.split('.')[0];
  const claimed = node.metadata?.[NODE_NAME_METADATA_KEY];
  const claimedNodeName = typeof claimed === 'string' && claimed !== '' ? claimed : undefined;
  if (verifiedNodeName !== undefined && claimedNodeName !== undefined && claimedNodeName !== verifiedNodeName) {
    throw new MeshError(
      'ISTIOD_ERR_NODE_MISMATCH',
      `proxy ${node.id} claims NODE_NAME ${claimedNodeName} but its ${provenBy} is for node ${verifiedNodeName}`,
      { context: { id: node.id, claimed: claimedNodeName, verified: verifiedNodeName } },
    );
  }
  const nodeName = verifiedNodeName ?? claimedNodeName;
  if (!nodeName) {
    throw new MeshError('ISTIOD_ERR_BAD_NODE', `proxy ${node.id} did not say which node it serves`, {
      hint: 'set node.metadata.NODE_NAME',
    });
  }
  return {
    id: node.id,
    type,
    ip: ip || undefined,
    podName: podName || undefined,
    namespace: namespace || undefined,
    nodeName,
    verified: verifiedNodeName !== undefined,
    metadata: node.metadata ?? {},
  };
}

/** A service account a stream's token proved (the Kubernetes source; ca/kubernetes-identity.ts). */
export interface VerifiedServiceAccount {
  readonly namespace: string;
  readonly name: string;
  /** One of the trusted node accounts (ztunnel). */
  readonly nodeProxy: boolean;
}

/**
 * What a proxy proven by a token may be: a node proxy (ztunnel) only with a trusted node account
 * and a known node; any other account only a proxy of its own namespace (a waypoint serves its
 * namespace), never a ztunnel, whose config lists every workload of a node. Throws
 * ISTIOD_ERR_CALLER_NOT_ALLOWED.
 */
export function checkProxyAllowed(proxy: ProxyInfo, account: VerifiedServiceAccount): void {
  const who = `service account ${account.namespace}/${account.name}`;
  if (account.nodeProxy) {
    if (!proxy.verified) {
      throw new MeshError('ISTIOD_ERR_CALLER_NOT_ALLOWED', `${who} is a node proxy but its token is not bound to a pod on a node`, {
        hint: 'use a projected serviceAccountToken volume (audience istio-ca): it is bound to the pod',
      });
    }
    return;
  }
  if (proxy.type === 'ztunnel') {
    throw new MeshError('ISTIOD_ERR_CALLER_NOT_ALLOWED', `${who} may not connect as a ztunnel (${proxy.id}): only node accounts (--ca-trusted-node-accounts) may`);
  }
  if (proxy.namespace !== account.namespace) {
    throw new MeshError('ISTIOD_ERR_CALLER_NOT_ALLOWED', `${who} may not connect as ${proxy.id}: a proxy of namespace ${proxy.namespace ?? '(none)'}`);
  }
}
