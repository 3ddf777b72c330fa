/**
 * The kubelet's projected token and configMap volume, played for a pod that is a process
 * (src/projected.ts), against a real kube-apiserver: the token is the API server's own
 * (TokenRequest), bound to the pod and its node, for the asked audience, and is renewed (the
 * renewal delay shortened from 80% of an hour); the ConfigMap's key lands in its file.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeToolsMissing, startLocalKube, startProjectedToken, tokenRenewDelayMs, writeConfigMapKey, type LocalKube } from '../src/index.js';

const missing = kubeToolsMissing(['etcd', 'kube-apiserver']);

describe('tokenRenewDelayMs', () => {
  it('renews after 80% of the lifetime, as the kubelet', () => {
    expect(tokenRenewDelayMs(1_000, 1_000 + 3_600_000)).toBe(2_880_000);
    expect(tokenRenewDelayMs(5_000, 4_000)).toBe(0);
  });
});

describe.skipIf(missing)(`projected volumes on a real kube-apiserver${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let kube: LocalKube;
  let dir: string;

  beforeAll(async () => {
    kube = await startLocalKube();
    dir = await mkdtemp(path.join(tmpdir(), 'kube-local-projected-'));
    const objects = KubernetesObjectApi.makeApiClient(kube.kubeConfig());
    for (const object of [
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'ztunnel', namespace: 'istio-system' } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'ztunnel-node-a', namespace: 'istio-system' }, spec: { serviceAccountName: 'ztunnel', nodeName: 'node-a', containers: [{ name: 'ztunnel', image: 'registry.invalid/ztunnel' }] } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio-ca-root-cert', namespace: 'istio-system' }, data: { 'root-cert.pem': 'ROOT' } },
    ]) {
      await objects.create(object as KubernetesObject);
    }
  }, 120_000);

  afterAll(async () => {
    await kube?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes a pod-bound token for the audience (0600) and renews it', async () => {
    const file = path.join(dir, 'istio-token');
    const token = await startProjectedToken(kube.kubeConfig(), { namespace: 'istio-system', pod: 'ztunnel-node-a', audience: 'istio-ca', file, renewDelayMs: () => 300 });
    try {
      const first = await readFile(file, 'utf8');
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const review = await fetchReview(first);
      expect(review).toMatchObject({
        authenticated: true,
        audiences: ['istio-ca'],
        user: { username: 'system:serviceaccount:istio-system:ztunnel', extra: { 'authentication.kubernetes.io/pod-name': ['ztunnel-node-a'], 'authentication.kubernetes.io/node-name': ['node-a'] } },
      });
      for (const deadline = Date.now() + 10_000; token.issued < 3 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(token.issued).toBeGreaterThanOrEqual(3);
      expect(token.failures).toEqual([]);
      expect(await readFile(file, 'utf8')).not.toBe(first);
    } finally {
      token.close();
    }
    const issued = token.issued;
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(token.issued).toBe(issued);
  });

  it('writes a ConfigMap key to its file', async () => {
    const file = path.join(dir, 'ca', 'root-cert.pem');
    await writeConfigMapKey(kube.kubeConfig(), { namespace: 'istio-system', name: 'istio-ca-root-cert', key: 'root-cert.pem', file, timeoutMs: 5_000 });
    expect(await readFile(file, 'utf8')).toBe('ROOT');
  });

  /** A TokenReview as cluster admin: what the API server says of the token. */
  async function fetchReview(token: string): Promise<unknown> {
    const objects = KubernetesObjectApi.makeApiClient(kube.kubeConfig());
    const review = (await objects.create({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: {}, spec: { token, audiences: ['istio-ca'] } } as KubernetesObject)) as { status?: unknown };
    return review.status;
  }
});
