/**
 * A real Kubernetes control plane on this machine: etcd, kube-apiserver and, when asked for,
 * kube-controller-manager, each a process of the binaries `npm run setup` builds, with token
 * authentication and RBAC. No kubelet, scheduler or container runtime: whoever runs pods writes
 * the kubelet's part (kubelet.ts).
 *
 * Invariants: everything lives in one directory (a new temporary one unless given) and up to three
 * processes, each its own process group (`pids()`, so a crashed owner's leftovers can be killed
 * by group); `close()` stops them (controller-manager, API server, etcd) and removes the
 * directory, and is idempotent; a failed start does the same before it rethrows. Each start
 * records its owner (this process) and the programs' pids (owners.ts) and first sweeps the
 * programs and directories of earlier owners that were killed before their `close()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApiextensionsV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { MeshError } from '@mesh/errors';
import { kubeToolPath, realCrds, type GatewayApiChannel, type KubeTool } from './tools.js';
import { removeOwnerRecord, sweepOrphans, writeOwnerRecord } from './owners.js';
import { pollUntil } from './wait.js';

/** kube-apiserver is ready in ~4 s on an idle machine; a loaded 2-core one can take much longer. */
const READY_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 10_000;
const OUTPUT_CHUNKS_KEPT = 200;
/** The controllers the mesh needs: EndpointSlices from Pods, and Nodes watched through their Leases. */
export const DEFAULT_CONTROLLERS = ['endpointslice-controller', 'node-lifecycle-controller'] as const;

export interface LocalKubeOptions {
  /** Where the data, certificates and kubeconfigs go (created; removed by close). Default: a new temporary directory. */
  readonly dir?: string;
  /** kube-apiserver's bind and advertise address (it must reach whoever uses it). Default 127.0.0.1. */
  readonly apiServerAddress?: string;
  /** Token users besides `admin` (system:masters), each with its groups (none: no permissions until bound). */
  readonly users?: Readonly<Record<string, readonly string[]>>;
  /** Services' ClusterIPs come from this range (its first address is the `kubernetes` Service's). */
  readonly serviceClusterIpRange?: string;
  /** Run kube-controller-manager with these controllers (e.g. DEFAULT_CONTROLLERS). Default: none runs. */
  readonly controllers?: readonly string[];
  /** Each process's output is appended to `<logDir>/<program>.log` too. */
  readonly logDir?: string;
}

export interface LocalKube {
  /** `https://<apiServerAddress>:<port>` as first started. */
  readonly server: string;
  readonly dir: string;
  readonly etcdUrl: string;
  /** A client config for `user` (admin: system:masters) at the API server's current address. */
  kubeConfig(user?: string): KubeConfig;
  /** Writes a kubeconfig file for a token user (the API server's own CA, its first address); returns its path. */
  kubeconfigFor(user: string): Promise<string>;
  /** The running programs' process ids (each leads its own process group). */
  pids(): number[];
  /** The last output of the programs (for a failure message). */
  output(): string;
  /** Stops kube-apiserver (etcd keeps the data); `startApiServer` brings it back, on `port` if given. */
  stopApiServer(): Promise<void>;
  startApiServer(port?: number): Promise<void>;
  /** Compacts etcd at its current revision: older resourceVersions are gone (a watch from one gets 410). */
  compactEtcd(): Promise<void>;
  close(): Promise<void>;
}

async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

class Program {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;

  constructor(tool: KubeTool, args: readonly string[], output: string[], log: WriteStream | undefined) {
    // Its own process group: a Ctrl-C meant for the owner does not stop it halfway through the
    // owner's cleanup, and a crashed owner's leftovers can be found and killed by group.
    this.child = spawn(kubeToolPath(tool), args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    this.child.once('error', (err) => output.push(`${tool}: ${err.message}\n`));
    const keep = (chunk: Buffer) => {
      output.push(chunk.toString());
      if (output.length > OUTPUT_CHUNKS_KEPT) output.splice(0, output.length - OUTPUT_CHUNKS_KEPT);
      log?.write(chunk);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  exitReason(name: string): string | undefined {
    return this.running ? undefined : `${name} exited (${this.child.exitCode ?? this.child.signalCode})`;
  }

  async stop(): Promise<void> {
    if (!this.running || this.child.pid === undefined) return;
    const pid = this.child.pid;
    const signal = (name: NodeJS.Signals) => {
      try {
        process.kill(-pid, name);
      } catch {
        // Gone meanwhile.
      }
    };
    signal('SIGTERM');
    const timer = setTimeout(() => signal('SIGKILL'), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

/** A client config with a bearer token; TLS unchecked (the API server's certificate is self-signed and new). */
function tokenConfig(server: string, token: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'local', server, skipTLSVerify: true }],
    users: [{ name: 'local', token }],
    contexts: [{ name: 'local', cluster: 'local', user: 'local' }],
    currentContext: 'local',
  });
  return config;
}

/** GET `url` over HTTPS without checking the (self-signed) certificate: its status, or 0. */
function httpsStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { rejectUnauthorized: false, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

export async function startLocalKube(options: LocalKubeOptions = {}): Promise<LocalKube> {
  // What a SIGKILLed owner of an earlier start left (owners.ts).
  await sweepOrphans();
  const dir = options.dir ?? (await mkdtemp(path.join(tmpdir(), 'kube-local-')));
  await mkdir(path.join(dir, 'certs'), { recursive: true });
  if (options.logDir) await mkdir(options.logDir, { recursive: true });
  const output: string[] = [];
  const logs: WriteStream[] = [];
  const logFor = (tool: KubeTool) => {
    if (!options.logDir) return undefined;
    const log = createWriteStream(path.join(options.logDir, `${tool}.log`), { flags: 'a' });
    logs.push(log);
    return log;
  };
  const programs: { etcd?: Program; apiServer?: Program; controllerManager?: Program } = {};
  const ownerRecord = `${process.pid}-${randomBytes(4).toString('hex')}`;
  /** Called after each program starts: a crash of this process from here on is swept by the next start. */
  const recordOwner = () =>
    writeOwnerRecord(ownerRecord, dir, [programs.etcd, programs.apiServer, programs.controllerManager].flatMap((p) => (p?.child.pid ? [p.child.pid] : [])));
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await programs.controllerManager?.stop();
    await programs.apiServer?.stop();
    await programs.etcd?.stop();
    for (const log of logs) log.end();
    await rm(dir, { recursive: true, force: true });
    removeOwnerRecord(ownerRecord);
  };

  try {
    const address = options.apiServerAddress ?? '127.0.0.1';
    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort(address)];
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    programs.etcd = new Program(
      'etcd',
      [
        '--name=local',
        `--data-dir=${path.join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=local=http://127.0.0.1:${etcdPeer}`,
        '--log-level=warn',
      ],
      output,
      logFor('etcd'),
    );
    recordOwner();

    const users = { admin: ['system:masters'], ...options.users, ...(options.controllers ? { 'system:kube-controller-manager': ['system:masters'] } : {}) };
    const tokens = new Map(Object.keys(users).map((user) => [user, randomBytes(16).toString('hex')]));
    // Token file lines: token,user,uid,"group1,group2".
    const tokenLines = Object.entries(users).map(([user, groups]) => `${tokens.get(user)},${user},${user}${groups.length > 0 ? `,"${groups.join(',')}"` : ''}`);
    await writeFile(path.join(dir, 'tokens.csv'), `${tokenLines.join('\n')}\n`, { mode: 0o600 });
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(path.join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(path.join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });

    const apiServerArgs = (port: number) => [
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${address}`,
      `--advertise-address=${address}`,
      `--secure-port=${port}`,
      `--cert-dir=${path.join(dir, 'certs')}`,
      `--token-auth-file=${path.join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${path.join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${path.join(dir, 'sa.key')}`,
      `--service-cluster-ip-range=${options.serviceClusterIpRange ?? '10.77.100.0/24'}`,
      // No kubelet runs the API server's own Endpoints here; and pods name service accounts their
      // creator may not have created.
      '--endpoint-reconciler-type=none',
      '--disable-admission-plugins=ServiceAccount',
      '--enable-priority-and-fairness=false',
    ];
    const server = `https://${address}:${apiPort}`;
    let currentServer = server;
    const kubeConfig = (user = 'admin') => {
      const token = tokens.get(user);
      if (token === undefined) throw new MeshError('KUBE_LOCAL_ERR_NO_USER', `no token user ${user}`, { hint: `users: ${[...tokens.keys()].join(', ')}` });
      return tokenConfig(currentServer, token);
    };
    const startApiServer = async (port = apiPort) => {
      currentServer = `https://${address}:${port}`;
      const program = new Program('kube-apiserver', apiServerArgs(port), output, logFor('kube-apiserver'));
      programs.apiServer = program;
      recordOwner();
      const core = kubeConfig().makeApiClient(CoreV1Api);
      await pollUntil(() => core.listNamespace().then(() => true), {
        what: `kube-apiserver on ${address}:${port} serving`,
        timeoutMs: READY_TIMEOUT_MS,
        giveUpIf: () => program.exitReason('kube-apiserver') ?? programs.etcd?.exitReason('etcd'),
        lastSeen: () => output.join('').slice(-2000),
      });
    };
    await startApiServer();

    const kubeconfigFor = async (user: string) => {
      const token = tokens.get(user);
      if (token === undefined) throw new MeshError('KUBE_LOCAL_ERR_NO_USER', `no token user ${user}`, { hint: `users: ${[...tokens.keys()].join(', ')}` });
      const file = path.join(dir, `${user.replaceAll(':', '-')}.kubeconfig`);
      // The API server's self-signed certificate (its own CA) is in its cert dir.
      const ca = readFileSync(path.join(dir, 'certs', 'apiserver.crt')).toString('base64');
      await writeFile(
        file,
        [
          'apiVersion: v1',
          'kind: Config',
          `clusters: [{name: local, cluster: {server: "${server}", certificate-authority-data: "${ca}"}}]`,
          `users: [{name: "${user}", user: {token: "${token}"}}]`,
          `contexts: [{name: "${user}", context: {cluster: local, user: "${user}"}}]`,
          `current-context: "${user}"`,
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      return file;
    };

    if (options.controllers) {
      const port = await freePort();
      const program = new Program(
        'kube-controller-manager',
        [
          `--kubeconfig=${await kubeconfigFor('system:kube-controller-manager')}`,
          `--controllers=${options.controllers.join(',')}`,
          '--leader-elect=false',
          '--bind-address=127.0.0.1',
          `--secure-port=${port}`,
          `--cert-dir=${path.join(dir, 'certs', 'controller-manager')}`,
          `--service-account-private-key-file=${path.join(dir, 'sa.key')}`,
          `--service-cluster-ip-range=${options.serviceClusterIpRange ?? '10.77.100.0/24'}`,
          '--use-service-account-credentials=false',
          '--allocate-node-cidrs=false',
        ],
        output,
        logFor('kube-controller-manager'),
      );
      programs.controllerManager = program;
      recordOwner();
      await pollUntil(async () => (await httpsStatus(`https://127.0.0.1:${port}/healthz`)) === 200, {
        what: `kube-controller-manager on 127.0.0.1:${port} healthy`,
        timeoutMs: READY_TIMEOUT_MS,
        giveUpIf: () => program.exitReason('kube-controller-manager'),
        lastSeen: () => output.join('').slice(-2000),
      });
    }

    return {
      server,
      dir,
      etcdUrl,
      kubeConfig,
      kubeconfigFor,
      pids: () => [programs.etcd, programs.apiServer, programs.controllerManager].flatMap((p) => (p?.running && p.child.pid ? [p.child.pid] : [])),
      output: () => output.join(''),
      stopApiServer: async () => programs.apiServer?.stop(),
      startApiServer,
      async compactEtcd() {
        // etcd's JSON gateway (gRPC KV.Range / KV.Compact).
        const range = await fetch(`${etcdUrl}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) });
        const revision = ((await range.json()) as { header: { revision: string } }).header.revision;
        const compacted = await fetch(`${etcdUrl}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision, physical: true }) });
        if (!compacted.ok) throw new MeshError('KUBE_LOCAL_ERR_COMPACT', `etcd compaction failed: ${compacted.status} ${await compacted.text()}`);
      },
      close,
    };
  } catch (err) {
    const tail = output.join('').slice(-4000);
    await close();
    throw new MeshError('KUBE_LOCAL_ERR_START', `the local Kubernetes control plane did not start: ${(err as Error).message}\n--- etcd/kube-apiserver/kube-controller-manager output ---\n${tail}`, {
      cause: err,
    });
  }
}

/** Creates the real CRDs (tools.ts; Gateway API's `channel`, default standard) and waits until the API server serves every one. */
export async function installCrds(config: KubeConfig, channel: GatewayApiChannel = 'standard'): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(config);
  const crds = realCrds(channel);
  for (const crd of crds) await client.create(crd);
  const extensions = config.makeApiClient(ApiextensionsV1Api);
  await pollUntil(
    async () => {
      const list = await extensions.listCustomResourceDefinition();
      const established = list.items.filter((c) => c.status?.conditions?.some((cond) => cond.type === 'Established' && cond.status === 'True'));
      return established.length >= crds.length;
    },
    { what: 'the CRDs established', timeoutMs: 60_000 },
  );
}
