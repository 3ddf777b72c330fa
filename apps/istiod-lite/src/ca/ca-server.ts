/**
 * CreateCertificate with node authorization: a ztunnel may obtain certificates only for the
 * identities of pods on its own node, and its node is the one its credential proves (caller.ts:
 * a node bootstrap client certificate, or on Kubernetes its service-account token's bound pod),
 * never one it claims. Any other service-account caller (a waypoint, a pod) gets only its own
 * identity, as Istio's CA grants (security/pkg/server/ca/server.go, node_auth.go). In directory
 * mode a waypoint credential (waypoint-identity.ts) gets exactly its Gateway's identity while the
 * Gateway exists, and a node no longer gets the identity of a waypoint pod on it.
 *
 * Order of checks: the caller is authenticated (UNAUTHENTICATED; the API server unreachable:
 * UNAVAILABLE) → the requested identity (ImpersonatedIdentity, else the CSR's URI) is a workload
 * SPIFFE ID (INVALID_ARGUMENT) → the caller may have it (PERMISSION_DENIED: a node for a pod on it,
 * a service account for itself) → the CSR asks for exactly that identity (pki:
 * PKI_ERR_CSR_IDENTITY_MISMATCH → INVALID_ARGUMENT). Istio answers a refused impersonation with
 * UNAUTHENTICATED; istiod-lite says PERMISSION_DENIED: the caller is known, the request is not allowed.
 */
import * as grpc from '@grpc/grpc-js';
import { hasCode, isMeshError } from '@mesh/errors';
import type { MeshSnapshot } from '@mesh/mesh-model';
import { DEFAULT_WORKLOAD_CERT_TTL_MS, parseSpiffeUri, requestedUrisOfCsr } from '@mesh/pki';
import type { RootCa, SpiffeId } from '@mesh/pki';
import { IMPERSONATED_IDENTITY_KEY, structStringField } from '@mesh/xds';
import type { IstioCertificateRequest, IstioCertificateResponse } from '@mesh/xds';
import type { Logger } from '../log.js';
import { callerAuthenticator, describeCaller, type AuthenticateCall, type Caller } from './caller.js';
import { authErrorMessage, grpcStatusOfAuthError } from './kubernetes-identity.js';
import { waypointGatewayOf, waypointKey, waypointOfPod, waypointWorkloadIdentity, type WaypointRef } from './waypoint-identity.js';

export interface CaServerOptions {
  ca: RootCa;
  /** Lifetime of the certificates it signs: the requested validity, at most this (default 24 h). */
  workloadCertTtlMs?: number;
  snapshot: () => MeshSnapshot;
  logger: Logger;
  /** Who the caller is (caller.ts); default: node bootstrap certificates only. */
  authenticate?: AuthenticateCall;
  /**
   * Waypoints have credentials of their own (the directory source, `<state-dir>/waypoints/`): the
   * identity of a waypoint pod is that credential's, never its node's.
   */
  waypointCredentials?: boolean;
}

class CaRefusal extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

export function caServiceHandlers(options: CaServerOptions): grpc.UntypedServiceImplementation {
  const authenticate = options.authenticate ?? callerAuthenticator(options.ca.trustDomain);
  return {
    CreateCertificate: (
      call: grpc.ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>,
      callback: grpc.sendUnaryData<IstioCertificateResponse>,
    ) => {
      let caller: Caller | undefined;
      authenticate(call.metadata, call.getAuthContext()?.sslPeerCertificate)
        .then((authenticated) => {
          caller = authenticated;
          callback(null, createCertificate(options, authenticated, call.request));
        })
        .catch((err: unknown) => {
          const refusal =
            err instanceof CaRefusal
              ? err
              : caller === undefined
                ? new CaRefusal(grpcStatusOfAuthError(err), authErrorMessage(err))
                : hasCode(err, 'PKI_ERR_CSR_IDENTITY_MISMATCH', 'PKI_ERR_BAD_CSR', 'PKI_ERR_CSR_SIGNATURE', 'PKI_ERR_CSR_KEY', 'PKI_ERR_TRUST_DOMAIN_MISMATCH', 'PKI_ERR_BAD_SPIFFE_ID')
                  ? new CaRefusal(grpc.status.INVALID_ARGUMENT, err.message)
                  : new CaRefusal(grpc.status.INTERNAL, `certificate signing failed: ${isMeshError(err) ? err.message : String(err)}`);
          options.logger.warn('certificate request refused', {
            ...(caller ? describeCaller(caller) : {}),
            peer: call.getPeer(),
            code: grpc.status[refusal.code],
            reason: caller === undefined ? 'not authenticated' : 'not allowed',
            error: refusal.message,
          });
          callback({ code: refusal.code, details: refusal.message });
        });
    },
  };
}

function createCertificate(options: CaServerOptions, caller: Caller, request: IstioCertificateRequest): IstioCertificateResponse {
  const { ca, logger } = options;
  const requestedUri = structStringField(request.metadata, IMPERSONATED_IDENTITY_KEY) ?? csrRequestedUri(request.csr);
  let identity: SpiffeId;
  try {
    identity = parseSpiffeUri(requestedUri);
  } catch (err) {
    throw new CaRefusal(grpc.status.INVALID_ARGUMENT, `"${requestedUri}" is not a workload SPIFFE ID: ${isMeshError(err) ? err.message : String(err)}`);
  }
  authorize(options.snapshot(), caller, requestedUri, options.waypointCredentials ?? false);
  const requestedSeconds = Number(request.validity_duration || 0);
  const maxTtlMs = options.workloadCertTtlMs ?? DEFAULT_WORKLOAD_CERT_TTL_MS;
  const ttlMs = requestedSeconds > 0 ? Math.min(requestedSeconds * 1000, maxTtlMs) : maxTtlMs;
  const issued = ca.issueWorkloadCert({ csrPem: request.csr, identity, ttlMs });
  logger.info('workload certificate issued', { ...describeCaller(caller), identity: requestedUri, serialNumber: issued.serialNumber, notAfter: issued.notAfter.toISOString() });
  // Istio's order: the leaf, the CA's chain (intermediates), the root last.
  return { cert_chain: [issued.certPem, ...ca.caChain] };
}

/**
 * May this caller have a certificate for `requestedUri`? Its own identity always (a service
 * account); a waypoint credential its Gateway's identity while the Gateway exists; a pod's
 * identity only when it is a node (a ztunnel) and a pod on its node runs as it (with
 * `waypointCredentials`, a pod that is not a waypoint's). Throws a PERMISSION_DENIED CaRefusal naming why.
 */
function authorize(snapshot: MeshSnapshot, caller: Caller, requestedUri: string, waypointCredentials: boolean): void {
  if (caller.kind === 'waypoint') {
    authorizeWaypoint(snapshot, caller, requestedUri);
    return;
  }
  if (caller.kind === 'serviceAccount') {
    if (requestedUri === caller.identity) return;
    if (!caller.nodeProxy) {
      throw new CaRefusal(
        grpc.status.PERMISSION_DENIED,
        `service account ${caller.namespace}/${caller.serviceAccount} may obtain a certificate only for its own identity ${caller.identity}, not ${requestedUri} (only node proxies, --ca-trusted-node-accounts, may ask for others)`,
      );
    }
    if (caller.nodeName === undefined) {
      throw new CaRefusal(
        grpc.status.PERMISSION_DENIED,
        `node proxy ${caller.namespace}/${caller.serviceAccount} may not obtain a certificate for ${requestedUri}: its token is not bound to a pod on a node (use a projected serviceAccountToken volume)`,
      );
    }
  }
  const nodeName = caller.nodeName!;
  const localPods = snapshot.podsOnNode(nodeName);
  const waypointPods = waypointCredentials ? localPods.filter((pod) => waypointOfPod(snapshot, pod) !== undefined) : [];
  const localIdentities = new Set(localPods.filter((pod) => !waypointPods.includes(pod)).map((pod) => snapshot.spiffeOf(pod)));
  const waypointPod = waypointPods.find((pod) => snapshot.spiffeOf(pod) === requestedUri);
  if (!localIdentities.has(requestedUri) && waypointPod) {
    const waypoint = waypointKey(waypointOfPod(snapshot, waypointPod)!);
    throw new CaRefusal(
      grpc.status.PERMISSION_DENIED,
      `node ${nodeName} may not obtain a certificate for ${requestedUri}: it is the identity of waypoint pod ${waypointPod.namespace}/${waypointPod.name} (Gateway ${waypoint}), which has a credential of its own (<state-dir>/waypoints/${waypoint})`,
    );
  }
  if (!localIdentities.has(requestedUri)) {
    const elsewhere = [...new Set([...snapshot.pods.values()].filter((pod) => snapshot.spiffeOf(pod) === requestedUri).map((pod) => pod.nodeName))];
    const where = elsewhere.length > 0 ? `it runs on ${elsewhere.join(', ')}` : 'no pod in the mesh runs as it';
    throw new CaRefusal(
      grpc.status.PERMISSION_DENIED,
      `node ${nodeName} may not obtain a certificate for ${requestedUri}: no pod on ${nodeName} runs as that identity (${where})`,
    );
  }
}

/** A waypoint credential may obtain exactly `spiffe://<td>/ns/<ns>/sa/<gateway>`, and only while its istio-waypoint Gateway exists. */
function authorizeWaypoint(snapshot: MeshSnapshot, caller: WaypointRef, requestedUri: string): void {
  const who = `waypoint ${waypointKey(caller)}`;
  if (!waypointGatewayOf(snapshot, caller)) {
    throw new CaRefusal(grpc.status.PERMISSION_DENIED, `${who} may not obtain a certificate for ${requestedUri}: there is no Gateway ${waypointKey(caller)} with gatewayClassName istio-waypoint`);
  }
  const own = waypointWorkloadIdentity(snapshot.trustDomain, caller);
  if (requestedUri !== own) {
    throw new CaRefusal(grpc.status.PERMISSION_DENIED, `${who} may not obtain a certificate for ${requestedUri}: a waypoint credential obtains only its Gateway's identity ${own}`);
  }
}

/** The one URI SAN a CSR asks for (its signature checked by pki). */
function csrRequestedUri(csrPem: string): string {
  let requested: string[];
  try {
    requested = requestedUrisOfCsr(csrPem);
  } catch (err) {
    throw new CaRefusal(grpc.status.INVALID_ARGUMENT, isMeshError(err) ? err.message : String(err));
  }
  if (requested.length === 1) return requested[0]!;
  if (requested.length === 0) throw new CaRefusal(grpc.status.INVALID_ARGUMENT, 'the CSR names no identity: put the workload SPIFFE ID in a URI SAN');
  throw new CaRefusal(grpc.status.INVALID_ARGUMENT, `the CSR must ask for exactly one SPIFFE ID, it asks for ${requested.join(', ')}`);
}
