/**
 * A CertificateSigner backed by istiod-lite's CA (IstioCertificateService/CreateCertificate on
 * 15012): the ztunnel asks on behalf of a local workload with `ImpersonatedIdentity`, as Istio's
 * ztunnel does; istiod-lite grants only identities of pods on this node (node authorization).
 */
import type * as grpc from '@grpc/grpc-js';
import { CaClient } from '@mesh/xds';
import { CERT_TTL_SECONDS } from '../config.js';
import type { CertificateSigner } from './cert-manager.js';

export const CA_REQUEST_DEADLINE_MS = 10_000;

export function caSigner(target: string, credentials: grpc.ChannelCredentials): { sign: CertificateSigner; close(): void } {
  const client = new CaClient(target, credentials);
  return {
    sign: ({ identity, csrPem }) =>
      client.createCertificate({ csrPem, impersonatedIdentity: identity, validitySeconds: CERT_TTL_SECONDS, deadlineMs: CA_REQUEST_DEADLINE_MS }),
    close: () => client.close(),
  };
}
