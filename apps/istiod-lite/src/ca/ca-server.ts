/**
 * CreateCertificate with node authorization: a ztunnel may obtain certificates only for the
 * identities of pods on its own node, and its node is the one its verified client certificate
 * names (node-identity.ts), never one it claims.
 *
 * Order of checks: caller is a node (UNAUTHENTICATED) → the requested identity is known
 * (INVALID_ARGUMENT) → a pod on that node runs as it (PERMISSION_DENIED) → the CSR asks for
 * exactly that identity (pki: PKI_ERR_CSR_IDENTITY_MISMATCH → INVALID_ARGUMENT).
 */
import * as grpc from '@grpc/grpc-js';
import { hasCode, isMeshError } from '@mesh/errors';
import type { MeshSnapshot } from '@mesh/mesh-model';
import { DEFAULT_WORKLOAD_CERT_TTL_MS, parseSpiffeUri, requestedUrisOfCsr } from '@mesh/pki';
import type { RootCa, SpiffeId } from '@mesh/pki';
import { IMPERSONATED_IDENTITY_KEY, structStringField } from '@mesh/xds';
import type { IstioCertificateRequest, IstioCertificateResponse } from '@mesh/xds';
import type { Logger } from '../log.js';
import { nodeNameFromPeerCertificate } from './node-identity.js';

export interface CaServerOptions {
  ca: RootCa;
  /** Lifetime of the certificates it signs: the requested validity, at most this (default 24 h). */
  workloadCertTtlMs?: number;
  snapshot: () => MeshSnapshot;
  logger: Logger;
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
  return {
    CreateCertificate: (
      call: grpc.ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>,
      callback: grpc.sendUnaryData<IstioCertificateResponse>,
    ) => {
      let nodeName: string | undefined;
      try {
        nodeName = nodeNameFromPeerCertificate(call.getAuthContext()?.sslPeerCertificate, options.ca.trustDomain);
        const response = createCertificate(options, nodeName, call.request);
        callback(null, response);
      } catch (err) {
        const refusal =
          err instanceof CaRefusal
            ? err
            : hasCode(err, 'ISTIOD_ERR_NOT_A_NODE')
              ? new CaRefusal(grpc.status.UNAUTHENTICATED, err.message)
              : hasCode(err, 'PKI_ERR_CSR_IDENTITY_MISMATCH', 'PKI_ERR_BAD_CSR', 'PKI_ERR_CSR_SIGNATURE', 'PKI_ERR_CSR_KEY', 'PKI_ERR_TRUST_DOMAIN_MISMATCH', 'PKI_ERR_BAD_SPIFFE_ID')
                ? new CaRefusal(grpc.status.INVALID_ARGUMENT, err.message)
                : new CaRefusal(grpc.status.INTERNAL, `certificate signing failed: ${isMeshError(err) ? err.message : String(err)}`);
        options.logger.warn('certificate request refused', { node: nodeName, peer: call.getPeer(), code: grpc.status[refusal.code], error: refusal.message });
        callback({ code: refusal.code, details: refusal.message });
      }
    },
  };
}

function createCertificate(options: CaServerOptions, nodeName: string, request: IstioCertificateRequest): IstioCertificateResponse {
  const { ca, logger } = options;
  const snapshot = options.snapshot();
  const requestedUri = structStringField(request.metadata, IMPERSONATED_IDENTITY_KEY) ?? csrRequestedUri(request.csr);
  let identity: SpiffeId;
  try {
    identity = parseSpiffeUri(requestedUri);
  } catch (err) {
    throw new CaRefusal(grpc.status.INVALID_ARGUMENT, `"${requestedUri}" is not a workload SPIFFE ID: ${isMeshError(err) ? err.message : String(err)}`);
  }
  const localIdentities = new Set(snapshot.podsOnNode(nodeName).map((pod) => snapshot.spiffeOf(pod)));
  if (!localIdentities.has(requestedUri)) {
    const elsewhere = [...new Set([...snapshot.pods.values()].filter((pod) => snapshot.spiffeOf(pod) === requestedUri).map((pod) => pod.nodeName))];
    const where = elsewhere.length > 0 ? `it runs on ${elsewhere.join(', ')}` : 'no pod in the mesh runs as it';
    throw new CaRefusal(
      grpc.status.PERMISSION_DENIED,
      `node ${nodeName} may not obtain a certificate for ${requestedUri}: no pod on ${nodeName} runs as that identity (${where})`,
    );
  }
  const requestedSeconds = Number(request.validity_duration || 0);
  const maxTtlMs = options.workloadCertTtlMs ?? DEFAULT_WORKLOAD_CERT_TTL_MS;
  const ttlMs = requestedSeconds > 0 ? Math.min(requestedSeconds * 1000, maxTtlMs) : maxTtlMs;
  const issued = ca.issueWorkloadCert({ csrPem: request.csr, identity, ttlMs });
  logger.info('workload certificate issued', { node: nodeName, identity: requestedUri, serialNumber: issued.serialNumber, notAfter: issued.notAfter.toISOString() });
  // Istio's order: the leaf, the CA's chain (intermediates), the root last.
  return { cert_chain: [issued.certPem, ...ca.caChain] };
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
