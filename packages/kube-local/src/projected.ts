/**
 * What a kubelet's volumes put in a pod's files, for pods that are processes rather than
 * containers: a projected `serviceAccountToken` (a TokenRequest bound to the pod, written to a
 * file and rotated as the kubelet's token manager does, once 80% of its lifetime has passed:
 * https://kubernetes.io/docs/concepts/storage/projected-volumes/#serviceaccounttoken) and a
 * ConfigMap key (a `configMap` volume; written once, not followed).
 *
 * Invariants: a token file is replaced atomically (write + rename, 0600), so a reader never sees
 * half a token; a failed renewal keeps the current token and retries after RENEW_RETRY_MS;
 * `close()` stops renewing (the file stays) and is idempotent.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { MeshError } from '@mesh/errors';
import { pollUntil } from './wait.js';

/** The kubelet renews a projected token once this fraction of its lifetime has passed. */
export const TOKEN_RENEW_FRACTION = 0.8;
/** A projected volume's default `expirationSeconds` (the API's minimum is 600). */
export const DEFAULT_TOKEN_EXPIRATION_SECONDS = 3600;
const RENEW_RETRY_MS = 5_000;

/** When to renew a token issued at `issuedAtMs` that expires at `expiresAtMs`: after 80% of its lifetime (ms from issue). */
export function tokenRenewDelayMs(issuedAtMs: number, expiresAtMs: number): number {
  return Math.max(0, Math.floor((expiresAtMs - issuedAtMs) * TOKEN_RENEW_FRACTION));
}

export interface ProjectedTokenOptions {
  readonly namespace: string;
  /** The pod the token is bound to (its `spec.serviceAccountName` is the token's account). */
  readonly pod: string;
  readonly audience: string;
  readonly file: string;
  readonly expirationSeconds?: number;
  /** Default tokenRenewDelayMs (tests shorten it). */
  readonly renewDelayMs?: (issuedAtMs: number, expiresAtMs: number) => number;
}

export interface ProjectedToken {
  readonly file: string;
  /** Tokens written so far (1 after the start). */
  readonly issued: number;
  /** Renewals that failed, with why (the next one retries). */
  readonly failures: readonly string[];
  close(): void;
}

async function writeAtomically(file: string, content: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, content, { mode: 0o600 });
  await rename(temporary, file);
}

/**
 * Mints the pod's token (TokenRequest on `serviceaccounts/<sa>/token`, bound to the Pod by name
 * and uid, for `audience`), writes it to `file` and keeps renewing it; resolves once the first is
 * written. The Pod and its ServiceAccount must exist.
 */
export async function startProjectedToken(config: KubeConfig, options: ProjectedTokenOptions): Promise<ProjectedToken> {
  const core = config.makeApiClient(CoreV1Api);
  const pod = await core.readNamespacedPod({ namespace: options.namespace, name: options.pod });
  const serviceAccount = pod.spec?.serviceAccountName || 'default';
  const renewDelay = options.renewDelayMs ?? tokenRenewDelayMs;
  const failures: string[] = [];
  let issued = 0;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  const mint = async (): Promise<number> => {
    const issuedAt = Date.now();
    const request = await core.createNamespacedServiceAccountToken({
      namespace: options.namespace,
      name: serviceAccount,
      body: {
        spec: {
          audiences: [options.audience],
          expirationSeconds: options.expirationSeconds ?? DEFAULT_TOKEN_EXPIRATION_SECONDS,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: options.pod, uid: pod.metadata!.uid! },
        },
      },
    });
    const { token, expirationTimestamp } = request.status ?? {};
    if (!token || !expirationTimestamp) throw new MeshError('KUBE_LOCAL_ERR_TOKEN', `the TokenRequest for ${options.namespace}/${options.pod} returned no token`);
    if (closed) return 0;
    await writeAtomically(options.file, token);
    issued += 1;
    return renewDelay(issuedAt, new Date(expirationTimestamp).getTime());
  };
  const schedule = (ms: number) => {
    if (closed) return;
    timer = setTimeout(() => {
      mint().then(schedule, (err: Error) => {
        failures.push(err.message);
        schedule(RENEW_RETRY_MS);
      });
    }, ms);
    timer.unref();
  };

  await mkdir(path.dirname(options.file), { recursive: true, mode: 0o700 });
  schedule(await mint());
  return {
    file: options.file,
    get issued() {
      return issued;
    },
    failures,
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}

/** Waits until ConfigMap `namespace/name` has `key`, and writes its value to `file` (a configMap volume). */
export async function writeConfigMapKey(config: KubeConfig, options: { namespace: string; name: string; key: string; file: string; timeoutMs: number }): Promise<void> {
  const core = config.makeApiClient(CoreV1Api);
  let value: string | undefined;
  await pollUntil(
    async () => {
      value = (await core.readNamespacedConfigMap({ namespace: options.namespace, name: options.name })).data?.[options.key];
      return value !== undefined;
    },
    { what: `ConfigMap ${options.namespace}/${options.name} with ${options.key}`, timeoutMs: options.timeoutMs },
  );
  await mkdir(path.dirname(options.file), { recursive: true, mode: 0o700 });
  await writeAtomically(options.file, value!);
}
