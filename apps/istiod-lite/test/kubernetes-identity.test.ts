/**
 * Kubernetes identity for the proxies, against a real kube-apiserver (kube-cluster.ts): tokens are
 * minted by the API server's own TokenRequest (`serviceaccounts/<sa>/token`, bound to a Pod, as a
 * kubelet's projected `serviceAccountToken` volume is) and sent the way Istio's ztunnel sends them
 * (`authorization: Bearer` metadata on the CA call and the xDS stream, a pod's certificate asked
 * for with `ImpersonatedIdentity`), with the client credentials ztunnel and the waypoint use
 * (`controlPlaneCredentials(…, { tokenFile, rootCertFile })`, the file read at each call).
 * istiod-lite checks them with TokenReviews as its deployed service account (istio-system/istiod)
 * holding only the RBAC of deploy/kubernetes/istiod-rbac.yaml (with `create` on tokenreviews).
 *
 * Refused, each with its status and a log line naming why: a forged token (signed by another
 * key), a token for another audience, an "expired" one (bound to a Pod that was then deleted: the
 * API server no longer accepts it; a token's real expiry is at least 10 minutes away, and the
 * cache's respect of `exp` is shown with an injected clock), no credential at all, a ztunnel
 * asking for another node's pod or claiming another node on xDS, a pod's or a waypoint's service
 * account asking for someone else's identity or connecting as a ztunnel.
 */
import { createSign, generateKeyPairSync } from 'node:crypto';
import { X509Certificate } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { CoreV1Api, KubeConfig, loadAllYaml } from '@kubernetes/client-node';
import { RootCa, generateKeyAndCsr, spiffeUri, subjectAltNameUris } from '@mesh/pki';
import { CaClient, TYPE_URL, XdsClient } from '@mesh/xds';
import { controlPlaneCredentials } from '@mesh/workload-identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryLogger, loadKubeConfig, nodeBootstrapUris, nodeCredentialDir, parseConfig, startIstiod } from '../src/index.js';
import type { Istiod } from '../src/index.js';
import { KubernetesAuthenticator } from '../src/ca/kubernetes-identity.js';
import { kubeToolsMissing, startKubeCluster, type ApiObject, type KubeCluster } from './kube-cluster.js';
import { TRUST_DOMAIN, nextUpdate, testGenerators, waitFor } from './helpers.js';

const ZTUNNEL_MAIN = fileURLToPath(new URL('../../ztunnel/dist/main.js', import.meta.url));
const missing = kubeToolsMissing() ?? (existsSync(ZTUNNEL_MAIN) ? undefined : 'ztunnel is not built: run `pnpm run build`');

/** istiod-lite's ServiceAccount, ClusterRole (with TokenReviews) and binding, as deployed (deploy/kubernetes/istiod-rbac.yaml). */
const ISTIOD_RBAC = (loadAllYaml(readFileSync(fileURLToPath(new URL('../../../deploy/kubernetes/istiod-rbac.yaml', import.meta.url)), 'utf8')) as ApiObject[])
  .filter(Boolean)
  .map((o) => (o.kind === 'ServiceAccount' ? { ...o, metadata: { ...o.metadata, namespace: 'istio-system' } } : o));

const identity = (namespace: string, serviceAccount: string) => spiffeUri({ trustDomain: TRUST_DOMAIN, namespace, serviceAccount });

function podObject(namespace: string, name: string, serviceAccount: string, node: string): ApiObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec: { nodeName: node, serviceAccountName: serviceAccount, containers: [{ name: 'c', image: 'registry.invalid/sample:1' }] } };
}

/** What the pods of the test run as, and where. */
const PODS = [
  { namespace: 'istio-system', name: 'ztunnel-a', serviceAccount: 'ztunnel', node: 'node-a', ip: '10.78.0.11' },
  { namespace: 'istio-system', name: 'ztunnel-b', serviceAccount: 'ztunnel', node: 'node-b', ip: '10.78.0.12' },
  { namespace: 'default', name: 'app-a', serviceAccount: 'app-a', node: 'node-a', ip: '10.78.1.10' },
  { namespace: 'default', name: 'app-b', serviceAccount: 'app-b', node: 'node-b', ip: '10.78.1.20' },
  { namespace: 'default', name: 'waypoint-0', serviceAccount: 'waypoint', node: 'node-b', ip: '10.78.2.30' },
  { namespace: 'default', name: 'doomed', serviceAccount: 'app-a', node: 'node-a', ip: '10.78.1.11' },
];

describe.skipIf(missing)(`Kubernetes identity for the proxies on a real kube-apiserver${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let cluster: KubeCluster;
  let istiod: Istiod;
  let dir: string;
  let rootCertFile: string;
  const logger = createMemoryLogger();
  const closers: Array<() => void> = [];

  /** A TokenRequest as the kubelet makes for a projected volume: bound to the pod, audience istio-ca unless said. */
  async function token(podName: string, options: { audience?: string; bound?: boolean } = {}): Promise<string> {
    const pod = PODS.find((p) => p.name === podName)!;
    const core = cluster.admin.makeApiClient(CoreV1Api);
    const uid = (await core.readNamespacedPod({ namespace: pod.namespace, name: pod.name })).metadata!.uid!;
    const request = await core.createNamespacedServiceAccountToken({
      namespace: pod.namespace,
      name: pod.serviceAccount,
      body: {
        spec: {
          audiences: [options.audience ?? 'istio-ca'],
          expirationSeconds: 600,
          ...(options.bound === false ? {} : { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.name, uid } }),
        },
      },
    });
    return request.status!.token!;
  }

  /** A kubeconfig with a token of istio-system/istiod (audience: the API server), as in its pod. */
  async function istiodKubeconfig(): Promise<string> {
    const core = cluster.admin.makeApiClient(CoreV1Api);
    const request = await core.createNamespacedServiceAccountToken({ namespace: 'istio-system', name: 'istiod', body: { spec: { expirationSeconds: 3600 } } });
    const file = path.join(dir, 'istiod.kubeconfig');
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'test', server: cluster.server, skipTLSVerify: true }],
      users: [{ name: 'istiod', token: request.status!.token! }],
      contexts: [{ name: 'istiod', cluster: 'test', user: 'istiod' }],
      currentContext: 'istiod',
    });
    await writeFile(file, kubeConfig.exportConfig(), { mode: 0o600 });
    return file;
  }

  let files = 0;
  async function tokenFile(content: string): Promise<string> {
    const file = path.join(dir, `token-${++files}`);
    await writeFile(file, content, { mode: 0o600 });
    return file;
  }

  /** The control-plane credentials ztunnel and the waypoint build from --token-file and --ca-root-cert. */
  async function tokenCredentials(file: string): Promise<grpc.ChannelCredentials> {
    return controlPlaneCredentials(undefined, TRUST_DOMAIN, { tokenFile: file, rootCertFile });
  }

  async function caClient(file: string): Promise<CaClient> {
    const client = new CaClient(`127.0.0.1:${istiod.ports.xdsTls}`, await tokenCredentials(file));
    closers.push(() => client.close());
    return client;
  }

  /** CreateCertificate for `uri`, with ImpersonatedIdentity (as ztunnel) or without (the CSR's URI, as istio-agent). */
  async function ask(client: CaClient, uri: string, impersonate = true): Promise<{ uris: string[] } | { code: string; details: string }> {
    const parts = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri)!;
    const { csrPem } = await generateKeyAndCsr({ trustDomain: TRUST_DOMAIN, namespace: parts[1]!, serviceAccount: parts[2]! });
    try {
      const chain = await client.createCertificate({ csrPem, ...(impersonate ? { impersonatedIdentity: uri } : {}), validitySeconds: 3600 });
      return { uris: subjectAltNameUris(new X509Certificate(chain[0]!).subjectAltName) };
    } catch (err) {
      const { code, details } = err as grpc.ServiceError;
      return { code: grpc.status[code], details };
    }
  }

  const refusals = () => logger.entries.filter((e) => e.msg === 'certificate request refused' || e.msg === 'xDS stream refused');

  beforeAll(async () => {
    cluster = await startKubeCluster();
    // istiod-lite runs as its deployed service account, istio-system/istiod, with exactly its deployed RBAC.
    for (const object of [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } }, ...ISTIOD_RBAC]) await cluster.apply(object);
    for (const [index, node] of ['node-a', 'node-b'].entries()) {
      await cluster.apply({ apiVersion: 'v1', kind: 'Node', metadata: { name: node } });
      await cluster.setNodeStatus(node, `10.78.9.${index + 1}`);
    }
    // TokenRequest needs the ServiceAccount to exist.
    for (const { namespace, serviceAccount } of PODS) await cluster.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: serviceAccount, namespace } });
    for (const pod of PODS) {
      await cluster.apply(podObject(pod.namespace, pod.name, pod.serviceAccount, pod.node));
      await cluster.setPodStatus(pod.namespace, pod.name, { podIP: pod.ip, ready: true });
    }
    dir = await mkdtemp(path.join(tmpdir(), 'istiod-kube-identity-'));
    const config = parseConfig({
      configSource: 'kubernetes',
      kubeconfig: await istiodKubeconfig(),
      stateDir: path.join(dir, 'state'),
      xdsTlsPort: 0,
      debugPort: 0,
      listenAddress: '127.0.0.1',
      trustDomain: TRUST_DOMAIN,
    });
    istiod = await startIstiod({ config, generators: testGenerators, logger, debounceMs: 50 });
    rootCertFile = path.join(dir, 'root-cert.pem');
    await writeFile(rootCertFile, istiod.ca.rootCertPem);
    await waitFor(() => PODS.every((p) => istiod.source.current().pods.has(`${p.namespace}/${p.name}`)), { what: 'every pod in the snapshot' });
  }, 240_000);

  afterAll(async () => {
    for (const close of closers) close();
    await istiod?.close();
    await cluster?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it("a ztunnel's token gets certificates for the pods on its node (ImpersonatedIdentity), not for another node's", async () => {
    const client = await caClient(await tokenFile(await token('ztunnel-a')));
    expect(await ask(client, identity('default', 'app-a'))).toEqual({ uris: [identity('default', 'app-a')] });
    const other = await ask(client, identity('default', 'app-b'));
    expect(other).toMatchObject({ code: 'PERMISSION_DENIED' });
    expect((other as { details: string }).details).toMatch(/node node-a may not obtain a certificate for spiffe:\/\/cluster.local\/ns\/default\/sa\/app-b: no pod on node-a runs as that identity \(it runs on node-b\)/);
    expect(refusals().at(-1)).toMatchObject({ serviceAccount: 'istio-system/ztunnel', pod: 'istio-system/ztunnel-a', node: 'node-a', code: 'PERMISSION_DENIED', reason: 'not allowed' });
    // The other node's ztunnel gets that one.
    const b = await caClient(await tokenFile(await token('ztunnel-b')));
    expect(await ask(b, identity('default', 'app-b'))).toEqual({ uris: [identity('default', 'app-b')] });
  });

  it("a pod's or waypoint's service account gets only its own identity", async () => {
    const waypoint = await caClient(await tokenFile(await token('waypoint-0')));
    // ImpersonatedIdentity of itself (what the waypoint's CA client sends) and without it (the CSR's URI, as istio-agent).
    expect(await ask(waypoint, identity('default', 'waypoint'))).toEqual({ uris: [identity('default', 'waypoint')] });
    expect(await ask(waypoint, identity('default', 'waypoint'), false)).toEqual({ uris: [identity('default', 'waypoint')] });
    // Another identity, even of a pod on its own node.
    const other = await ask(waypoint, identity('default', 'app-b'));
    expect(other).toMatchObject({ code: 'PERMISSION_DENIED' });
    expect((other as { details: string }).details).toMatch(/service account default\/waypoint may obtain a certificate only for its own identity/);
    const app = await caClient(await tokenFile(await token('app-a')));
    expect(await ask(app, identity('default', 'app-b'), false)).toMatchObject({ code: 'PERMISSION_DENIED' });
    expect(await ask(app, identity('istio-system', 'ztunnel'))).toMatchObject({ code: 'PERMISSION_DENIED' });
    expect(refusals().at(-1)).toMatchObject({ serviceAccount: 'default/app-a', code: 'PERMISSION_DENIED' });
  });

  it('refuses a forged token, one for another audience, one whose pod is gone, and none at all: UNAUTHENTICATED, never a crash', async () => {
    // Forged: the claims of a real token, signed by a key the API server does not know.
    const real = await token('ztunnel-a');
    const [header, payload] = real.split('.');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forged = `${header}.${payload}.${createSign('RSA-SHA256').update(`${header}.${payload}`).sign(privateKey, 'base64url')}`;
    const forgedResult = await ask(await caClient(await tokenFile(forged)), identity('default', 'app-a'));
    expect(forgedResult).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((forgedResult as { details: string }).details).toMatch(/the API server did not accept the token/);
    expect(refusals().at(-1)).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'not authenticated', error: expect.stringMatching(/did not accept the token/) });

    const wrongAudience = await ask(await caClient(await tokenFile(await token('ztunnel-a', { audience: 'vault' }))), identity('default', 'app-a'));
    expect(wrongAudience).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((wrongAudience as { details: string }).details).toMatch(/did not accept the token: .*audience/i);

    // "Expired": bound to a pod that is deleted; the API server refuses it from then on.
    const doomed = await token('doomed');
    await cluster.remove({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'doomed', namespace: 'default' } });
    const gone = await ask(await caClient(await tokenFile(doomed)), identity('default', 'app-a'));
    expect(gone).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((gone as { details: string }).details).toMatch(/did not accept the token/);

    // No token, no client certificate.
    const bare = new CaClient(`127.0.0.1:${istiod.ports.xdsTls}`, grpc.credentials.createSsl(Buffer.from(istiod.ca.rootCertPem), null, null, { checkServerIdentity: () => undefined }));
    closers.push(() => bare.close());
    const none = await ask(bare, identity('default', 'app-a'));
    expect(none).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((none as { details: string }).details).toMatch(/no credential/);

    // istiod-lite is still serving.
    expect(await ask(await caClient(await tokenFile(await token('ztunnel-a'))), identity('default', 'app-a'))).toEqual({ uris: [identity('default', 'app-a')] });
  });

  it('still takes a node bootstrap certificate (client certificates are optional here, not unverified)', async () => {
    const withCert = new CaClient(`127.0.0.1:${istiod.ports.xdsTls}`, await controlPlaneCredentials(nodeCredentialDir(path.join(dir, 'state'), 'node-a'), TRUST_DOMAIN));
    closers.push(() => withCert.close());
    expect(await ask(withCert, identity('default', 'app-a'))).toEqual({ uris: [identity('default', 'app-a')] });
    expect(await ask(withCert, identity('default', 'app-b'))).toMatchObject({ code: 'PERMISSION_DENIED' });
    // The same names, signed by another CA: TLS lets it through (a certificate is not required), the CA does not count it.
    const other = RootCa.loadOrCreate(path.join(dir, 'other-ca'), { trustDomain: TRUST_DOMAIN });
    const uris = nodeBootstrapUris(TRUST_DOMAIN, 'node-a');
    const { keyPem, csrPem } = await generateKeyAndCsr({ uris });
    const forged = other.issueCert({ csrPem, uris, commonName: 'ztunnel.node-a', ttlMs: 3_600_000 });
    const impostor = new CaClient(
      `127.0.0.1:${istiod.ports.xdsTls}`,
      grpc.credentials.createSsl(Buffer.from(istiod.ca.rootCertPem), Buffer.from(keyPem), Buffer.from(forged.chainPem), { checkServerIdentity: () => undefined }),
    );
    closers.push(() => impostor.close());
    expect(await ask(impostor, identity('default', 'app-a'))).toMatchObject({ code: 'UNAUTHENTICATED', details: expect.stringMatching(/no credential/) });
  });

  it('reads the token file at each call: a rotated token is used at once', async () => {
    const file = await tokenFile(await token('ztunnel-a', { audience: 'vault' }));
    const client = await caClient(file);
    expect(await ask(client, identity('default', 'app-a'))).toMatchObject({ code: 'UNAUTHENTICATED' });
    await writeFile(file, await token('ztunnel-a'));
    expect(await ask(client, identity('default', 'app-a'))).toEqual({ uris: [identity('default', 'app-a')] });
  });

  it('the ztunnel program with --token-file connects as its token\'s node', { timeout: 30_000 }, async () => {
    const file = await tokenFile(await token('ztunnel-a'));
    // Its own loopback address (127.R.0.1), so its listeners collide with nothing; every port left to the OS where it may be.
    const address = `127.${100 + Math.floor(Math.random() * 75)}.77.1`;
    const output: string[] = [];
    const child = spawn(process.execPath, [
      ZTUNNEL_MAIN,
      ...['--node-name', 'node-a', '--xds-address', `127.0.0.1:${istiod.ports.xdsTls}`, '--token-file', file, '--ca-root-cert', rootCertFile],
      ...['--listen-address', address, '--admin-port', '0', '--metrics-port', '0', '--readiness-port', '0', '--dns-proxy', 'false', '--trust-domain', TRUST_DOMAIN],
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    closers.push(() => child.kill('SIGKILL'));
    try {
      const row = await waitFor(() => istiod.ads.syncz().find((r) => r.proxyType === 'ztunnel' && r.nodeName === 'node-a' && r.verified), {
        what: 'the ztunnel process connected with its token',
        timeoutMs: 20_000,
        lastSeen: () => output.join('').slice(-2000),
      });
      expect(row).toMatchObject({ nodeName: 'node-a', verified: true });
    } finally {
      child.kill('SIGTERM');
    }
  });

  describe('xDS', () => {
    const node = (type: 'ztunnel' | 'waypoint', name: string, namespace: string, nodeName: string) => ({
      id: `${type}~10.78.0.1~${name}~${namespace}.svc.cluster.local`,
      metadata: { NODE_NAME: nodeName },
    });

    async function connect(file: string, xdsNode: { id: string; metadata: Record<string, string> }): Promise<{ ok: true } | { code: string; details: string }> {
      const client = new XdsClient({ target: `127.0.0.1:${istiod.ports.xdsTls}`, node: xdsNode, credentials: await tokenCredentials(file), typeUrls: [TYPE_URL.LISTENER], initialBackoffMs: 60_000 });
      closers.push(() => client.close());
      const refused = new Promise<{ code: string; details: string }>((resolve) => client.once('disconnected', (err: grpc.ServiceError) => resolve({ code: grpc.status[err.code], details: err.details })));
      const updated = nextUpdate(client, TYPE_URL.LISTENER).then(() => ({ ok: true }) as const);
      client.start();
      return Promise.race([updated, refused]);
    }

    it("a ztunnel's token opens its node's stream; claiming another node is PERMISSION_DENIED", async () => {
      const file = await tokenFile(await token('ztunnel-a'));
      expect(await connect(file, node('ztunnel', 'ztunnel-a', 'istio-system', 'node-a'))).toEqual({ ok: true });
      const other = await connect(file, node('ztunnel', 'ztunnel-a', 'istio-system', 'node-b'));
      expect(other).toMatchObject({ code: 'PERMISSION_DENIED', details: expect.stringMatching(/claims NODE_NAME node-b but its token is for node node-a/) });
      expect(refusals().at(-1)).toMatchObject({ msg: 'xDS stream refused', serviceAccount: 'istio-system/ztunnel', code: 'PERMISSION_DENIED' });
    });

    it('a waypoint connects as a proxy of its namespace; a pod account may not connect as a ztunnel; a forged token is UNAUTHENTICATED', async () => {
      expect(await connect(await tokenFile(await token('waypoint-0')), node('waypoint', 'waypoint-0', 'default', 'node-b'))).toEqual({ ok: true });
      const asZtunnel = await connect(await tokenFile(await token('app-a')), node('ztunnel', 'ztunnel-a', 'istio-system', 'node-a'));
      expect(asZtunnel).toMatchObject({ code: 'PERMISSION_DENIED', details: expect.stringMatching(/service account default\/app-a may not connect as a ztunnel/) });
      const real = await token('ztunnel-a');
      const forged = `${real.split('.').slice(0, 2).join('.')}.${Buffer.from('not a signature').toString('base64url')}`;
      const refused = await connect(await tokenFile(forged), node('ztunnel', 'ztunnel-a', 'istio-system', 'node-a'));
      expect(refused).toMatchObject({ code: 'UNAUTHENTICATED', details: expect.stringMatching(/did not accept the token/) });
      expect(refusals().at(-1)).toMatchObject({ msg: 'xDS stream refused', code: 'UNAUTHENTICATED', reason: 'not authenticated' });
    });
  });

  it('caches a review briefly, never past the token expiry', { timeout: 60_000 }, async () => {
    let now = Date.now();
    const kubeConfig = loadKubeConfig({ kubeconfig: await istiodKubeconfig() });
    const reviews = (cacheTtlMs: number) => new KubernetesAuthenticator({ kubeConfig, trustDomain: TRUST_DOMAIN, cacheTtlMs, now: () => now });
    // A pod made for this, whose deletion makes a fresh review fail: a cached answer is seen as such.
    PODS.push({ namespace: 'default', name: 'short-lived', serviceAccount: 'app-a', node: 'node-a', ip: '10.78.1.12' });
    await cluster.apply(podObject('default', 'short-lived', 'app-a', 'node-a'));
    const shortLived = await token('short-lived');
    const expiry = JSON.parse(Buffer.from(shortLived.split('.')[1]!, 'base64url').toString()).exp * 1000;
    const brief = reviews(10_000);
    const long = reviews(3_600_000);
    expect(await brief.authenticate(shortLived)).toMatchObject({ serviceAccount: 'app-a', podName: 'short-lived', nodeName: 'node-a', nodeProxy: false });
    expect(await long.authenticate(shortLived)).toMatchObject({ podName: 'short-lived' });
    await cluster.remove({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'short-lived', namespace: 'default' } });
    // kube-apiserver itself caches a successful token authentication for 10 s: wait until it refuses.
    const uncached = reviews(0);
    await waitFor(() => uncached.authenticate(shortLived).then(() => false, () => true), { what: 'the API server refusing the deleted pod\'s token', timeoutMs: 30_000, intervalMs: 500 });
    // Within the TTL: the cached answer.
    now += 5_000;
    expect(await brief.authenticate(shortLived)).toMatchObject({ podName: 'short-lived' });
    // Past the TTL: asked again, and refused now.
    now += 6_000;
    await expect(brief.authenticate(shortLived)).rejects.toMatchObject({ code: 'ISTIOD_ERR_TOKEN_REJECTED' });
    // A long TTL still ends at the token's exp.
    expect(await long.authenticate(shortLived)).toMatchObject({ podName: 'short-lived' });
    now = expiry + 1;
    await expect(long.authenticate(shortLived)).rejects.toMatchObject({ code: 'ISTIOD_ERR_TOKEN_REJECTED' });
    expect(long.cacheSize).toBe(0);
  });
});
