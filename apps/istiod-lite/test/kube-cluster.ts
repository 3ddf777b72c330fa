/**
 * A real Kubernetes control plane on loopback for tests: etcd and kube-apiserver (built by
 * `npm run setup` from Kubernetes' own Go modules, tools/kube), token authentication, RBAC, and
 * the real CustomResourceDefinitions of Istio and Gateway API read from their Go modules. No
 * kubelet, controller-manager or scheduler: a test plays kubelet by setting Pod and Node status
 * through the `status` subresource.
 *
 * Everything lives in one temporary directory and two processes; `close()` stops both and
 * removes the directory (also after a failed start).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, KubeConfig, KubernetesObjectApi, loadAllYaml } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { waitFor } from '@mesh/testing';

const TOOLS_DIR = fileURLToPath(new URL('../../../.state/tools/', import.meta.url));
const TOOLS = ['etcd', 'kube-apiserver', 'istio-api', 'gateway-api'] as const;

/** Why the Kubernetes tests cannot run here, or undefined when every tool is built. */
export function kubeToolsMissing(): string | undefined {
  const missing = TOOLS.filter((tool) => !existsSync(path.join(TOOLS_DIR, tool)));
  return missing.length === 0 ? undefined : `${missing.join(', ')} not built: run \`npm run setup\` (needs Go and the Go module proxy; a cold build takes ~12 minutes)`;
}

/** The CRDs Istio publishes in istio.io/api and Gateway API's standard channel, as objects. */
export function realCrds(): KubernetesObject[] {
  const istio = readFileSync(path.join(TOOLS_DIR, 'istio-api', 'kubernetes', 'customresourcedefinitions.gen.yaml'), 'utf8');
  const gatewayDir = path.join(TOOLS_DIR, 'gateway-api', 'config', 'crd', 'standard');
  const gateway = readdirSync(gatewayDir)
    .filter((file) => file.endsWith('.yaml'))
    .map((file) => readFileSync(path.join(gatewayDir, file), 'utf8'));
  return [istio, ...gateway].flatMap((text) => loadAllYaml(text) as KubernetesObject[]).filter((o) => o?.kind === 'CustomResourceDefinition');
}

/** Any object of the API: its metadata typed, the rest as the API defines it. */
export type ApiObject = KubernetesObject & { [field: string]: unknown };

export type TokenUser = 'admin' | 'istiod-lite' | 'nobody';

export interface KubeCluster {
  /** `https://127.0.0.1:<port>` */
  readonly server: string;
  /** A cluster-admin client (system:masters). */
  readonly admin: KubeConfig;
  /** Writes a kubeconfig for a token user of the token file (`istiod-lite` and `nobody` have no permissions until a test binds some). */
  kubeconfigFor(user: TokenUser): Promise<string>;
  /** Creates, or replaces what exists, like `kubectl apply` without the merge. */
  apply(object: ApiObject): Promise<KubernetesObject>;
  /** Reads an object as the API server has it now (status included). */
  read(object: ApiObject): Promise<ApiObject>;
  /** Replaces a custom object's status (as its resourceVersion says it is), as another controller would. */
  replaceStatus(plural: string, object: ApiObject): Promise<ApiObject>;
  /** Deletes at once (grace period 0), as a kubelet finishing a pod's termination would. */
  remove(object: ApiObject): Promise<void>;
  /** Sets a Pod's status the way a kubelet does: Running, its IP, Ready (or not). */
  setPodStatus(namespace: string, name: string, status: { podIP: string; ready: boolean }): Promise<void>;
  setNodeStatus(name: string, internalIp: string): Promise<void>;
  /** The Events (events.k8s.io/v1) of a namespace. */
  events(namespace: string): Promise<ApiObject[]>;
  /** Stops kube-apiserver (etcd keeps the data); `startApiServer` brings it back on the same port. */
  stopApiServer(): Promise<void>;
  startApiServer(port?: number): Promise<void>;
  /** Compacts etcd at its current revision: older resourceVersions are gone (a watch from one gets 410). */
  compactEtcd(): Promise<void>;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function startProcess(binary: string, args: string[], output: string[]): ChildProcess {
  const child = spawn(path.join(TOOLS_DIR, binary), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString());
    if (output.length > 200) output.splice(0, output.length - 200);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return child;
}

async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export async function startKubeCluster(): Promise<KubeCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'kube-test-'));
  const processes: { etcd?: ChildProcess; apiServer?: ChildProcess } = {};
  const output: string[] = [];
  try {
    return await start(dir, processes, output);
  } catch (err) {
    await stopProcess(processes.apiServer);
    await stopProcess(processes.etcd);
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${String(err)}\n--- etcd/kube-apiserver output ---\n${output.join('').slice(-4000)}`);
  }
}

async function start(dir: string, processes: { etcd?: ChildProcess; apiServer?: ChildProcess }, output: string[]): Promise<KubeCluster> {
  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${etcdClient}`;
  processes.etcd = startProcess(
    'etcd',
    [
      '--name=test',
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=test=http://127.0.0.1:${etcdPeer}`,
      '--log-level=warn',
    ],
    output,
  );
  const tokens: Record<TokenUser, string> = { admin: randomBytes(16).toString('hex'), 'istiod-lite': randomBytes(16).toString('hex'), nobody: randomBytes(16).toString('hex') };
  const adminToken = tokens.admin;
  await writeFile(path.join(dir, 'tokens.csv'), `${tokens.admin},admin,admin,system:masters\n${tokens['istiod-lite']},istiod-lite,istiod-lite\n${tokens.nobody},nobody,nobody\n`, { mode: 0o600 });
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await writeFile(path.join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(path.join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await mkdir(path.join(dir, 'certs'));

  const apiServerArgs = (port: number) => [
    `--etcd-servers=${etcdUrl}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${port}`,
    `--cert-dir=${path.join(dir, 'certs')}`,
    `--token-auth-file=${path.join(dir, 'tokens.csv')}`,
    '--authorization-mode=RBAC',
    `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
    `--service-account-key-file=${path.join(dir, 'sa.pub')}`,
    `--service-account-signing-key-file=${path.join(dir, 'sa.key')}`,
    '--service-cluster-ip-range=10.77.100.0/24',
    // No kubelet or node controller runs here: the API server must not manage its own Endpoints
    // on loopback, and pods name service accounts the test may not create.
    '--endpoint-reconciler-type=none',
    '--disable-admission-plugins=ServiceAccount',
    '--enable-priority-and-fairness=false',
  ];
  const server = `https://127.0.0.1:${apiPort}`;
  const admin = kubeConfig(server, adminToken);
  let currentPort = apiPort;

  const startApiServer = async (port = apiPort) => {
    currentPort = port;
    const child = startProcess('kube-apiserver', apiServerArgs(port), output);
    processes.apiServer = child;
    const config = kubeConfig(`https://127.0.0.1:${port}`, adminToken);
    const core = config.makeApiClient(CoreV1Api);
    await waitFor(() => core.listNamespace().then(() => true), {
      what: `kube-apiserver on ${port} serving`,
      timeoutMs: 90_000,
      intervalMs: 200,
      giveUpIf: () => (child.exitCode !== null ? `kube-apiserver exited with ${child.exitCode}` : undefined),
      lastSeen: () => output.join('').slice(-2000),
    });
  };
  await startApiServer();

  const client = () => KubernetesObjectApi.makeApiClient(kubeConfig(`https://127.0.0.1:${currentPort}`, adminToken));
  const core = () => kubeConfig(`https://127.0.0.1:${currentPort}`, adminToken).makeApiClient(CoreV1Api);
  const customObjects = () => kubeConfig(`https://127.0.0.1:${currentPort}`, adminToken).makeApiClient(CustomObjectsApi);

  // The real CRDs, established before any test creates an object of theirs.
  const crds = realCrds();
  for (const crd of crds) await client().create(crd);
  await waitFor(
    async () => {
      const list = await client().list('apiextensions.k8s.io/v1', 'CustomResourceDefinition');
      const established = (list.items as Array<KubernetesObject & { status?: { conditions?: Array<{ type: string; status: string }> } }>).filter((c) =>
        c.status?.conditions?.some((cond) => cond.type === 'Established' && cond.status === 'True'),
      );
      return established.length === crds.length;
    },
    { what: 'the CRDs established', timeoutMs: 60_000 },
  );

  return {
    server,
    admin,
    async kubeconfigFor(user) {
      const file = path.join(dir, `${user}.kubeconfig`);
      const token = tokens[user];
      // The API server's self-signed certificate (and its CA) is in its cert dir.
      const ca = readFileSync(path.join(dir, 'certs', 'apiserver.crt')).toString('base64');
      await writeFile(
        file,
        [
          'apiVersion: v1',
          'kind: Config',
          `clusters: [{name: test, cluster: {server: "${server}", certificate-authority-data: "${ca}"}}]`,
          `users: [{name: ${user}, user: {token: "${token}"}}]`,
          `contexts: [{name: ${user}, context: {cluster: test, user: ${user}}}]`,
          `current-context: ${user}`,
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      return file;
    },
    async apply(object) {
      try {
        return await client().create(object);
      } catch (err) {
        if ((err as { code?: number }).code !== 409) throw err;
        const { name, namespace } = object.metadata ?? {};
        const existing = await client().read({ apiVersion: object.apiVersion, kind: object.kind, metadata: { name: name!, ...(namespace ? { namespace } : {}) } } as never);
        return client().replace({ ...object, metadata: { ...object.metadata, resourceVersion: existing.metadata?.resourceVersion } });
      }
    },
    async read(object) {
      const { name, namespace } = object.metadata ?? {};
      return (await client().read({ apiVersion: object.apiVersion, kind: object.kind, metadata: { name: name!, ...(namespace ? { namespace } : {}) } } as never)) as ApiObject;
    },
    async replaceStatus(plural, object) {
      const [group = '', version = ''] = (object.apiVersion ?? '').split('/');
      const { name = '', namespace = 'default' } = object.metadata ?? {};
      return (await customObjects().replaceNamespacedCustomObjectStatus({ group, version, namespace, plural, name, body: object })) as ApiObject;
    },
    async remove(object) {
      // At once: no kubelet is here to finish a pod's graceful deletion.
      await client().delete(object, undefined, undefined, 0);
    },
    async setPodStatus(namespace, name, { podIP, ready }) {
      const pod = await core().readNamespacedPod({ namespace, name });
      const now = new Date();
      pod.status = {
        phase: 'Running',
        podIP,
        podIPs: [{ ip: podIP }],
        hostIP: '127.0.0.1',
        hostIPs: [{ ip: '127.0.0.1' }],
        startTime: now,
        conditions: [
          { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
          { type: 'Initialized', status: 'True', lastTransitionTime: now },
          { type: 'ContainersReady', status: ready ? 'True' : 'False', lastTransitionTime: now },
          { type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: now },
        ],
      };
      await core().replaceNamespacedPodStatus({ namespace, name, body: pod });
    },
    async setNodeStatus(name, internalIp) {
      const node = await core().readNode({ name });
      node.status = { ...node.status, addresses: [{ type: 'InternalIP', address: internalIp }, { type: 'Hostname', address: name }] };
      await core().replaceNodeStatus({ name, body: node });
    },
    async events(namespace) {
      return (await client().list('events.k8s.io/v1', 'Event', namespace)).items as ApiObject[];
    },
    async stopApiServer() {
      await stopProcess(processes.apiServer);
    },
    startApiServer,
    async compactEtcd() {
      // etcd's JSON gateway (gRPC KV.Range / KV.Compact).
      const range = await fetch(`${etcdUrl}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) });
      const revision = ((await range.json()) as { header: { revision: string } }).header.revision;
      const compacted = await fetch(`${etcdUrl}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision, physical: true }) });
      if (!compacted.ok) throw new Error(`etcd compaction failed: ${compacted.status} ${await compacted.text()}`);
    },
    async close() {
      await stopProcess(processes.apiServer);
      await stopProcess(processes.etcd);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function kubeConfig(server: string, token: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'test', server, skipTLSVerify: true }],
    users: [{ name: 'test', token }],
    contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
    currentContext: 'test',
  });
  return config;
}
