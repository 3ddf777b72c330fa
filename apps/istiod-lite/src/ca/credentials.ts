/**
 * Credentials istiod-lite creates in its state directory:
 *   <state-dir>/root-cert.pem, root-key.pem (0600)      the mesh root CA (pki RootCa), unless a
 *                                                       plugged-in CA is given (below)
 *   <state-dir>/nodes/<node>/{cert.pem,key.pem,root-cert.pem}   node bootstrap credentials
 *   <state-dir>/waypoints/<ns>/<gateway>/{cert.pem,key.pem,root-cert.pem}   waypoint credentials
 *                                                       (directory mode; waypoint-identity.ts)
 * and, in memory only, its own serving certificate for port 15012
 * (URI SAN spiffe://<td>/ns/istio-system/sa/istiod; clients check that SAN, not a hostname).
 *
 * A plugged-in CA (Istio's `cacerts`: ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem in
 * --cacerts-dir, or <state-dir>/cacerts) signs instead of the self-signed root; every certificate
 * is served with the CA's chain, and root-cert.pem is that CA's root.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RootCa, generateKeyAndCsr, spiffeUri } from '@mesh/pki';
import type { Logger } from '../log.js';
import { ISTIOD_SERVICE_ACCOUNT, ZTUNNEL_NAMESPACE, nodeBootstrapUris } from './node-identity.js';
import { waypointKey, waypointUri, type WaypointRef } from './waypoint-identity.js';

export const NODE_BOOTSTRAP_CERT_TTL_MS = 365 * 24 * 3600_000;
/** A node or waypoint credential closer than this to expiry is re-issued at start. */
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

const WAYPOINTS_SUBDIR = 'waypoints';

export function waypointCredentialDir(stateDir: string, ref: WaypointRef): string {
  return path.join(stateDir, WAYPOINTS_SUBDIR, ref.namespace, ref.gateway);
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
  const notAfter = await issueCredential(ca, dir, nodeBootstrapUris(ca.trustDomain, nodeName), `ztunnel.${nodeName}`);
  logger.info('node bootstrap credential issued', { node: nodeName, dir, notAfter });
}

/**
 * Writes a fresh key and a certificate for `uris` (1 year) into `dir`, the layout and file modes
 * of every credential istiod-lite hands out: the directory 0700, key.pem 0600, cert.pem (leaf +
 * CA chain) and root-cert.pem 0644, each written atomically. Returns the certificate's notAfter.
 */
async function issueCredential(ca: RootCa, dir: string, uris: string[], commonName: string): Promise<string> {
  const { keyPem, csrPem } = await generateKeyAndCsr({ uris });
  const issued = ca.issueCert({ csrPem, uris, commonName, ttlMs: NODE_BOOTSTRAP_CERT_TTL_MS });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomically(path.join(dir, 'key.pem'), keyPem, 0o600);
  await writeAtomically(path.join(dir, 'cert.pem'), issued.chainPem, 0o644);
  await writeAtomically(path.join(dir, 'root-cert.pem'), ca.rootCertPem, 0o644);
  return issued.notAfter.toISOString();
}

/**
 * The waypoint credentials of the state dir (directory mode): one per `istio-waypoint` Gateway,
 * issued when the Gateway appears (and at start for existing ones), kept while it exists and is
 * usable, and **deleted with the Gateway**, so a Gateway deleted and made again gets a new one.
 * It also remembers the certificate each Gateway holds now (`isCurrent`): a copy of an older one
 * (kept by a waypoint of the deleted Gateway) is refused, although it still chains to the root.
 * `ensure` calls run one after another, so two snapshots never issue the same Gateway twice at once.
 */
export class WaypointCredentials {
  readonly #ca: RootCa;
  readonly #stateDir: string;
  readonly #logger: Logger;
  /** ns/gateway → SHA-256 fingerprint (`AB:CD:…`, as TLS reports it) of the leaf on disk. */
  readonly #current = new Map<string, string>();
  #queue: Promise<void> = Promise.resolve();

  constructor(ca: RootCa, stateDir: string, logger: Logger) {
    this.#ca = ca;
    this.#stateDir = stateDir;
    this.#logger = logger;
  }

  /** Issues what `gateways` lack, removes the credentials of Gateways no longer there. */
  ensure(gateways: Iterable<WaypointRef>): Promise<void> {
    const wanted = [...gateways];
    const run = this.#queue.then(() => this.#ensure(wanted));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Is `fingerprint256` the certificate the Gateway's credential holds now? */
  isCurrent(ref: WaypointRef, fingerprint256: string | undefined): boolean {
    return fingerprint256 !== undefined && this.#current.get(waypointKey(ref)) === fingerprint256;
  }

  async #ensure(gateways: WaypointRef[]): Promise<void> {
    const wanted = new Map(gateways.map((ref) => [waypointKey(ref), ref]));
    await Promise.all([...wanted.values()].map((ref) => this.#ensureOne(ref)));
    for (const ref of await this.#onDisk()) {
      const key = waypointKey(ref);
      if (wanted.has(key)) continue;
      this.#current.delete(key);
      const dir = waypointCredentialDir(this.#stateDir, ref);
      await rm(dir, { recursive: true, force: true });
      this.#logger.info('waypoint credential removed: its Gateway is gone', { gateway: key, dir });
    }
    for (const key of [...this.#current.keys()]) if (!wanted.has(key)) this.#current.delete(key);
  }

  async #ensureOne(ref: WaypointRef): Promise<void> {
    const dir = waypointCredentialDir(this.#stateDir, ref);
    if (!(await isUsable(dir, this.#ca))) {
      const notAfter = await issueCredential(this.#ca, dir, [waypointUri(this.#ca.trustDomain, ref)], `waypoint.${ref.gateway}.${ref.namespace}`);
      this.#logger.info('waypoint credential issued', { gateway: waypointKey(ref), dir, notAfter });
    }
    this.#current.set(waypointKey(ref), new X509Certificate(await readFile(path.join(dir, 'cert.pem'))).fingerprint256);
  }

  /** The `<ns>/<gateway>` directories under `<state-dir>/waypoints`. */
  async #onDisk(): Promise<WaypointRef[]> {
    const root = path.join(this.#stateDir, WAYPOINTS_SUBDIR);
    const namespaces = await readdir(root).catch(() => [] as string[]);
    const refs = await Promise.all(namespaces.map(async (namespace) => (await readdir(path.join(root, namespace)).catch(() => [] as string[])).map((gateway) => ({ namespace, gateway }))));
    return refs.flat();
  }
}

async function isUsable(dir: string, ca: RootCa): Promise<boolean> {
  try {
    const [chain, root] = await Promise.all([readFile(path.join(dir, 'cert.pem'), 'utf8'), readFile(path.join(dir, 'root-cert.pem'), 'utf8')]);
    await readFile(path.join(dir, 'key.pem'));
    if (root.trim() !== ca.rootCertPem.trim()) return false;
    const leaf = new X509Certificate(chain);
    if (Date.parse(leaf.validTo) - Date.now() < NODE_BOOTSTRAP_RENEW_BEFORE_MS) return false;
    // Node and waypoint certificates are no workload SPIFFE IDs, which pki's verifyChain refuses; the
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
