/**
 * Who is calling the CA or xDS on the mTLS port (15012), proven one of two ways:
 *   - a node bootstrap client certificate (node-identity.ts): the directory source, and the
 *     Kubernetes source for proxies started with --bootstrap-dir;
 *   - with the directory source, a waypoint credential (waypoint-identity.ts): its one URI names
 *     the Gateway, and it must be the certificate that Gateway's credential holds now (a copy
 *     kept from a deleted and re-made Gateway is refused);
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
import { waypointFromPeerCertificate, waypointKey, type WaypointRef } from './waypoint-identity.js';

export type Caller =
  | { readonly kind: 'node'; readonly nodeName: string }
  | ({ readonly kind: 'waypoint' } & WaypointRef)
  | ({ readonly kind: 'serviceAccount' } & ServiceAccountCaller);

/** Which waypoint certificates are current (credentials.ts `WaypointCredentials`). */
export interface CurrentWaypointCredentials {
  isCurrent(ref: WaypointRef, fingerprint256: string | undefined): boolean;
}

export type AuthenticateCall = (metadata: grpc.Metadata | undefined, peerCertificate: PeerCertificate | undefined) => Promise<Caller>;

/**
 * The authenticator of the mTLS port: certificates only, or (with `tokens`) tokens first. With
 * `waypoints` (the directory source) a waypoint credential is a caller of its own.
 */
export function callerAuthenticator(trustDomain: string, tokens?: KubernetesAuthenticator, waypoints?: CurrentWaypointCredentials): AuthenticateCall {
  return async (metadata, peerCertificate) => {
    const token = tokens ? bearerTokenOf(metadata) : undefined;
    if (tokens && token !== undefined) return { kind: 'serviceAccount', ...(await tokens.authenticate(token)) };
    const waypoint = waypoints ? waypointFromPeerCertificate(peerCertificate, trustDomain) : undefined;
    if (waypoints && waypoint) {
      if (!waypoints.isCurrent(waypoint, peerCertificate?.fingerprint256)) {
        throw new MeshError('ISTIOD_ERR_WAYPOINT_CREDENTIAL_STALE', `the waypoint credential of Gateway ${waypointKey(waypoint)} is not the one istiod-lite holds for it now (the Gateway is gone, or was deleted and made again)`, {
          context: { gateway: waypointKey(waypoint) },
          hint: `restart the waypoint with --bootstrap-dir <state-dir>/waypoints/${waypoint.namespace}/${waypoint.gateway}`,
        });
      }
      return { kind: 'waypoint', ...waypoint };
    }
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
  if (caller.kind === 'waypoint') return { waypoint: waypointKey(caller) };
  return {
    serviceAccount: `${caller.namespace}/${caller.serviceAccount}`,
    ...(caller.podName ? { pod: `${caller.namespace}/${caller.podName}` } : {}),
    ...(caller.nodeName ? { node: caller.nodeName } : {}),
  };
}
