/**
 * Who is on the other end of an ADS stream. The node comes from the DiscoveryRequest `node`:
 * id `ztunnel~<ip>~<pod name>~<namespace>.svc.cluster.local` (Istio's sidecar-style id) and
 * metadata `NODE_NAME`. On the mTLS port the node name proven by the client certificate (or the
 * service-account token's bound pod, or a waypoint credential's Gateway pod) wins, and a request
 * claiming another node is refused.
 */
import { MeshError } from '@mesh/errors';
import { LABEL_GATEWAY_NAME, type MeshSnapshot } from '@mesh/mesh-model';
import type { XdsNode } from '@mesh/xds';
import { waypointGatewayOf, waypointKey, type WaypointRef } from '../ca/waypoint-identity.js';

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
export function proxyFromNode(node: XdsNode | undefined, verifiedNodeName?: string, provenBy: 'certificate' | 'token' | 'waypoint pod' = 'certificate'): ProxyInfo {
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
      `proxy ${node.id} claims NODE_NAME ${claimedNodeName} but ${provenBy === 'waypoint pod' ? 'its Gateway pod runs on' : `its ${provenBy} is for`} node ${verifiedNodeName}`,
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

/**
 * The proxy on a stream that a waypoint credential opened: only a `waypoint~` proxy whose pod, in
 * the credential's namespace, is labelled `gateway.networking.k8s.io/gateway-name: <gateway>`,
 * while that istio-waypoint Gateway exists; its node is the pod's. Throws ISTIOD_ERR_CALLER_NOT_ALLOWED
 * (a waypoint credential claiming to be a ztunnel or another waypoint), or proxyFromNode's errors.
 */
export function waypointProxyFromNode(node: XdsNode | undefined, waypoint: WaypointRef, snapshot: MeshSnapshot): ProxyInfo {
  const who = `the waypoint credential of Gateway ${waypointKey(waypoint)}`;
  const [type = '', , podName = '', domain = ''] = (node?.id ?? '').split('~');
  const namespace = domain.split('.')[0] ?? '';
  const refuse = (why: string): never => {
    throw new MeshError('ISTIOD_ERR_CALLER_NOT_ALLOWED', `${who} may not connect as ${node?.id || '(no node id)'}: ${why}`, {
      hint: `a waypoint connects as waypoint~<pod ip>~<pod>~${waypoint.namespace}.svc.cluster.local, its pod labelled ${LABEL_GATEWAY_NAME}: ${waypoint.gateway}`,
    });
  };
  if (type !== 'waypoint') return refuse(`it may connect only as a waypoint proxy of that Gateway, not as a ${type || 'proxy without a type'}`);
  if (namespace !== waypoint.namespace) return refuse(`its pod is in namespace ${namespace || '(none)'}, the Gateway in ${waypoint.namespace}`);
  if (!waypointGatewayOf(snapshot, waypoint)) return refuse(`there is no Gateway ${waypointKey(waypoint)} with gatewayClassName istio-waypoint`);
  const pod = snapshot.pods.get(`${namespace}/${podName}`);
  if (!pod) return refuse(`no pod ${namespace}/${podName} in the mesh`);
  if (pod.labels[LABEL_GATEWAY_NAME] !== waypoint.gateway) return refuse(`pod ${namespace}/${podName} is not a pod of that Gateway (its ${LABEL_GATEWAY_NAME} is ${pod.labels[LABEL_GATEWAY_NAME] ?? 'unset'})`);
  return proxyFromNode(node, pod.nodeName, 'waypoint pod');
}

/**
 * With waypoint credentials (directory mode), a node bootstrap credential may open xDS only as
 * its node's ztunnel, no longer as a waypoint: the waypoint has a credential of its own.
 * Throws ISTIOD_ERR_CALLER_NOT_ALLOWED.
 */
export function checkNodeCredentialProxy(proxy: ProxyInfo): void {
  if (proxy.type === 'waypoint') {
    throw new MeshError('ISTIOD_ERR_CALLER_NOT_ALLOWED', `the node bootstrap credential of ${proxy.nodeName} may not connect as waypoint ${proxy.id}: waypoints have credentials of their own`, {
      hint: `start the waypoint with --bootstrap-dir <state-dir>/waypoints/${proxy.namespace ?? '<namespace>'}/<gateway>`,
    });
  }
}
