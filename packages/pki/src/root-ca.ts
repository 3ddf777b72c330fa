import { createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasCode } from '@mesh/errors';
import { assertUri, RSA_KEY_BITS } from './csr.js';
import { pkiError } from './errors.js';
import type { ForgeCertificate, ForgeCsr } from './forge-x509.js';
import {
  certificateUris,
  csrRequestedUris,
  distinguishedName,
  forge,
  forgePublicKey,
  GENERAL_NAME_URI,
  isCaCertificate,
  nodeRsaSigner,
  parseCertificatePem,
  randomSerialNumber,
  sha256,
  signedBy,
  splitPemCertificates,
  subjectKeyIdentifierBytes,
  toPem,
  truncateToSeconds,
} from './forge-x509.js';
import { isValidTrustDomain, parseSpiffeUri, spiffeUri, trustDomainFromUri, trustDomainUri, DEFAULT_TRUST_DOMAIN } from './spiffe.js';
import type { SpiffeId } from './spiffe.js';

/** Istio's default workload certificate lifetime (`DEFAULT_WORKLOAD_CERT_TTL`, 24h). */
export const DEFAULT_WORKLOAD_CERT_TTL_MS = 24 * 3600_000;
/** Istio's self-signed root lives ten years (`DEFAULT_SELF_SIGNED_CA_CERT_TTL`). */
export const DEFAULT_ROOT_CERT_VALIDITY_MS = 10 * 365 * 24 * 3600_000;
export const DEFAULT_ROOT_COMMON_NAME = 'Mesh Root CA';
/**
 * Certificates start one minute in the past so that a peer whose clock is slightly behind the CA's
 * does not reject a certificate issued a moment ago as "not yet valid". Istio's CA does the same
 * (`security/pkg/pki/util/generate_cert.go`, `NotBefore: now.Add(-ClockSkewGracePeriod)`).
 */
export const CLOCK_SKEW_BACKDATE_MS = 60_000;
/**
 * RSA keys a CSR may carry: weaker ones are refused, and bigger moduli or exponents would let a
 * caller make the CA spend seconds to minutes of CPU verifying one signature (forge's big-integer
 * arithmetic), so they are refused before the signature is checked. Workload keys are 2048-bit
 * with exponent 65537 (Istio's default).
 */
export const MIN_CSR_RSA_BITS = 2048;
export const MAX_CSR_RSA_BITS = 4096;
const MAX_CSR_RSA_EXPONENT = 0xffffffff; // 32 bits
export const ROOT_CERT_FILE = 'root-cert.pem';
export const ROOT_KEY_FILE = 'root-key.pem';
const ROOT_KEY_FILE_MODE = 0o600;
const ROOT_CERT_FILE_MODE = 0o644;
const ROOT_DIR_MODE = 0o700;
/** Permission bits that let anyone but the owner read or write the key. */
const GROUP_OTHER_PERMISSION_BITS = 0o077;

export interface RootCaOptions {
  trustDomain?: string;
  validityMs?: number;
  commonName?: string;
}

/**
 * A certificate the CA issued. `chainPem` is the leaf followed by the CA's chain up to and
 * including the root (leaf, intermediates, root), ready for `tls` `cert`.
 */
export interface IssuedCert {
  certPem: string;
  chainPem: string;
  notBefore: Date;
  notAfter: Date;
  /** Lower-case hex. */
  serialNumber: string;
}

export interface WorkloadCertRequest {
  csrPem: string;
  identity: SpiffeId;
  ttlMs?: number;
  /** Exact start of validity; default: now minus CLOCK_SKEW_BACKDATE_MS. */
  notBefore?: Date;
}

export interface CertRequest {
  csrPem: string;
  uris: string[];
  commonName?: string;
  ttlMs?: number;
  notBefore?: Date;
}

/** Where a plugged-in CA comes from: the signing certificate's chain and the trust domain. */
interface CaChain {
  /** The root every proxy trusts (`root-cert.pem`). */
  readonly rootCertPem: string;
  /** CA certificates between a leaf and the root: the signing certificate first, the root excluded. */
  readonly intermediates: readonly string[];
  /** When given, the trust domain; otherwise read from the root (a spiffe://<td> URI SAN or O=). */
  readonly trustDomain?: string;
}

/**
 * The mesh's CA: a self-signed root that signs workload SVIDs directly, like Istio's self-signed
 * istiod CA (`create`, `load`); or a plugged-in CA as Istio's `cacerts` secret gives one
 * (`loadPluggedIn`): a root, or an intermediate with its chain up to the root.
 *
 * Leaves are issued as Istio issues them: an empty subject with a critical URI SAN (so no leaf
 * can carry its issuer's name and look self-issued), subject and authority key identifiers.
 *
 * Invariants: the signing certificate is a CA certificate whose public key matches
 * `#privateKey` and that chains to `rootCertPem`; the private key only leaves memory through
 * `save()`, to a 0600 file.
 */
export class RootCa {
  readonly trustDomain: string;
  /** The trust anchor proxies verify peers with (`root-cert.pem`). */
  readonly rootCertPem: string;
  /** The certificate that signs: the root itself, or the plugged-in intermediate. */
  readonly signingCertPem: string;
  /** What follows a leaf in its chain: intermediates from the signing certificate up, then the root (PEM). */
  readonly caChainPem: string;
  /** The same, one PEM per certificate (the CA service's `cert_chain` after the leaf). */
  readonly caChain: readonly string[];
  readonly notAfter: Date;
  readonly #cert: ForgeCertificate;
  readonly #privateKey: KeyObject;
  readonly #signer: forge.pki.rsa.PrivateKey;
  /** The signing certificate's subjectKeyIdentifier, copied into each leaf's authorityKeyIdentifier for path building. */
  readonly #keyIdentifier: string;

  private constructor(certPem: string, privateKey: KeyObject, source: string, chain?: CaChain) {
    const invalid = (message: string, cause?: unknown) =>
      pkiError('PKI_ERR_ROOT_INVALID', `CA from ${source}: ${message}`, {
        cause,
        context: { source },
        hint: chain
          ? 'ca-cert.pem, ca-key.pem, cert-chain.pem and root-cert.pem must be one CA: its key, its chain up to the root, and that root'
          : 'remove the root files to have a new root created, or restore the matching certificate and key',
      });
    let cert: ForgeCertificate;
    try {
      cert = parseCertificatePem(certPem);
    } catch (cause) {
      throw invalid('the certificate cannot be parsed', cause);
    }
    if (!isCaCertificate(cert)) throw invalid('the certificate is not a CA certificate (basicConstraints CA:TRUE missing)');
    if (privateKey.asymmetricKeyType !== 'rsa') throw invalid(`the key is ${privateKey.asymmetricKeyType}, only RSA is supported`);
    if (!new X509Certificate(certPem).checkPrivateKey(privateKey)) throw invalid('the private key does not belong to the certificate');
    const rootCertPem = toPem(chain?.rootCertPem ?? certPem);
    let root: ForgeCertificate;
    try {
      root = parseCertificatePem(rootCertPem);
    } catch (cause) {
      throw invalid('the root certificate cannot be parsed', cause);
    }
    if (!isCaCertificate(root) || !signedBy(root, root)) throw invalid('the root certificate is not a self-signed CA certificate');
    const intermediates = (chain?.intermediates ?? []).map(toPem);
    // The path must run from the signing certificate through the intermediates to the root.
    const path = [cert, ...intermediates.slice(1).map((pem) => parseCertificatePem(pem)), root];
    if (intermediates.length > 0 && toPem(intermediates[0] as string) !== toPem(certPem)) throw invalid('the chain does not start with the signing certificate');
    for (let i = 0; i + 1 < path.length; i++) {
      if (!signedBy(path[i] as ForgeCertificate, path[i + 1] as ForgeCertificate)) {
        throw invalid(`${distinguishedName((path[i] as ForgeCertificate).subject) || 'a certificate'} is not signed by ${distinguishedName((path[i + 1] as ForgeCertificate).subject) || 'the next one'}`);
      }
    }
    const trustDomain = chain?.trustDomain ?? trustDomainOfRoot(root);
    if (trustDomain === undefined) throw invalid('no trust domain (neither a spiffe://<td> URI SAN nor an O= attribute)');
    if (!isValidTrustDomain(trustDomain)) throw invalid(`invalid trust domain "${trustDomain}"`);
    this.trustDomain = trustDomain;
    this.signingCertPem = toPem(certPem);
    this.rootCertPem = rootCertPem;
    this.caChain = [...intermediates, rootCertPem];
    this.caChainPem = this.caChain.join('');
    this.notAfter = new Date(Math.min(...path.map((c) => c.validity.notAfter.getTime())));
    this.#cert = cert;
    this.#privateKey = privateKey;
    this.#signer = nodeRsaSigner(privateKey);
    this.#keyIdentifier = subjectKeyIdentifierBytes(cert);
  }

  /** A new self-signed root with a fresh RSA key. Synchronous: key generation takes ~50–200 ms. */
  static create(opts: RootCaOptions = {}): RootCa {
    const trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    if (!isValidTrustDomain(trustDomain)) {
      throw pkiError('PKI_ERR_INVALID_ARGUMENT', `invalid trust domain "${trustDomain}"`, {
        hint: 'a trust domain uses lower-case letters, digits, ".", "-" and "_"',
      });
    }
    const validityMs = assertPositiveDuration(opts.validityMs ?? DEFAULT_ROOT_CERT_VALIDITY_MS, 'validityMs');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: RSA_KEY_BITS });
    const cert = forge.pki.createCertificate();
    cert.publicKey = forgePublicKey(privateKey);
    cert.serialNumber = randomSerialNumber();
    const now = Date.now();
    cert.validity.notBefore = truncateToSeconds(new Date(now - CLOCK_SKEW_BACKDATE_MS));
    cert.validity.notAfter = truncateToSeconds(new Date(now + validityMs));
    const name = [
      { shortName: 'O', value: trustDomain },
      { shortName: 'CN', value: opts.commonName ?? DEFAULT_ROOT_COMMON_NAME },
    ];
    cert.setSubject(name);
    cert.setIssuer(name);
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
      // SPIFFE X.509-SVID §4.1: a signing certificate may carry its trust domain's ID.
      { name: 'subjectAltName', altNames: [{ type: GENERAL_NAME_URI, value: trustDomainUri(trustDomain) }] },
    ]);
    cert.sign(nodeRsaSigner(privateKey), sha256());
    return new RootCa(forge.pki.certificateToPem(cert), privateKey, 'a new self-signed root');
  }

  /**
   * Loads `dir/root-cert.pem` + `dir/root-key.pem`. Throws PKI_ERR_ROOT_NOT_FOUND when neither
   * exists, PKI_ERR_ROOT_INCOMPLETE when only one does, PKI_ERR_KEY_PERMISSIONS when the key is
   * readable by group or others, PKI_ERR_ROOT_INVALID when they cannot be used.
   */
  static load(dir: string): RootCa {
    const certPath = join(dir, ROOT_CERT_FILE);
    const keyPath = join(dir, ROOT_KEY_FILE);
    const certMode = fileMode(certPath);
    const keyMode = fileMode(keyPath);
    if (certMode === undefined && keyMode === undefined) {
      throw pkiError('PKI_ERR_ROOT_NOT_FOUND', `no root CA in ${dir} (expected ${ROOT_CERT_FILE} and ${ROOT_KEY_FILE})`, {
        context: { dir },
      });
    }
    if (certMode === undefined || keyMode === undefined) {
      const missing = certMode === undefined ? certPath : keyPath;
      throw pkiError('PKI_ERR_ROOT_INCOMPLETE', `root CA in ${dir} is incomplete: ${missing} is missing`, {
        context: { dir, missing },
        hint: 'restore the missing file; a new root is not created over half of an old one, since every issued certificate would stop verifying',
      });
    }
    assertKeyMode(keyPath, keyMode);
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(readFileSync(keyPath));
    } catch (cause) {
      throw pkiError('PKI_ERR_ROOT_INVALID', `cannot read root CA key ${keyPath}: ${(cause as Error).message}`, { cause, context: { path: keyPath } });
    }
    return new RootCa(readFileSync(certPath, 'utf8'), privateKey, dir);
  }

  /**
   * Loads a plugged-in CA from Istio's `cacerts` files in `dir`: `ca-cert.pem` (the signing
   * certificate: the root itself, or an intermediate), `ca-key.pem` (its key, 0600),
   * `cert-chain.pem` (the signing certificate's chain, starting with it) and `root-cert.pem`
   * (the root). The trust domain is the mesh's, not read from the certificates. Throws
   * PKI_ERR_ROOT_NOT_FOUND without ca-key.pem, PKI_ERR_ROOT_INCOMPLETE when a file is missing,
   * PKI_ERR_KEY_PERMISSIONS, PKI_ERR_ROOT_INVALID when they are not one CA.
   */
  static loadPluggedIn(dir: string, opts: { trustDomain: string }): RootCa {
    const files = Object.fromEntries(PLUGGED_IN_CA_FILES.map((name) => [name, join(dir, name)])) as Record<(typeof PLUGGED_IN_CA_FILES)[number], string>;
    const keyMode = fileMode(files['ca-key.pem']);
    if (keyMode === undefined) {
      throw pkiError('PKI_ERR_ROOT_NOT_FOUND', `no plugged-in CA in ${dir} (expected ${PLUGGED_IN_CA_FILES.join(', ')})`, { context: { dir } });
    }
    const missing = PLUGGED_IN_CA_FILES.filter((name) => fileMode(files[name]) === undefined);
    if (missing.length > 0) {
      throw pkiError('PKI_ERR_ROOT_INCOMPLETE', `plugged-in CA in ${dir} is incomplete: ${missing.join(', ')} missing`, {
        context: { dir, missing },
        hint: 'a plugged-in CA needs all four files, as Istio\'s cacerts secret holds them',
      });
    }
    assertKeyMode(files['ca-key.pem'], keyMode);
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(readFileSync(files['ca-key.pem']));
    } catch (cause) {
      throw pkiError('PKI_ERR_ROOT_INVALID', `cannot read CA key ${files['ca-key.pem']}: ${(cause as Error).message}`, { cause, context: { path: files['ca-key.pem'] } });
    }
    const certPem = readFileSync(files['ca-cert.pem'], 'utf8');
    const rootCertPem = readFileSync(files['root-cert.pem'], 'utf8');
    // cert-chain.pem runs from the signing certificate up; the root may or may not end it.
    const root = toPem(rootCertPem);
    const chain = splitPemCertificates(readFileSync(files['cert-chain.pem'], 'utf8')).map(toPem).filter((pem) => pem !== root);
    if (chain.length === 0 || chain[0] !== toPem(certPem)) chain.unshift(toPem(certPem));
    // A root plugged in as the CA itself has nothing between its leaves and itself.
    const intermediates = toPem(certPem) === root ? [] : chain;
    return new RootCa(certPem, privateKey, dir, { rootCertPem, intermediates, trustDomain: opts.trustDomain });
  }

  /** Loads the root from `dir`, or creates and saves one when `dir` holds none. */
  static loadOrCreate(dir: string, opts: RootCaOptions = {}): RootCa {
    try {
      return RootCa.load(dir);
    } catch (err) {
      if (!hasCode(err, 'PKI_ERR_ROOT_NOT_FOUND')) throw err;
    }
    const ca = RootCa.create(opts);
    ca.save(dir);
    return ca;
  }

  /**
   * Writes `dir/root-cert.pem` (0644) and `dir/root-key.pem` (0600), creating `dir` (0700). Each
   * file is written to a temporary name and renamed, so a crash never leaves a truncated key and
   * the key is never briefly readable under a looser mode.
   */
  save(dir: string): void {
    if (this.caChain.length > 1) {
      throw pkiError('PKI_ERR_INVALID_ARGUMENT', 'a plugged-in CA is not saved: its files are the operator\'s (cacerts)');
    }
    mkdirSync(dir, { recursive: true, mode: ROOT_DIR_MODE });
    writeFileAtomically(join(dir, ROOT_KEY_FILE), this.#privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), ROOT_KEY_FILE_MODE);
    writeFileAtomically(join(dir, ROOT_CERT_FILE), this.rootCertPem, ROOT_CERT_FILE_MODE);
  }

  /**
   * Issues an X.509-SVID for `identity` from a PEM CSR (see the package README for the checks).
   * The CSR's subject and any non-URI SANs it asks for are ignored: the CA alone decides names.
   */
  issueWorkloadCert(req: WorkloadCertRequest): IssuedCert {
    const uri = spiffeUri(req.identity);
    if (req.identity.trustDomain !== this.trustDomain) {
      throw trustDomainMismatch(this.trustDomain, uri);
    }
    const csr = verifiedCsr(req.csrPem);
    const requested = csrRequestedUris(csr);
    for (const requestedUri of requested) {
      if (requestedTrustDomain(requestedUri) !== this.trustDomain) throw trustDomainMismatch(this.trustDomain, requestedUri);
    }
    assertRequestedUrisMatch(requested, [uri]);
    return this.#issue(csr, [uri], undefined, req.ttlMs, req.notBefore);
  }

  /**
   * Issues a certificate with arbitrary URI SANs for principals that are not workloads (e.g. a
   * ztunnel's node bootstrap certificate). The CSR's signature is checked, and URIs it asks for
   * (if any) must be exactly `uris`.
   */
  issueCert(req: CertRequest): IssuedCert {
    for (const uri of req.uris) assertUri(uri);
    const csr = verifiedCsr(req.csrPem);
    assertRequestedUrisMatch(csrRequestedUris(csr), req.uris);
    return this.#issue(csr, req.uris, req.commonName, req.ttlMs, req.notBefore);
  }

  #issue(csr: ForgeCsr, uris: string[], commonName: string | undefined, ttlMs: number | undefined, notBefore: Date | undefined): IssuedCert {
    const ttl = assertPositiveDuration(ttlMs ?? DEFAULT_WORKLOAD_CERT_TTL_MS, 'ttlMs');
    const now = Date.now();
    const start = notBefore === undefined ? now - CLOCK_SKEW_BACKDATE_MS : notBefore.getTime();
    // A certificate cannot usefully outlive the root that vouches for it.
    const end = Math.min((notBefore?.getTime() ?? now) + ttl, this.notAfter.getTime());
    const cert = forge.pki.createCertificate();
    cert.publicKey = csr.publicKey as forge.pki.rsa.PublicKey;
    cert.serialNumber = randomSerialNumber();
    cert.validity.notBefore = truncateToSeconds(new Date(start));
    cert.validity.notAfter = truncateToSeconds(new Date(end));
    // Workload leaves have an empty subject, as Istio's do: a leaf whose subject equals its
    // issuer's (Istio's own root is `O=cluster.local`) is taken by OpenSSL for self-signed.
    // The names are in the SAN, critical because the subject is empty (RFC 5280 §4.2.1.6).
    // Principals that are not workloads (node bootstrap, istiod) keep a CN for operators.
    const subject = commonName === undefined ? [] : [{ shortName: 'CN', value: commonName }];
    cert.setSubject(subject);
    cert.setIssuer(this.#cert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      // An empty SAN extension is malformed (RFC 5280 §4.2.1.6: at least one name); OpenSSL 3.5
      // (Node 24) refuses to parse such a certificate, so a leaf without names has none.
      ...(uris.length === 0 ? [] : [{ name: 'subjectAltName', critical: subject.length === 0, altNames: uris.map((value) => ({ type: GENERAL_NAME_URI, value })) }]),
      { name: 'subjectKeyIdentifier' },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.#keyIdentifier },
    ]);
    cert.sign(this.#signer, sha256());
    const certPem = toPem(forge.pki.certificateToPem(cert));
    return {
      certPem,
      chainPem: certPem + this.caChainPem,
      notBefore: cert.validity.notBefore,
      notAfter: cert.validity.notAfter,
      serialNumber: cert.serialNumber,
    };
  }
}

/** Istio's plug-in CA files (the `cacerts` secret), see `RootCa.loadPluggedIn`. */
export const PLUGGED_IN_CA_FILES = ['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem'] as const;

function assertKeyMode(path: string, mode: number): void {
  if ((mode & GROUP_OTHER_PERMISSION_BITS) !== 0) {
    throw pkiError('PKI_ERR_KEY_PERMISSIONS', `CA key ${path} has mode ${formatMode(mode)}; it must not be accessible by group or others`, {
      context: { path, mode: formatMode(mode) },
      hint: `chmod 600 ${path}`,
    });
  }
}

function trustDomainOfRoot(cert: ForgeCertificate): string | undefined {
  for (const uri of certificateUris(cert)) {
    const trustDomain = trustDomainFromUri(uri);
    if (trustDomain !== undefined) return trustDomain;
  }
  const organisation = cert.subject.getField('O') as { value?: unknown } | null;
  return typeof organisation?.value === 'string' && isValidTrustDomain(organisation.value) ? organisation.value : undefined;
}

/**
 * The URI SANs a PEM CSR asks for, once its signature verified (PKI_ERR_BAD_CSR,
 * PKI_ERR_CSR_SIGNATURE otherwise). A CA uses it to authorize the request before issuing.
 */
export function requestedUrisOfCsr(csrPem: string): string[] {
  return csrRequestedUris(verifiedCsr(csrPem));
}

function verifiedCsr(csrPem: string): ForgeCsr {
  let csr: ForgeCsr;
  try {
    csr = forge.pki.certificationRequestFromPem(csrPem);
  } catch (cause) {
    throw pkiError('PKI_ERR_BAD_CSR', `cannot parse CSR: ${(cause as Error).message}`, {
      cause,
      hint: 'expected a PEM "CERTIFICATE REQUEST" (PKCS#10) for an RSA key',
    });
  }
  assertAcceptableKey(csr.publicKey as forge.pki.rsa.PublicKey | undefined);
  let valid = false;
  try {
    valid = csr.verify();
  } catch {
    // forge throws on a malformed signature block; that is just an invalid signature.
  }
  if (!valid) {
    throw pkiError('PKI_ERR_CSR_SIGNATURE', 'CSR signature does not verify against its public key', {
      hint: 'the CSR was altered or signed with another key; generate a new key and CSR',
    });
  }
  return csr;
}

function assertAcceptableKey(key: forge.pki.rsa.PublicKey | undefined): void {
  const bits = key?.n?.bitLength?.() ?? 0;
  if (bits < MIN_CSR_RSA_BITS || bits > MAX_CSR_RSA_BITS) {
    throw pkiError('PKI_ERR_CSR_KEY', `the CSR's RSA key is ${bits} bits; the CA signs keys of ${MIN_CSR_RSA_BITS} to ${MAX_CSR_RSA_BITS} bits`, {
      hint: `generate a ${MIN_CSR_RSA_BITS}-bit RSA key`,
    });
  }
  const exponent = key?.e;
  // Odd, at least 3 (two or more bits), at most 32 bits.
  if (!exponent || exponent.bitLength() > 32 || exponent.bitLength() < 2 || !exponent.testBit(0)) {
    throw pkiError('PKI_ERR_CSR_KEY', `the CSR's RSA public exponent is not an odd number from 3 to ${MAX_CSR_RSA_EXPONENT}`, { hint: 'use the usual exponent 65537' });
  }
}

function requestedTrustDomain(uri: string): string | undefined {
  try {
    return parseSpiffeUri(uri).trustDomain;
  } catch {
    return undefined;
  }
}

function trustDomainMismatch(caTrustDomain: string, uri: string): Error {
  return pkiError('PKI_ERR_TRUST_DOMAIN_MISMATCH', `${uri} is not in this CA's trust domain ${caTrustDomain}`, {
    context: { trustDomain: caTrustDomain, requested: uri },
  });
}

function assertRequestedUrisMatch(requested: string[], granted: string[]): void {
  if (requested.length === 0) return;
  const same = requested.length === granted.length && requested.every((uri) => granted.includes(uri));
  if (!same) {
    throw pkiError('PKI_ERR_CSR_IDENTITY_MISMATCH', `CSR asks for ${requested.join(', ')} but the caller is ${granted.join(', ')}`, {
      context: { requested, granted },
      hint: 'a workload may only obtain a certificate for its own identity',
    });
  }
}

function assertPositiveDuration(ms: number, name: string): number {
  if (!Number.isFinite(ms) || ms <= 0) {
    throw pkiError('PKI_ERR_INVALID_ARGUMENT', `${name} must be a positive number of milliseconds, got ${ms}`);
  }
  return ms;
}

function fileMode(path: string): number | undefined {
  try {
    return statSync(path).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function formatMode(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

function writeFileAtomically(path: string, data: string, mode: number): void {
  const temporaryPath = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(temporaryPath, data, { mode, flag: 'wx' });
    chmodSync(temporaryPath, mode); // the umask may have removed bits we want, e.g. 0644 under umask 077
    renameSync(temporaryPath, path);
  } catch (err) {
    rmSync(temporaryPath, { force: true });
    throw err;
  }
}
