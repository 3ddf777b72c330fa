/**
 * A proxy's link to istiod-lite's CA and xDS (port 15012): mTLS with the node bootstrap
 * credential istiod-lite writes at start (`<state>/nodes/<node>/{cert.pem,key.pem,root-cert.pem}`),
 * the server checked by its SPIFFE identity (spiffe://<td>/ns/istio-system/sa/istiod) rather than
 * a host name; or plaintext without one (local development on 15010).
 *
 * On Kubernetes a proxy may instead prove itself with its projected service-account token
 * (audience istio-ca), sent on every CA call and xDS stream as `authorization: Bearer <token>`
 * metadata, the wire form of Istio's ztunnel; the file is read again for each call, as the kubelet
 * rotates it. The channel is then server-authenticated TLS only (istiod checked by its SPIFFE
 * identity against the mesh root), never plaintext: the token must not travel in the clear.
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

export interface TokenCredentialOptions {
  /** The projected service-account token, read at each call. */
  tokenFile: string;
  /** The mesh root to check istiod with; default `<bootstrapDir>/root-cert.pem`. */
  rootCertFile?: string;
}

/** The token credential of a proxy's --token-file / --ca-root-cert flags, when a token file is given. */
export function controlPlaneToken(flags: { tokenFile?: string | undefined; caRootCert?: string | undefined }): TokenCredentialOptions | undefined {
  return flags.tokenFile ? { tokenFile: flags.tokenFile, ...(flags.caRootCert ? { rootCertFile: flags.caRootCert } : {}) } : undefined;
}

export async function controlPlaneCredentials(bootstrapDir: string | undefined, trustDomain: string, token?: TokenCredentialOptions): Promise<grpc.ChannelCredentials> {
  if (token) return tokenCredentials(bootstrapDir, trustDomain, token);
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

async function tokenCredentials(bootstrapDir: string | undefined, trustDomain: string, token: TokenCredentialOptions): Promise<grpc.ChannelCredentials> {
  const rootFile = token.rootCertFile ?? (bootstrapDir ? join(bootstrapDir, BOOTSTRAP_FILES.root) : undefined);
  if (!rootFile) {
    throw new MeshError('IDENTITY_ERR_BOOTSTRAP', 'a token needs the mesh root certificate to check istiod-lite with', { hint: 'pass --ca-root-cert <root-cert.pem>' });
  }
  let root: Buffer;
  try {
    root = await readFile(rootFile);
    // Read once now so a missing token is a start-up error, not a refusal later.
    await readFile(token.tokenFile);
  } catch (cause) {
    throw new MeshError('IDENTITY_ERR_BOOTSTRAP', `cannot read ${String((cause as { path?: string }).path ?? rootFile)}: ${String(cause)}`, { cause });
  }
  const bearer = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    readFile(token.tokenFile, 'utf8').then(
      (text) => {
        const metadata = new grpc.Metadata();
        metadata.set('authorization', `Bearer ${text.trim()}`);
        callback(null, metadata);
      },
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
    );
  });
  const tls = grpc.credentials.createSsl(root, null, null, {
    checkServerIdentity: spiffeServerIdentityCheck([{ trustDomain, namespace: 'istio-system', serviceAccount: 'istiod' }]),
  });
  return grpc.credentials.combineChannelCredentials(tls, bearer);
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
