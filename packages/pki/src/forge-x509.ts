/**
 * Internal glue between node-forge (certificate and CSR encoding) and Node's crypto (keys and
 * signing). Not exported from the package.
 *
 * Why the split: forge's pure-JS RSA is slow (key generation takes seconds, a 2048-bit private-key
 * operation milliseconds), while OpenSSL through `node:crypto` is fast. So keys are generated and
 * used by Node, and forge only builds and parses the ASN.1.
 */
import { constants, createPublicKey, privateEncrypt, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { pkiError } from './errors.js';

export type ForgeCertificate = forge.pki.Certificate;
export type ForgeCsr = forge.pki.CertificateSigningRequest;

/** GeneralName tag for uniformResourceIdentifier (RFC 5280 §4.2.1.6). */
export const GENERAL_NAME_URI = 6;

/** DER prefix of a SHA-256 DigestInfo (RFC 8017 §9.2, note 1); the digest follows it. */
const SHA256_DIGEST_INFO_PREFIX = Buffer.from('3031300d060960864801650304020105000420', 'hex');
/** 128-bit serial numbers: RFC 5280 allows up to 20 octets; CA/B forum asks for ≥64 random bits. */
const SERIAL_NUMBER_BYTES = 16;

/**
 * A forge-compatible "private key" whose `sign(md)` runs in OpenSSL: forge's `cert.sign(key, md)`
 * and `csr.sign(key, md)` only call `key.sign(md)` with the finished digest. PKCS#1 v1.5 signing is
 * RSA-with-type-1-padding over the DigestInfo, which is exactly `privateEncrypt` with PKCS1 padding.
 */
export function nodeRsaSigner(privateKey: KeyObject): forge.pki.rsa.PrivateKey {
  const signer = {
    sign(md: forge.md.MessageDigest): string {
      if (md.algorithm !== 'sha256') throw new Error(`unsupported digest ${md.algorithm}`);
      const digest = Buffer.from(md.digest().getBytes(), 'binary');
      const digestInfo = Buffer.concat([SHA256_DIGEST_INFO_PREFIX, digest]);
      return privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, digestInfo).toString('binary');
    },
  };
  return signer as unknown as forge.pki.rsa.PrivateKey;
}

export function sha256(): forge.md.MessageDigest {
  return forge.md.sha256.create();
}

export function forgePublicKey(key: KeyObject): forge.pki.rsa.PublicKey {
  const spkiPem = createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
  return forge.pki.publicKeyFromPem(spkiPem) as forge.pki.rsa.PublicKey;
}

/** A random, positive, minimally DER-encoded 128-bit serial number in lower-case hex. */
export function randomSerialNumber(): string {
  const bytes = randomBytes(SERIAL_NUMBER_BYTES);
  // Clear the sign bit so the INTEGER is positive, and keep the first octet non-zero so the
  // encoding stays minimal: OpenSSL rejects INTEGERs with a redundant leading zero octet.
  bytes[0] = (bytes[0]! & 0x7f) || 0x01;
  return bytes.toString('hex');
}

/** X.509 times have one-second resolution; dates are truncated so what we report is what is encoded. */
export function truncateToSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

interface ForgeExtension {
  name?: string;
  id?: string;
  critical?: boolean;
  altNames?: { type: number; value: string }[];
  subjectKeyIdentifier?: string;
  cA?: boolean;
  extensions?: ForgeExtension[];
}

/** URI SANs of a parsed certificate, in order. */
export function certificateUris(cert: ForgeCertificate): string[] {
  const san = cert.getExtension('subjectAltName') as ForgeExtension | null;
  return urisOf(san?.altNames);
}

function urisOf(altNames: ForgeExtension['altNames']): string[] {
  return (altNames ?? []).filter((name) => name.type === GENERAL_NAME_URI).map((name) => name.value);
}

/** URI SANs a CSR asks for through its PKCS#9 extensionRequest attribute (RFC 2986, RFC 2985 §5.4.2). */
export function csrRequestedUris(csr: ForgeCsr): string[] {
  const request = csr.getAttribute({ name: 'extensionRequest' }) as { extensions?: ForgeExtension[] } | null;
  const san = request?.extensions?.find((ext) => ext.name === 'subjectAltName');
  return urisOf(san?.altNames);
}

/** The certificate's subjectKeyIdentifier as raw bytes, computing the RFC 5280 §4.2.1.2 method-1 value if absent. */
export function subjectKeyIdentifierBytes(cert: ForgeCertificate): string {
  const ski = cert.getExtension('subjectKeyIdentifier') as ForgeExtension | null;
  if (ski?.subjectKeyIdentifier) return forge.util.hexToBytes(ski.subjectKeyIdentifier);
  return cert.generateSubjectKeyIdentifier().getBytes();
}

/** True when `issuer` signed `child` (forge checks the issuer name first and throws on a mismatch). */
export function signedBy(child: ForgeCertificate, issuer: ForgeCertificate): boolean {
  try {
    return issuer.verify(child);
  } catch {
    return false;
  }
}

export function isCaCertificate(cert: ForgeCertificate): boolean {
  const constraints = cert.getExtension('basicConstraints') as ForgeExtension | null;
  return constraints?.cA === true;
}

/** `O=cluster.local, CN=Mesh Root CA`: attributes in encoded order, short names where forge knows them. */
export function distinguishedName(name: forge.pki.Certificate['subject']): string {
  return name.attributes.map((attr) => `${attr.shortName ?? attr.name ?? attr.type}=${String(attr.value)}`).join(', ');
}

export function parseCertificatePem(pem: string): ForgeCertificate {
  try {
    return forge.pki.certificateFromPem(pem);
  } catch (cause) {
    throw pkiError('PKI_ERR_BAD_CERTIFICATE', `cannot parse certificate: ${(cause as Error).message}`, {
      cause,
      hint: 'expected a PEM "CERTIFICATE" block with an RSA public key',
    });
  }
}

/** All CERTIFICATE blocks of a PEM bundle, in order. */
export function splitPemCertificates(bundle: string): string[] {
  let blocks: forge.pem.ObjectPEM[];
  try {
    blocks = forge.pem.decode(bundle);
  } catch (cause) {
    throw pkiError('PKI_ERR_BAD_CERTIFICATE', `cannot decode PEM: ${(cause as Error).message}`, { cause });
  }
  return blocks.filter((block) => block.type === 'CERTIFICATE').map((block) => forge.pem.encode(block, { maxline: 64 }));
}

export { forge };

/** forge writes CRLF line endings; files and chains use LF like OpenSSL. Ends with one newline. */
export function toPem(pem: string): string {
  return `${pem.replace(/\r\n/g, '\n').trimEnd()}\n`;
}
