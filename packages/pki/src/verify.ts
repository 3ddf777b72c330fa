import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { pkiError } from './errors.js';
import type { ForgeCertificate } from './forge-x509.js';
import { certificateUris, distinguishedName, isCaCertificate, parseCertificatePem, signedBy, splitPemCertificates } from './forge-x509.js';
import { parseSpiffeUri, sameSpiffeId, spiffeUri, trustDomainFromUri } from './spiffe.js';
import type { SpiffeId } from './spiffe.js';

/** What operators and meshctl show about a certificate. */
export interface CertificateInfo {
  /** Lower-case hex. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  uris: string[];
  /** `O=cluster.local, CN=Mesh Root CA` */
  issuer: string;
  subject: string;
}

/** Longest chain accepted (leaf + intermediates); a plugged-in CA adds its intermediates. */
const MAX_CHAIN_LENGTH = 8;

export function certificateInfo(certPem: string): CertificateInfo {
  const cert = parseCertificatePem(certPem);
  return {
    serialNumber: cert.serialNumber,
    notBefore: cert.validity.notBefore,
    notAfter: cert.validity.notAfter,
    uris: certificateUris(cert),
    issuer: distinguishedName(cert.issuer),
    subject: distinguishedName(cert.subject),
  };
}

/**
 * Parses Node's `subjectAltName` string (`URI:spiffe://…, DNS:a.b`). Node ≥ 17.3.1 JSON-quotes a
 * value that contains characters which would make this ambiguous (`URI:"a, b"`), so quoted values
 * are decoded with JSON.parse and a plain split on ", " is not enough.
 */
export function subjectAltNameUris(subjectAltName: string | undefined): string[] {
  const uris: string[] = [];
  let rest = subjectAltName ?? '';
  while (rest.length > 0) {
    const colon = rest.indexOf(':');
    if (colon < 0) break;
    const type = rest.slice(0, colon);
    rest = rest.slice(colon + 1);
    let value: string;
    if (rest.startsWith('"')) {
      const quoted = /^"(?:[^"\\]|\\.)*"/.exec(rest)?.[0];
      if (quoted === undefined) break;
      value = JSON.parse(quoted) as string;
      rest = rest.slice(quoted.length);
    } else {
      const end = rest.indexOf(', ');
      value = end < 0 ? rest : rest.slice(0, end);
      rest = end < 0 ? '' : rest.slice(end);
    }
    if (type === 'URI') uris.push(value);
    rest = rest.startsWith(', ') ? rest.slice(2) : rest;
  }
  return uris;
}

/** The one workload SPIFFE ID among `uris`; SPIFFE X.509-SVID §2 requires exactly one URI SAN. */
function identityFromUris(uris: string[]): SpiffeId {
  if (uris.length !== 1) {
    throw pkiError('PKI_ERR_BAD_SPIFFE_ID', `a SPIFFE certificate has exactly one URI SAN, this one has ${uris.length}`, {
      context: { uris },
    });
  }
  return parseSpiffeUri(uris[0]!);
}

/**
 * The SPIFFE ID in a certificate's URI SAN. A Node `X509Certificate` (e.g. from
 * `tlsSocket.getPeerX509Certificate()`) is read through OpenSSL's `subjectAltName`, which is fast and
 * works for any key type. Throws PKI_ERR_BAD_SPIFFE_ID when there is not exactly one workload SPIFFE
 * URI, PKI_ERR_BAD_CERTIFICATE when the PEM cannot be parsed.
 */
export function identityFromCertificate(cert: string | X509Certificate): SpiffeId {
  if (typeof cert !== 'string') return identityFromUris(subjectAltNameUris(cert.subjectAltName));
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (cause) {
    throw pkiError('PKI_ERR_BAD_CERTIFICATE', `cannot parse certificate: ${(cause as Error).message}`, { cause });
  }
  return identityFromUris(subjectAltNameUris(x509.subjectAltName));
}

/** Parses the trusted root once per distinct PEM: every verification against the mesh root reuses it. */
let cachedRoot: { pem: string; cert: ForgeCertificate } | undefined;
function parseRoot(rootPem: string): ForgeCertificate {
  if (cachedRoot?.pem !== rootPem) cachedRoot = { pem: rootPem, cert: parseCertificatePem(rootPem) };
  return cachedRoot.cert;
}

function assertValidAt(cert: ForgeCertificate, at: Date, role: string): void {
  const subject = distinguishedName(cert.subject);
  if (at.getTime() > cert.validity.notAfter.getTime()) {
    throw pkiError('PKI_ERR_CERT_EXPIRED', `${role} certificate (${subject}) expired at ${cert.validity.notAfter.toISOString()}`, {
      context: { subject, notAfter: cert.validity.notAfter.toISOString(), at: at.toISOString() },
      hint: 'the certificate was not renewed in time; check the certificate manager and the clocks',
    });
  }
  if (at.getTime() < cert.validity.notBefore.getTime()) {
    throw pkiError('PKI_ERR_CERT_NOT_YET_VALID', `${role} certificate (${subject}) is not valid before ${cert.validity.notBefore.toISOString()}`, {
      context: { subject, notBefore: cert.validity.notBefore.toISOString(), at: at.toISOString() },
      hint: 'the clocks of the CA and this host disagree; check NTP',
    });
  }
}

function untrusted(message: string, context: Record<string, unknown>): Error {
  return pkiError('PKI_ERR_CHAIN_UNTRUSTED', message, {
    context,
    hint: 'the peer was issued by another mesh root; check that both sides use the same root-cert.pem',
  });
}

/**
 * Verifies that the first certificate of `chainPem` chains, through the CA certificates that follow
 * it, to `rootPem`, that every certificate on the path is valid at `at`, and that the leaf names a
 * workload in the root's trust domain. Returns the leaf's SPIFFE ID.
 */
export function verifyChain(chainPem: string, rootPem: string, at: Date = new Date()): SpiffeId {
  const root = parseRoot(rootPem);
  const chain = splitPemCertificates(chainPem).map(parseCertificatePem);
  const leaf = chain[0];
  if (leaf === undefined) throw pkiError('PKI_ERR_BAD_CERTIFICATE', 'the chain holds no certificate');
  // Workload leaves have an empty subject: name them by their SAN.
  const leafSubject = distinguishedName(leaf.subject) || certificateUris(leaf)[0] || 'a certificate without names';

  const path: ForgeCertificate[] = [leaf];
  let current = leaf;
  while (!signedBy(current, root)) {
    if (path.length >= MAX_CHAIN_LENGTH) throw untrusted(`chain of ${leafSubject} is longer than ${MAX_CHAIN_LENGTH}`, { subject: leafSubject });
    const issuer = chain.find((candidate) => candidate !== current && !path.includes(candidate) && isCaCertificate(candidate) && signedBy(current, candidate));
    if (issuer === undefined) {
      throw untrusted(`certificate ${leafSubject} (issuer ${distinguishedName(current.issuer)}) does not chain to the trusted root ${distinguishedName(root.subject)}`, {
        subject: leafSubject,
        issuer: distinguishedName(current.issuer),
        root: distinguishedName(root.subject),
      });
    }
    path.push(issuer);
    current = issuer;
  }
  path.forEach((cert, index) => assertValidAt(cert, at, index === 0 ? 'leaf' : 'intermediate'));
  assertValidAt(root, at, 'root');

  const identity = identityFromUris(certificateUris(leaf));
  const rootTrustDomain = certificateUris(root).map(trustDomainFromUri).find((td) => td !== undefined);
  if (rootTrustDomain !== undefined && identity.trustDomain !== rootTrustDomain) {
    throw pkiError('PKI_ERR_TRUST_DOMAIN_MISMATCH', `${leafSubject} is in trust domain ${identity.trustDomain}, the root serves ${rootTrustDomain}`, {
      context: { identity, rootTrustDomain },
    });
  }
  return identity;
}

/**
 * A `checkServerIdentity` for `tls.connect` that accepts the server when its certificate names one of
 * `expected`. Mesh peers are addressed by pod IP and have no DNS name to check; what matters is
 * who they are (Istio checks the destination's SPIFFE ID the same way). Chain trust is still
 * checked by `tls` itself through the `ca` option.
 */
export function spiffeServerIdentityCheck(expected: readonly SpiffeId[]): (hostname: string, cert: PeerCertificate) => Error | undefined {
  return (hostname, cert) => {
    let actual: SpiffeId;
    try {
      actual = identityFromUris(subjectAltNameUris(cert.subjectaltname));
    } catch (err) {
      return err as Error;
    }
    if (expected.some((id) => sameSpiffeId(id, actual))) return undefined;
    return pkiError('PKI_ERR_PEER_IDENTITY_MISMATCH', `server ${hostname} is ${spiffeUri(actual)}, expected ${expected.map(spiffeUri).join(' or ')}`, {
      context: { hostname, actual: spiffeUri(actual), expected: expected.map(spiffeUri) },
      hint: 'the destination runs under another service account than the control plane announced',
    });
  };
}
