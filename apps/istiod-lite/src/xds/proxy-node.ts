/**
 * Who is on the other end of an ADS stream. The node comes from the DiscoveryRequest `node`:
 * id `ztunnel~<ip>~<pod name>~<namespace>.svc.cluster.local` (Istio's sidecar-style id) and
 * metadata `NODE_NAME`. On the mTLS port the node name proven by the client certificate wins,
 * and a request claiming another node is refused.
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
export function proxyFromNode(node: XdsNode | undefined, verifiedNodeName?: string): ProxyInfo {
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
      `proxy ${node.id} claims NODE_NAME ${claimedNodeName} but its certificate is for node ${verifiedNodeName}`,
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
