/**
 * The sample mesh's two nodes as network namespaces with istiod-lite on the underlay and a
 * transparent ztunnel per node, for suites that act on the whole mesh (faults, restarts):
 * start, stop and restart each process, reach a pod or a node from inside, read the logs, and
 * put back after a test what it broke. Built on NamespaceSuite (names, teardown, stale sweep).
 */
import { onTestFinished } from 'vitest';
import { createTopology, type Topology, type TopologyPodSpec } from '@mesh/netfilter';
import { readLine } from './client.js';
import { createMeshFiles, type MeshFiles } from './mesh.js';
import { connectFrom, httpInNetns } from './netns.js';
import { ISTIOD_MAIN, ZTUNNEL_MAIN, waitFor, type AppProcess, type LogEntry } from './process.js';
import { NamespaceSuite } from './suite.js';

export const ISTIOD_ADDRESS = '10.77.0.2';
export const NODE_ADDRESSES: Readonly<Record<string, string>> = { 'node-a': '10.77.0.11', 'node-b': '10.77.0.12' };
/** How long a process may take to get ready on a busy machine (a restart under `test:stress` with other work running took over 45 s). */
const READY_TIMEOUT_MS = 90_000;

export interface TwoNodeMeshOptions {
  /** NamespaceSuite tag: two letters no other suite uses. */
  tag: string;
  /** Pods that get a namespace (the manifests may name more). */
  pods: readonly TopologyPodSpec[];
  /** Extra istiod-lite flags, on every start. */
  istiodArgs?: readonly string[];
  /** Extra flags of a node's ztunnel, on every start. */
  ztunnelArgs?: (node: string) => readonly string[];
}

export class TwoNodeMesh {
  readonly suite: NamespaceSuite;
  readonly ztunnels: Record<string, AppProcess> = {};
  istiod!: AppProcess;
  files!: MeshFiles;
  topology!: Topology;
  readonly #options: TwoNodeMeshOptions;

  constructor(options: TwoNodeMeshOptions) {
    this.#options = options;
    this.suite = new NamespaceSuite(options.tag);
  }

  /** Namespaces, istiod-lite, both ztunnels ready with their capture rules. Cleans up if it fails. */
  async start(): Promise<void> {
    await this.suite.removeStale();
    try {
      this.files = await createMeshFiles();
      this.topology = await createTopology({
        prefix: this.suite.prefix,
        underlayCidr: '10.77.0.0/24',
        nodes: Object.entries(NODE_ADDRESSES).map(([name, address]) => ({ name, address })),
        pods: [...this.#options.pods],
      });
      await this.topology.exec(this.topology.underlayNetns, ['ip', 'addr', 'add', `${ISTIOD_ADDRESS}/24`, 'dev', 'br0']);
      await this.startIstiod();
      for (const node of Object.keys(NODE_ADDRESSES)) this.startZtunnel(node);
      for (const node of Object.keys(NODE_ADDRESSES)) {
        await this.ready(node);
        await this.ztunnels[node]!.waitForLog((e) => e['msg'] === 'capture rules applied', READY_TIMEOUT_MS);
      }
    } catch (err) {
      await this.teardown();
      throw err;
    }
  }

  async teardown(): Promise<void> {
    await this.suite.teardown();
    await this.files?.cleanup();
  }

  podNs(name: string, namespace = 'default'): string {
    return this.topology.pod(name, namespace).netns;
  }

  nodeNs(node: string): string {
    return this.topology.node(node).netns;
  }

  /** Starts istiod-lite (again) on the underlay; resolves once it is ready. */
  async startIstiod(extraArgs: readonly string[] = []): Promise<AppProcess> {
    this.istiod = this.suite.start('istiod-lite', this.topology.underlayNetns, ISTIOD_MAIN, [
      '--config-dir', this.files.configDir,
      '--state-dir', this.files.stateDir,
      '--listen-address', ISTIOD_ADDRESS,
      ...(this.#options.istiodArgs ?? []),
      ...extraArgs,
    ]);
    await this.istiod.waitForLog((e) => e['msg'] === 'istiod-lite ready', READY_TIMEOUT_MS);
    return this.istiod;
  }

  /** Starts a node's ztunnel (again); does not wait for it (see ready()). */
  startZtunnel(node: string): AppProcess {
    const p = this.suite.start(`ztunnel ${node}`, this.nodeNs(node), ZTUNNEL_MAIN, [
      '--node-name', node,
      '--xds-address', `${ISTIOD_ADDRESS}:15012`,
      '--bootstrap-dir', `${this.files.stateDir}/nodes/${node}`,
      '--capture-mode', 'transparent',
      '--capture-netns', this.nodeNs(node),
      ...(this.#options.ztunnelArgs?.(node) ?? []),
    ]);
    this.ztunnels[node] = p;
    return p;
  }

  /** Until the node's ztunnel answers 200 on /healthz/ready (config, certificates, capture rules). */
  async ready(node: string, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    await waitFor(async () => (await httpInNetns(this.nodeNs(node), 15021, '/healthz/ready')).status === 200, timeoutMs, `ztunnel ${node} ready`);
  }

  /**
   * When the current test ends, starts again whatever it left stopped or killed: istiod-lite,
   * then each ztunnel, and waits until they are ready, so the next test finds the whole mesh.
   */
  restoreAfterTest(): void {
    onTestFinished(async () => {
      if (!this.istiod.running) await this.startIstiod();
      for (const node of Object.keys(NODE_ADDRESSES)) {
        if (this.ztunnels[node]!.running) continue;
        this.startZtunnel(node);
        await this.ready(node);
      }
    }, READY_TIMEOUT_MS * 3);
  }

  /** A client in the pod connects (plain connect(), captured) and reads the first line. */
  async ask(fromPod: string, host: string, port: number, timeoutMs = 5_000, namespace = 'default'): Promise<string> {
    const socket = connectFrom(this.podNs(fromPod, namespace), host, port);
    try {
      return await readLine(socket, timeoutMs);
    } finally {
      socket.destroy();
    }
  }

  /** What a client in the pod gets: the first line, or `refused: <why>` when the connection fails. */
  answer(fromPod: string, host: string, port: number, timeoutMs = 5_000, namespace = 'default'): Promise<string> {
    return this.ask(fromPod, host, port, timeoutMs, namespace).catch((err: Error) => `refused: ${err.message}`);
  }

  /** The first access log line of a node's ztunnel (present or to come) that satisfies `predicate`. */
  accessLog(node: string, predicate: (e: LogEntry) => boolean, timeoutMs?: number): Promise<LogEntry> {
    return this.ztunnels[node]!.waitForLog((e) => e['scope'] === 'access' && predicate(e), timeoutMs);
  }

  /** GET on istiod-lite's debug API (its loopback, inside the underlay namespace). */
  async istiodDebug(path: string): Promise<{ status: number; body: string }> {
    return httpInNetns(this.topology.underlayNetns, 15014, path);
  }
}
