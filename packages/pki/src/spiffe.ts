import { pkiError } from './errors.js';

/** Istio's default trust domain; `spiffe://cluster.local/ns/<ns>/sa/<sa>`. */
export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

/** A workload identity as Istio spells it: the Kubernetes service account of a namespace in a trust domain. */
export interface SpiffeId {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

const SPIFFE_SCHEME_PREFIX = 'spiffe://';
/** SPIFFE-ID spec §2.1: a trust domain is lowercase letters, digits, dots, dashes and underscores. */
const TRUST_DOMAIN_PATTERN = /^[a-z0-9._-]+$/;
/** SPIFFE-ID spec §2.2: path segments use letters, digits, dots, dashes and underscores. */
const PATH_SEGMENT_PATTERN = /^[A-Za-z0-9._-]+$/;
/** SPIFFE-ID spec §2.1: trust domains are at most 255 bytes. */
const MAX_TRUST_DOMAIN_LENGTH = 255;
/** SPIFFE-ID spec §2.3: a SPIFFE ID is at most 2048 bytes. */
const MAX_SPIFFE_URI_LENGTH = 2048;

/** True when `trustDomain` is a valid SPIFFE trust domain name. */
export function isValidTrustDomain(trustDomain: string): boolean {
  return trustDomain.length <= MAX_TRUST_DOMAIN_LENGTH && TRUST_DOMAIN_PATTERN.test(trustDomain);
}

function isValidPathSegment(segment: string): boolean {
  // '.' and '..' are forbidden so that an ID can never be normalised into another one.
  return PATH_SEGMENT_PATTERN.test(segment) && segment !== '.' && segment !== '..';
}

function badSpiffeId(message: string, value: unknown): Error {
  return pkiError('PKI_ERR_BAD_SPIFFE_ID', message, {
    context: { value },
    hint: 'workload identities look like spiffe://<trust domain>/ns/<namespace>/sa/<service account>',
  });
}

/** Renders `spiffe://<td>/ns/<ns>/sa/<sa>`; throws PKI_ERR_BAD_SPIFFE_ID when a component is invalid. */
export function spiffeUri(id: SpiffeId): string {
  if (!isValidTrustDomain(id.trustDomain)) {
    throw badSpiffeId(`invalid SPIFFE trust domain "${id.trustDomain}"`, id);
  }
  if (!isValidPathSegment(id.namespace) || !isValidPathSegment(id.serviceAccount)) {
    throw badSpiffeId(`invalid namespace "${id.namespace}" or service account "${id.serviceAccount}" for a SPIFFE ID`, id);
  }
  return `${SPIFFE_SCHEME_PREFIX}${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/**
 * Parses an Istio workload SPIFFE ID. Parsed by hand rather than with `URL`, which would silently
 * normalise (lower-case, resolve dot segments, drop default ports) and so accept IDs the spec forbids.
 */
export function parseSpiffeUri(uri: string): SpiffeId {
  if (typeof uri !== 'string' || !uri.startsWith(SPIFFE_SCHEME_PREFIX) || uri.length > MAX_SPIFFE_URI_LENGTH) {
    throw badSpiffeId(`"${String(uri)}" is not a SPIFFE ID`, uri);
  }
  const [trustDomain = '', ...path] = uri.slice(SPIFFE_SCHEME_PREFIX.length).split('/');
  if (!isValidTrustDomain(trustDomain)) {
    throw badSpiffeId(`"${uri}" has an invalid trust domain "${trustDomain}"`, uri);
  }
  const [nsLiteral, namespace = '', saLiteral, serviceAccount = ''] = path;
  if (path.length !== 4 || nsLiteral !== 'ns' || saLiteral !== 'sa' || !isValidPathSegment(namespace) || !isValidPathSegment(serviceAccount)) {
    throw badSpiffeId(`"${uri}" is not a workload SPIFFE ID of the form spiffe://<td>/ns/<ns>/sa/<sa>`, uri);
  }
  return { trustDomain, namespace, serviceAccount };
}

/** The SPIFFE ID of a trust domain itself (`spiffe://cluster.local`), carried by the root certificate. */
export function trustDomainUri(trustDomain: string): string {
  return `${SPIFFE_SCHEME_PREFIX}${trustDomain}`;
}

/** Inverse of trustDomainUri; undefined when `uri` is not a bare trust-domain ID. */
export function trustDomainFromUri(uri: string): string | undefined {
  if (!uri.startsWith(SPIFFE_SCHEME_PREFIX)) return undefined;
  const rest = uri.slice(SPIFFE_SCHEME_PREFIX.length);
  return isValidTrustDomain(rest) ? rest : undefined;
}

export function sameSpiffeId(a: SpiffeId, b: SpiffeId): boolean {
  return a.trustDomain === b.trustDomain && a.namespace === b.namespace && a.serviceAccount === b.serviceAccount;
}
