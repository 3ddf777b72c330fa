/**
 * Credentials istiod-lite creates in its state directory:
 *   <state-dir>/root-cert.pem, root-key.pem (0600)      the mesh root CA (pki RootCa), unless a
 *                                                       plugged-in CA is given (below)
 *   <state-dir>/nodes/<node>/{cert.pem,key.pem,root-cert.pem}   node bootstrap credentials
 * and, in memory only, its own serving certificate for port 15012
 * (URI SAN spiffe://<td>/ns/istio-system/sa/istiod; clients check that SAN, not a hostname).
 *
 * A plugged-in CA (Istio's `cacerts`: ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem in
 * --cacerts-dir, or <state-dir>/cacerts) signs instead of the self-signed root; every certificate
 * is served with the CA's chain, and root-cert.pem is that CA's root.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RootCa, generateKeyAndCsr, spiffeUri } from '@mesh/pki';
import type { Logger } from '../log.js';
import { ISTIOD_SERVICE_ACCOUNT, ZTUNNEL_NAMESPACE, nodeBootstrapUris } from './node-identity.js';

export const NODE_BOOTSTRAP_CERT_TTL_MS = 365 * 24 * 3600_000;
/** A node credential closer than this to expiry is re-issued at start. */
export const NODE_BOOTSTRAP_RENEW_BEFORE_MS = 30 * 24 * 3600_000;
export const ISTIOD_SERVING_CERT_TTL_MS = 30 * 24 * 3600_000;

export interface ServingCredentials {
  certChainPem: string;
  keyPem: string;
  rootPem: string;
}

/** Where a plugged-in CA is looked for when --cacerts-dir is not given. */
export const DEFAULT_CACERTS_SUBDIR = 'cacerts';

/**
 * The mesh CA: the plugged-in one in `cacertsDir` (or `<state-dir>/cacerts` when it holds
 * ca-key.pem), else the self-signed root of the state dir, created on first start.
 */
export function loadMeshCa(stateDir: string, trustDomain: string, cacertsDir?: string): RootCa {
  const pluggedIn = cacertsDir ?? path.join(stateDir, DEFAULT_CACERTS_SUBDIR);
  if (cacertsDir !== undefined || existsSync(path.join(pluggedIn, 'ca-key.pem'))) return RootCa.loadPluggedIn(pluggedIn, { trustDomain });
  return RootCa.loadOrCreate(stateDir, { trustDomain });
}

export function nodeCredentialDir(stateDir: string, nodeName: string): string {
  return path.join(stateDir, 'nodes', nodeName);
}

/** istiod's own certificate for the mTLS port, made fresh at every start. */
export async function issueIstiodServingCredentials(ca: RootCa): Promise<ServingCredentials> {
  const uri = spiffeUri({ trustDomain: ca.trustDomain, namespace: ZTUNNEL_NAMESPACE, serviceAccount: ISTIOD_SERVICE_ACCOUNT });
  const { keyPem, csrPem } = await generateKeyAndCsr({ uris: [uri] });
  const issued = ca.issueCert({ csrPem, uris: [uri], commonName: 'istiod-lite', ttlMs: ISTIOD_SERVING_CERT_TTL_MS });
  return { certChainPem: issued.chainPem, keyPem, rootPem: ca.rootCertPem };
}

/**
 * Ensures `<state-dir>/nodes/<node>/` holds a valid bootstrap credential for each node; keeps
 * existing ones that chain to the current root and are not near expiry.
 */
export async function ensureNodeCredentials(ca: RootCa, stateDir: string, nodeNames: Iterable<string>, logger: Logger): Promise<void> {
  // RSA key generation runs on libuv's thread pool, so nodes are done concurrently.
  await Promise.all([...nodeNames].map((nodeName) => ensureNodeCredential(ca, stateDir, nodeName, logger)));
}

async function ensureNodeCredential(ca: RootCa, stateDir: string, nodeName: string, logger: Logger): Promise<void> {
  const dir = nodeCredentialDir(stateDir, nodeName);
  if (await isUsable(dir, ca)) return;
  const uris = nodeBootstrapUris(ca.trustDomain, nodeName);
  const { keyPem, csrPem } = await generateKeyAndCsr({ uris });
  const issued = ca.issueCert({ csrPem, uris, commonName: `ztunnel.${nodeName}`, ttlMs: NODE_BOOTSTRAP_CERT_TTL_MS });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomically(path.join(dir, 'key.pem'), keyPem, 0o600);
  await writeAtomically(path.join(dir, 'cert.pem'), issued.chainPem, 0o644);
  await writeAtomically(path.join(dir, 'root-cert.pem'), ca.rootCertPem, 0o644);
  logger.info('node bootstrap credential issued', { node: nodeName, dir, notAfter: issued.notAfter.toISOString() });
}

async function isUsable(dir: string, ca: RootCa): Promise<boolean> {
  try {
    const [chain, root] = await Promise.all([readFile(path.join(dir, 'cert.pem'), 'utf8'), readFile(path.join(dir, 'root-cert.pem'), 'utf8')]);
    await readFile(path.join(dir, 'key.pem'));
    if (root.trim() !== ca.rootCertPem.trim()) return false;
    const leaf = new X509Certificate(chain);
    if (Date.parse(leaf.validTo) - Date.now() < NODE_BOOTSTRAP_RENEW_BEFORE_MS) return false;
    // Node certificates carry two URIs, which pki's verifyChain (one SPIFFE ID) refuses; the
    // signature of the CA that signs now and the same-root check above are what matter here.
    return leaf.verify(new X509Certificate(ca.signingCertPem).publicKey);
  } catch {
    return false;
  }
}

async function writeAtomically(file: string, content: string, mode: number): Promise<void> {
  const temporary = `${file}.tmp-${process.pid}`;
  await writeFile(temporary, content, { mode });
  await rename(temporary, file);
}
