/**
 * Who is calling the CA or xDS on the mTLS port (15012), proven one of two ways:
 *   - a node bootstrap client certificate (node-identity.ts): the directory source, and the
 *     Kubernetes source for proxies started with --bootstrap-dir;
 *   - with the Kubernetes source only, a projected service-account token as
 *     `authorization: Bearer` metadata, checked by TokenReview (kubernetes-identity.ts).
 * A call that carries a token is judged by the token alone: a bad token is refused even when a
 * certificate would have passed, so a proxy never silently runs on a credential it did not mean.
 * The directory source ignores the header (it has no API server to ask).
 */
import type { PeerCertificate } from 'node:tls';
import type * as grpc from '@grpc/grpc-js';
import { MeshError, hasCode } from '@mesh/errors';
import type { KubernetesAuthenticator, ServiceAccountCaller } from './kubernetes-identity.js';
import { bearerTokenOf } from './kubernetes-identity.js';
import { nodeNameFromPeerCertificate } from './node-identity.js';

export type Caller = { readonly kind: 'node'; readonly nodeName: string } | ({ readonly kind: 'serviceAccount' } & ServiceAccountCaller);

export type AuthenticateCall = (metadata: grpc.Metadata | undefined, peerCertificate: PeerCertificate | undefined) => Promise<Caller>;

/** The authenticator of the mTLS port: certificates only, or (with `tokens`) tokens first. */
export function callerAuthenticator(trustDomain: string, tokens?: KubernetesAuthenticator): AuthenticateCall {
  return async (metadata, peerCertificate) => {
    const token = tokens ? bearerTokenOf(metadata) : undefined;
    if (tokens && token !== undefined) return { kind: 'serviceAccount', ...(await tokens.authenticate(token)) };
    try {
      return { kind: 'node', nodeName: nodeNameFromPeerCertificate(peerCertificate, trustDomain) };
    } catch (err) {
      if (!tokens || !hasCode(err, 'ISTIOD_ERR_NOT_A_NODE') || peerCertificate) throw err;
      throw new MeshError('ISTIOD_ERR_TOKEN_MISSING', 'no credential: neither an authorization: Bearer token nor a node bootstrap client certificate that chains to the mesh root', {
        hint: 'send the projected service-account token (audience istio-ca) as authorization: Bearer <token> (ztunnel --token-file)',
      });
    }
  };
}

/** For log lines: who the caller is. */
export function describeCaller(caller: Caller): Record<string, string> {
  if (caller.kind === 'node') return { node: caller.nodeName };
  return {
    serviceAccount: `${caller.namespace}/${caller.serviceAccount}`,
    ...(caller.podName ? { pod: `${caller.namespace}/${caller.podName}` } : {}),
    ...(caller.nodeName ? { node: caller.nodeName } : {}),
  };
}
