/**
 * A proxy's link to istiod-lite's CA and xDS (port 15012): mTLS with the node bootstrap
 * credential istiod-lite writes at start (`<state>/nodes/<node>/{cert.pem,key.pem,root-cert.pem}`),
 * the server checked by its SPIFFE identity (spiffe://<td>/ns/istio-system/sa/istiod) rather than
 * a host name; or plaintext without one (local development on 15010).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MeshError } from '@mesh/errors';
import { spiffeServerIdentityCheck } from '@mesh/pki';
import { CaClient } from '@mesh/xds';
import type { CertificateSigner } from './cert-manager.js';

export const BOOTSTRAP_FILES = { cert: 'cert.pem', key: 'key.pem', root: 'root-cert.pem' } as const;
export const CA_REQUEST_DEADLINE_MS = 10_000;

export async function controlPlaneCredentials(bootstrapDir: string | undefined, trustDomain: string): Promise<grpc.ChannelCredentials> {
  if (!bootstrapDir) return grpc.credentials.createInsecure();
  let files: Buffer[];
  try {
    files = await Promise.all([BOOTSTRAP_FILES.root, BOOTSTRAP_FILES.key, BOOTSTRAP_FILES.cert].map((f) => readFile(join(bootstrapDir, f))));
  } catch (cause) {
    throw new MeshError('IDENTITY_ERR_BOOTSTRAP', `cannot read the node bootstrap credential in ${bootstrapDir}`, {
      cause,
      hint: "point --bootstrap-dir at istiod-lite's <state-dir>/nodes/<node> (the node the proxy runs on)",
    });
  }
  const [root, key, cert] = files as [Buffer, Buffer, Buffer];
  return grpc.credentials.createSsl(root, key, cert, {
    checkServerIdentity: spiffeServerIdentityCheck([{ trustDomain, namespace: 'istio-system', serviceAccount: 'istiod' }]),
  });
}

/**
 * A CertificateSigner backed by istiod-lite's CA (IstioCertificateService/CreateCertificate): the
 * proxy asks on behalf of a workload with `ImpersonatedIdentity`, as Istio's ztunnel does;
 * istiod-lite grants only identities that run on the proxy's node (node authorization).
 */
export function caSigner(target: string, credentials: grpc.ChannelCredentials, validitySeconds: number): { sign: CertificateSigner; close(): void } {
  const client = new CaClient(target, credentials);
  return {
    sign: ({ identity, csrPem }) => client.createCertificate({ csrPem, impersonatedIdentity: identity, validitySeconds, deadlineMs: CA_REQUEST_DEADLINE_MS }),
    close: () => client.close(),
  };
}
