/**
 * gRPC credentials for istiod-lite: mTLS with the node bootstrap credential (istiod-lite's
 * `<state>/nodes/<node>/{cert.pem,key.pem,root-cert.pem}`), the server checked by its SPIFFE
 * identity (spiffe://<td>/ns/istio-system/sa/istiod) rather than a host name; or plaintext
 * (local development on 15010).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MeshError } from '@mesh/errors';
import { spiffeServerIdentityCheck } from '@mesh/pki';

export const BOOTSTRAP_FILES = { cert: 'cert.pem', key: 'key.pem', root: 'root-cert.pem' } as const;

export async function controlPlaneCredentials(bootstrapDir: string | undefined, trustDomain: string): Promise<grpc.ChannelCredentials> {
  if (!bootstrapDir) return grpc.credentials.createInsecure();
  let files: Buffer[];
  try {
    files = await Promise.all([BOOTSTRAP_FILES.root, BOOTSTRAP_FILES.key, BOOTSTRAP_FILES.cert].map((f) => readFile(join(bootstrapDir, f))));
  } catch (cause) {
    throw new MeshError('ZTUNNEL_ERR_BOOTSTRAP', `cannot read the node bootstrap credential in ${bootstrapDir}`, {
      cause,
      hint: "point --bootstrap-dir at istiod-lite's <state-dir>/nodes/<node>",
    });
  }
  const [root, key, cert] = files as [Buffer, Buffer, Buffer];
  return grpc.credentials.createSsl(root, key, cert, {
    checkServerIdentity: spiffeServerIdentityCheck([{ trustDomain, namespace: 'istio-system', serviceAccount: 'istiod' }]),
  });
}
