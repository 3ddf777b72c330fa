/**
 * How a ztunnel proves which node it serves (see ARCHITECTURE.md "Node identity").
 *
 * At start istiod-lite issues each Node a bootstrap certificate with two URI SANs:
 *   spiffe://<td>/ns/istio-system/sa/ztunnel   (what it is)
 *   spiffe://<td>/node/<node-name>             (which node; NODE_URI)
 * Workload certificates are only ever issued for `spiffe://<td>/ns/<ns>/sa/<sa>` (pki's
 * issueWorkloadCert builds the one URI itself), so no workload can obtain a `/node/` URI, and a
 * node cannot be named by claiming it: only the verified peer certificate counts.
 */
import type { PeerCertificate } from 'node:tls';
import { MeshError } from '@mesh/errors';
import { spiffeUri, subjectAltNameUris } from '@mesh/pki';

export const ZTUNNEL_NAMESPACE = 'istio-system';
export const ZTUNNEL_SERVICE_ACCOUNT = 'ztunnel';
export const ISTIOD_SERVICE_ACCOUNT = 'istiod';
const NODE_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export function nodeUri(trustDomain: string, nodeName: string): string {
  return `spiffe://${trustDomain}/node/${nodeName}`;
}

export function ztunnelUri(trustDomain: string): string {
  return spiffeUri({ trustDomain, namespace: ZTUNNEL_NAMESPACE, serviceAccount: ZTUNNEL_SERVICE_ACCOUNT });
}

/** The URI SANs of a node bootstrap certificate. */
export function nodeBootstrapUris(trustDomain: string, nodeName: string): string[] {
  if (!NODE_NAME.test(nodeName)) throw new MeshError('ISTIOD_ERR_BAD_NODE', `"${nodeName}" is not a valid node name`);
  return [ztunnelUri(trustDomain), nodeUri(trustDomain, nodeName)];
}

/**
 * The node named by a verified client certificate (TLS already checked it chains to our root).
 * Throws ISTIOD_ERR_NOT_A_NODE when the certificate is not a node bootstrap certificate.
 */
export function nodeNameFromPeerCertificate(cert: PeerCertificate | undefined, trustDomain: string): string {
  const uris = subjectAltNameUris(cert?.subjectaltname);
  const prefix = `spiffe://${trustDomain}/node/`;
  const nodes = uris.filter((uri) => uri.startsWith(prefix)).map((uri) => uri.slice(prefix.length));
  if (!cert || nodes.length !== 1 || !uris.includes(ztunnelUri(trustDomain)) || !NODE_NAME.test(nodes[0]!)) {
    throw new MeshError(
      'ISTIOD_ERR_NOT_A_NODE',
      `the client certificate (${uris.join(', ') || 'no URI SAN'}) is not a node bootstrap certificate`,
      {
        context: { uris },
        hint: `connect with <state-dir>/nodes/<node>/cert.pem, which names ${ztunnelUri(trustDomain)} and ${prefix}<node>`,
      },
    );
  }
  return nodes[0]!;
}
