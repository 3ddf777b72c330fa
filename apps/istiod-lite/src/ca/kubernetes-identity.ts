/**
 * Who calls the CA and xDS, as istiod knows it on Kubernetes: the caller sends its projected
 * service-account token (audience `istio-ca`) as `authorization: Bearer <token>` gRPC metadata
 * (what Istio's ztunnel and istio-agent send), and istiod-lite asks the API server whether it is
 * valid with a TokenReview (authentication.k8s.io/v1, `spec.audiences: ["istio-ca"]`), as Istio's
 * `security/pkg/server/ca/authenticate/kubeauth` does.
 *
 * The authenticated user `system:serviceaccount:<ns>:<sa>` is the caller's identity
 * `spiffe://<td>/ns/<ns>/sa/<sa>`. A token bound to a pod (every projected token is) names the pod
 * in `status.user.extra` (`authentication.kubernetes.io/pod-name`, `pod-uid`) and, since
 * Kubernetes 1.32 (ServiceAccountTokenPodNodeInfo), its node (`…/node-name`); without the node
 * name the bound Pod is read and its `spec.nodeName` used (its UID must match: a pod re-created
 * under the same name is another pod).
 *
 * Results are cached briefly (TOKEN_REVIEW_CACHE_TTL_MS), keyed by the token's SHA-256, never past
 * the token's own `exp`, at most TOKEN_REVIEW_CACHE_MAX_ENTRIES; refusals are not cached.
 *
 * Errors (MeshError codes; `grpcStatusOfAuthError` maps them):
 *   ISTIOD_ERR_TOKEN_MISSING / _MALFORMED / _REJECTED / _NOT_SERVICE_ACCOUNT  → UNAUTHENTICATED
 *   ISTIOD_ERR_TOKEN_REVIEW_FAILED (the API server could not be asked, or refused us) → UNAVAILABLE
 */
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { HttpMethod, type KubeConfig } from '@kubernetes/client-node';
import { MeshError, hasCode, isMeshError } from '@mesh/errors';
import { spiffeUri } from '@mesh/pki';
import { kubeApiRequest } from '../config-source/kubernetes-config-source.js';
import { ZTUNNEL_NAMESPACE, ZTUNNEL_SERVICE_ACCOUNT } from './node-identity.js';

/** The audience Istio's proxies ask their projected token for, and istiod checks. */
export const ISTIO_CA_AUDIENCE = 'istio-ca';
/** Istio's CA_TRUSTED_NODE_ACCOUNTS default for ambient: ztunnel's service account. */
export const DEFAULT_TRUSTED_NODE_ACCOUNTS = [`${ZTUNNEL_NAMESPACE}/${ZTUNNEL_SERVICE_ACCOUNT}`];
export const TOKEN_REVIEW_CACHE_TTL_MS = 10_000;
export const TOKEN_REVIEW_CACHE_MAX_ENTRIES = 1_000;
export const TOKEN_REVIEW_PATH = '/apis/authentication.k8s.io/v1/tokenreviews';
const EXTRA_POD_NAME = 'authentication.kubernetes.io/pod-name';
const EXTRA_POD_UID = 'authentication.kubernetes.io/pod-uid';
const EXTRA_NODE_NAME = 'authentication.kubernetes.io/node-name';
const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([a-z0-9]([-a-z0-9]*[a-z0-9])?):([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;

/** A caller proven by a service-account token. */
export interface ServiceAccountCaller {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** spiffe://<td>/ns/<namespace>/sa/<serviceAccount> */
  readonly identity: string;
  /** The pod the token is bound to, if any. */
  readonly podName?: string;
  /** The node of that pod (or of a node-bound token), if known. */
  readonly nodeName?: string;
  /** Its service account is one of the trusted node accounts (a ztunnel): it may ask for the identities of pods on its node. */
  readonly nodeProxy: boolean;
}

/** What a TokenReview said of an accepted token (before the node is looked up). */
export interface ReviewedToken {
  readonly username: string;
  readonly extra: Readonly<Record<string, readonly string[]>>;
}

export interface KubernetesAuthenticatorOptions {
  kubeConfig: KubeConfig;
  trustDomain: string;
  /** `<namespace>/<service account>` of node proxies (ztunnel). Default DEFAULT_TRUSTED_NODE_ACCOUNTS. */
  trustedNodeAccounts?: readonly string[];
  audiences?: readonly string[];
  cacheTtlMs?: number;
  cacheMaxEntries?: number;
  now?: () => number;
}

/** The bearer token of a call, or undefined without an `authorization` header. Throws ISTIOD_ERR_TOKEN_MALFORMED. */
export function bearerTokenOf(metadata: grpc.Metadata | undefined): string | undefined {
  const values = metadata?.get('authorization') ?? [];
  if (values.length === 0) return undefined;
  const match = values.length === 1 && typeof values[0] === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(values[0]) : null;
  if (!match) throw new MeshError('ISTIOD_ERR_TOKEN_MALFORMED', 'the authorization header is not one "Bearer <token>"', { hint: 'send the projected service-account token as authorization: Bearer <token>' });
  return match[1]!;
}

/** The `exp` of a JWT (seconds → ms), read without checking it: only used to bound the cache. */
export function jwtExpiryMs(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** `ns/sa` and the caller's facts from an accepted review (pure). Throws ISTIOD_ERR_TOKEN_NOT_SERVICE_ACCOUNT. */
export function callerOfReview(review: ReviewedToken, trustDomain: string, trustedNodeAccounts: ReadonlySet<string>): ServiceAccountCaller {
  const match = SERVICE_ACCOUNT_USER.exec(review.username);
  if (!match) {
    throw new MeshError('ISTIOD_ERR_TOKEN_NOT_SERVICE_ACCOUNT', `the token is valid but its user ${review.username} is not a service account`, {
      hint: 'use a projected service-account token (serviceAccountToken volume, audience istio-ca)',
    });
  }
  const namespace = match[1]!;
  const serviceAccount = match[3]!;
  const one = (key: string) => {
    const values = review.extra[key];
    return values?.length === 1 && values[0] ? values[0] : undefined;
  };
  const podName = one(EXTRA_POD_NAME);
  const nodeName = one(EXTRA_NODE_NAME);
  return {
    namespace,
    serviceAccount,
    identity: spiffeUri({ trustDomain, namespace, serviceAccount }),
    ...(podName ? { podName } : {}),
    ...(nodeName ? { nodeName } : {}),
    nodeProxy: trustedNodeAccounts.has(`${namespace}/${serviceAccount}`),
  };
}

/** The gRPC status for an authentication failure (any other error: INTERNAL). */
export function grpcStatusOfAuthError(err: unknown): grpc.status {
  if (hasCode(err, 'ISTIOD_ERR_NOT_A_NODE', 'ISTIOD_ERR_NOT_A_WAYPOINT', 'ISTIOD_ERR_WAYPOINT_CREDENTIAL_STALE', 'ISTIOD_ERR_TOKEN_MISSING', 'ISTIOD_ERR_TOKEN_MALFORMED', 'ISTIOD_ERR_TOKEN_REJECTED', 'ISTIOD_ERR_TOKEN_NOT_SERVICE_ACCOUNT')) return grpc.status.UNAUTHENTICATED;
  if (hasCode(err, 'ISTIOD_ERR_TOKEN_REVIEW_FAILED')) return grpc.status.UNAVAILABLE;
  if (hasCode(err, 'ISTIOD_ERR_NODE_MISMATCH', 'ISTIOD_ERR_CALLER_NOT_ALLOWED')) return grpc.status.PERMISSION_DENIED;
  return grpc.status.INTERNAL;
}

interface CacheEntry {
  caller: ServiceAccountCaller;
  expiresAt: number;
}

/**
 * Verifies bearer tokens with TokenReviews (and reads a bound Pod when the review names no node).
 * Holds no timers or connections: nothing to close.
 */
export class KubernetesAuthenticator {
  readonly #options: KubernetesAuthenticatorOptions;
  readonly #trustedNodeAccounts: ReadonlySet<string>;
  readonly #audiences: readonly string[];
  readonly #cache = new Map<string, CacheEntry>();
  readonly #now: () => number;

  constructor(options: KubernetesAuthenticatorOptions) {
    this.#options = options;
    this.#trustedNodeAccounts = new Set(options.trustedNodeAccounts ?? DEFAULT_TRUSTED_NODE_ACCOUNTS);
    this.#audiences = options.audiences ?? [ISTIO_CA_AUDIENCE];
    this.#now = options.now ?? Date.now;
  }

  /** The caller a token proves. Rejects with the MeshError codes of the header comment. */
  async authenticate(token: string): Promise<ServiceAccountCaller> {
    const key = createHash('sha256').update(token).digest('hex');
    const now = this.#now();
    const cached = this.#cache.get(key);
    if (cached && cached.expiresAt > now) return cached.caller;
    if (cached) this.#cache.delete(key);
    const review = await this.#review(token);
    let caller = callerOfReview(review, this.#options.trustDomain, this.#trustedNodeAccounts);
    const podUid = review.extra[EXTRA_POD_UID]?.[0];
    if (caller.nodeProxy && caller.nodeName === undefined && caller.podName !== undefined) {
      const nodeName = await this.#nodeOfPod(caller.namespace, caller.podName, podUid);
      if (nodeName) caller = { ...caller, nodeName };
    }
    const expiry = jwtExpiryMs(token);
    // Never past the token's own expiry; a token without one is not cached.
    if (expiry !== undefined) {
      const expiresAt = Math.min(now + (this.#options.cacheTtlMs ?? TOKEN_REVIEW_CACHE_TTL_MS), expiry);
      if (expiresAt > now) {
        this.#cache.set(key, { caller, expiresAt });
        const max = this.#options.cacheMaxEntries ?? TOKEN_REVIEW_CACHE_MAX_ENTRIES;
        // Map keeps insertion order: the oldest entries go first.
        for (const oldest of this.#cache.keys()) {
          if (this.#cache.size <= max) break;
          this.#cache.delete(oldest);
        }
      }
    }
    return caller;
  }

  get cacheSize(): number {
    return this.#cache.size;
  }

  async #review(token: string): Promise<ReviewedToken> {
    const body = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: this.#audiences } };
    let response: Awaited<ReturnType<typeof kubeApiRequest>>;
    try {
      response = await kubeApiRequest(this.#options.kubeConfig, HttpMethod.POST, TOKEN_REVIEW_PATH, body);
    } catch (cause) {
      throw new MeshError('ISTIOD_ERR_TOKEN_REVIEW_FAILED', `cannot reach the API server for a TokenReview: ${String(cause)}`, { cause });
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      throw new MeshError('ISTIOD_ERR_TOKEN_REVIEW_FAILED', `TokenReview failed: HTTP ${response.status} ${text.slice(0, 300)}`, {
        hint: response.status === 403 ? "istiod-lite's ClusterRole needs create on tokenreviews (authentication.k8s.io)" : 'is the API server up?',
      });
    }
    const review = (await response.json()) as {
      status?: { authenticated?: boolean; error?: string; audiences?: string[]; user?: { username?: string; extra?: Record<string, string[]> } };
    };
    const status = review.status ?? {};
    if (!status.authenticated || !status.user?.username) {
      throw new MeshError('ISTIOD_ERR_TOKEN_REJECTED', `the API server did not accept the token: ${status.error || 'not authenticated'}`, {
        hint: `send a current projected service-account token with audience ${this.#audiences.join(', ')}`,
      });
    }
    // An API server that does not support audiences answers without them: refuse rather than trust an unchecked audience.
    if (!this.#audiences.some((audience) => status.audiences?.includes(audience))) {
      throw new MeshError('ISTIOD_ERR_TOKEN_REJECTED', `the token is not for audience ${this.#audiences.join(', ')} (the API server says ${JSON.stringify(status.audiences ?? [])})`);
    }
    return { username: status.user.username, extra: status.user.extra ?? {} };
  }

  /** spec.nodeName of the bound Pod, if it is still the pod the token was made for. */
  async #nodeOfPod(namespace: string, name: string, uid: string | undefined): Promise<string | undefined> {
    let response: Awaited<ReturnType<typeof kubeApiRequest>>;
    try {
      response = await kubeApiRequest(this.#options.kubeConfig, HttpMethod.GET, `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`);
    } catch (cause) {
      throw new MeshError('ISTIOD_ERR_TOKEN_REVIEW_FAILED', `cannot read the token's pod ${namespace}/${name}: ${String(cause)}`, { cause });
    }
    if (response.status === 404) return undefined;
    if (!response.ok) throw new MeshError('ISTIOD_ERR_TOKEN_REVIEW_FAILED', `cannot read the token's pod ${namespace}/${name}: HTTP ${response.status}`);
    const pod = (await response.json()) as { metadata?: { uid?: string }; spec?: { nodeName?: string } };
    if (uid !== undefined && pod.metadata?.uid !== uid) return undefined;
    return pod.spec?.nodeName || undefined;
  }
}

/** A message for a log line or a gRPC status detail. */
export function authErrorMessage(err: unknown): string {
  return isMeshError(err) ? err.message : String(err);
}
