import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { isIPv4 } from 'node:net';
import { MeshError } from '@mesh/errors';
import { createCommandRunner, runChecked, type CommandResult, type CommandRunner } from './command-runner.js';

/**
 * Network-namespace topology for the dev mesh and the e2e tests: one namespace per node on a
 * shared underlay, one per pod joined to its node by a veth pair, routes so every pod reaches
 * every other pod through the nodes. Nothing is created in the caller's (root) namespace:
 *
 *   <prefix>ul        underlay "switch": bridge br0, one port n<i> per node
 *   <prefix>n-<node>  node: eth0 on the underlay (its address), v<j> per pod (169.254.1.1/32),
 *                     ip_forward on, a /32 route per pod (local: dev v<j>; remote: via that node)
 *   <prefix>p-<ns>-<pod>  pod: eth0 (its IP/32), default via 169.254.1.1, lo up
 *
 * Interface names are short indexes (n0, v3) because Linux caps them at 15 characters; they
 * only need to be unique inside their namespace. Namespace names carry the prefix, so
 * `destroyTopology(prefix)` finds everything, also after a crash.
 *
 * The spec is plain data; mapping a mesh snapshot to it is the caller's job.
 */

export interface TopologyNodeSpec {
  readonly name: string;
  /** The node's underlay (InternalIP) address. */
  readonly address: string;
}

export interface TopologyPodSpec {
  readonly name: string;
  readonly namespace?: string;
  /** Name of the node it runs on. */
  readonly node: string;
  readonly ip: string;
}

export interface TopologySpec {
  /** Start of every namespace name this topology creates; unique per run (e.g. `mt-3fa2-`). */
  readonly prefix: string;
  /**
   * Underlay subnet, e.g. `172.30.0.0/24`; node addresses must lie in it. Without it, each
   * node address is a /32 with an on-link route to every other node, so any addresses work.
   */
  readonly underlayCidr?: string;
  readonly nodes: readonly TopologyNodeSpec[];
  readonly pods: readonly TopologyPodSpec[];
}

export interface TopologyNode {
  readonly name: string;
  readonly address: string;
  readonly netns: string;
}

export interface TopologyPod {
  readonly name: string;
  readonly namespace: string;
  readonly node: string;
  readonly ip: string;
  readonly netns: string;
  /** The node-side end of the pod's veth pair, inside the node's namespace. */
  readonly nodeInterface: string;
}

export interface Topology {
  readonly prefix: string;
  readonly underlayNetns: string;
  readonly nodes: readonly TopologyNode[];
  readonly pods: readonly TopologyPod[];
  node(name: string): TopologyNode;
  /** `namespace` defaults to `default`. */
  pod(name: string, namespace?: string): TopologyPod;
  /** Adds a pod to a running topology (a new pod in the mesh): namespace, veth, routes on every node. */
  addPod(pod: TopologyPodSpec): Promise<TopologyPod>;
  /** Removes a pod: kills its processes, deletes its namespace and the other nodes' routes to it. */
  removePod(name: string, namespace?: string): Promise<void>;
  /** Runs a command in a namespace; a non-zero exit throws NETFILTER_ERR_COMMAND_FAILED. */
  exec(netns: string, argv: readonly string[], input?: string): Promise<CommandResult>;
  /** Starts a long-running process inside a namespace (`ip netns exec`). */
  spawn(netns: string, command: string, args?: readonly string[], options?: SpawnOptions): ChildProcess;
  /** Same as `destroyTopology(prefix)`. */
  destroy(): Promise<void>;
}

/** Address of the node side of every pod veth: the pods' default gateway (Calico-style). */
export const POD_GATEWAY_ADDRESS = '169.254.1.1';
const DEFAULT_POD_NAMESPACE = 'default';
/** Refuse prefixes so short they could match namespaces someone else made. */
const MIN_PREFIX_LENGTH = 3;
const PREFIX_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function sanitize(part: string): string {
  return part.replace(/[^a-zA-Z0-9_.-]/g, '_');
}

function requirePrefix(prefix: string): void {
  if (prefix.length < MIN_PREFIX_LENGTH || !PREFIX_PATTERN.test(prefix)) {
    throw new MeshError('NETFILTER_ERR_BAD_TOPOLOGY', `namespace prefix "${prefix}" is too short or has odd characters`, {
      context: { prefix },
      hint: `use at least ${MIN_PREFIX_LENGTH} characters of [a-zA-Z0-9_.-], unique per run, e.g. "mt-3fa2-"`,
    });
  }
}

function parseCidr(cidr: string): { network: number; length: number } {
  const [address, lengthText] = cidr.split('/');
  const length = Number(lengthText);
  if (!address || !isIPv4(address) || !Number.isInteger(length) || length < 1 || length > 32) {
    throw new MeshError('NETFILTER_ERR_BAD_TOPOLOGY', `underlay CIDR "${cidr}" is not an IPv4 prefix`, { context: { cidr } });
  }
  return { network: ipToNumber(address), length };
}

function ipToNumber(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

function inCidr(ip: string, cidr: { network: number; length: number }): boolean {
  const size = 2 ** (32 - cidr.length);
  return Math.floor(ipToNumber(ip) / size) === Math.floor(cidr.network / size);
}

function badTopology(message: string, context: Record<string, unknown>): MeshError {
  return new MeshError('NETFILTER_ERR_BAD_TOPOLOGY', message, { context });
}

/**
 * Names one pod and checks it against what exists: its node, its IP (unique among `addresses`,
 * which it joins) and its namespace/name (unique among `pods`).
 */
function planPod(
  prefix: string,
  pod: TopologyPodSpec,
  index: number,
  nodes: readonly TopologyNode[],
  pods: readonly TopologyPod[],
  addresses: Set<string>,
): TopologyPod {
  const namespace = pod.namespace ?? DEFAULT_POD_NAMESPACE;
  if (!nodes.some((n) => n.name === pod.node)) throw badTopology(`pod ${namespace}/${pod.name}: unknown node "${pod.node}"`, { pod: pod.name });
  if (!isIPv4(pod.ip)) throw badTopology(`pod ${namespace}/${pod.name}: ip "${pod.ip}" is not IPv4`, { pod: pod.name });
  const netns = `${prefix}p-${sanitize(namespace)}-${sanitize(pod.name)}`;
  if (pods.some((p) => p.netns === netns)) {
    throw badTopology(`pod ${namespace}/${pod.name} exists already (pod names are unique per namespace)`, { pod: pod.name, namespace });
  }
  if (addresses.has(pod.ip)) throw badTopology(`address ${pod.ip} is used twice`, { address: pod.ip });
  addresses.add(pod.ip);
  return { name: pod.name, namespace, node: pod.node, ip: pod.ip, netns, nodeInterface: `v${index}` };
}

/** Namespace and interface names for a spec; pure, so tests and callers can predict them. */
export function planTopology(spec: TopologySpec): { underlayNetns: string; nodes: TopologyNode[]; pods: TopologyPod[] } {
  requirePrefix(spec.prefix);
  const underlay = spec.underlayCidr === undefined ? undefined : parseCidr(spec.underlayCidr);
  const addresses = new Set<string>();
  const nodes = spec.nodes.map((node): TopologyNode => {
    if (!isIPv4(node.address)) throw badTopology(`node ${node.name}: address "${node.address}" is not IPv4`, { node: node.name });
    if (underlay && !inCidr(node.address, underlay)) {
      throw badTopology(`node ${node.name}: ${node.address} is outside the underlay ${spec.underlayCidr}`, { node: node.name });
    }
    if (addresses.has(node.address)) throw badTopology(`address ${node.address} is used twice`, { address: node.address });
    addresses.add(node.address);
    return { name: node.name, address: node.address, netns: `${spec.prefix}n-${sanitize(node.name)}` };
  });
  const nodeNetns = new Set(nodes.map((n) => n.netns));
  if (nodeNetns.size !== nodes.length) throw badTopology('node names must be unique', { nodes: nodes.map((n) => n.name) });
  const pods: TopologyPod[] = [];
  for (const [index, pod] of spec.pods.entries()) pods.push(planPod(spec.prefix, pod, index, nodes, pods, addresses));
  return { underlayNetns: `${spec.prefix}ul`, nodes, pods };
}

async function addNamespace(runner: CommandRunner, netns: string): Promise<void> {
  await runChecked(runner, { argv: ['ip', 'netns', 'add', netns] });
  await runChecked(runner, { argv: ['ip', 'link', 'set', 'lo', 'up'], netns });
}

/** Creates a pod's namespace and joins it to its node; routes to it on every other node. */
async function wirePod(runner: CommandRunner, nodes: readonly TopologyNode[], pod: TopologyPod): Promise<void> {
  const run = (netns: string, ...argv: string[]) => runChecked(runner, { argv, netns });
  const node = nodes.find((n) => n.name === pod.node);
  if (!node) throw badTopology(`pod ${pod.name}: unknown node`, { pod: pod.name });
  await addNamespace(runner, pod.netns);
  await run(node.netns, 'ip', 'link', 'add', pod.nodeInterface, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.netns);
  await run(node.netns, 'ip', 'addr', 'add', `${POD_GATEWAY_ADDRESS}/32`, 'dev', pod.nodeInterface);
  await run(node.netns, 'ip', 'link', 'set', pod.nodeInterface, 'up');
  // src = the node address, so connections from the node (ztunnel) to a pod come from it.
  await run(node.netns, 'ip', 'route', 'add', `${pod.ip}/32`, 'dev', pod.nodeInterface, 'scope', 'link', 'src', node.address);
  await run(pod.netns, 'ip', 'addr', 'add', `${pod.ip}/32`, 'dev', 'eth0');
  await run(pod.netns, 'ip', 'link', 'set', 'eth0', 'up');
  await run(pod.netns, 'ip', 'route', 'add', POD_GATEWAY_ADDRESS, 'dev', 'eth0', 'scope', 'link');
  await run(pod.netns, 'ip', 'route', 'add', 'default', 'via', POD_GATEWAY_ADDRESS, 'dev', 'eth0');
  for (const other of nodes) {
    if (other !== node) await run(other.netns, 'ip', 'route', 'add', `${pod.ip}/32`, 'via', node.address, 'dev', 'eth0');
  }
}

/** Undoes wirePod, tolerating parts already gone. The node-side veth dies with the namespace. */
async function unwirePod(runner: CommandRunner, nodes: readonly TopologyNode[], pod: TopologyPod): Promise<void> {
  await deleteNamespace(runner, pod.netns);
  for (const other of nodes) {
    if (other.name !== pod.node) await runner.run({ argv: ['ip', 'route', 'del', `${pod.ip}/32`], netns: other.netns });
  }
}

/**
 * Creates the namespaces, links, addresses and routes. On any failure everything created so far
 * is destroyed before the error is rethrown.
 */
export async function createTopology(spec: TopologySpec, runner: CommandRunner = createCommandRunner()): Promise<Topology> {
  const planned = planTopology(spec);
  const run = (netns: string, ...argv: string[]) => runChecked(runner, { argv, netns });
  const existing = await listNamespaces(spec.prefix, runner);
  if (existing.length > 0) {
    throw new MeshError('NETFILTER_ERR_TOPOLOGY_EXISTS', `namespaces with prefix ${spec.prefix} already exist: ${existing.join(', ')}`, {
      context: { prefix: spec.prefix, existing },
      hint: `run destroyTopology("${spec.prefix}") or choose a fresh prefix`,
    });
  }
  const underlayLength = spec.underlayCidr === undefined ? 32 : parseCidr(spec.underlayCidr).length;
  try {
    for (const netns of [planned.underlayNetns, ...planned.nodes.map((n) => n.netns)]) await addNamespace(runner, netns);
    for (const node of planned.nodes) {
      // Forward between pods and the underlay; no reverse-path filter, which would drop
      // TPROXY'd and source-preserving traffic that arrives on an unexpected interface. Set
      // before any interface exists, so every interface inherits the `default` values.
      await run(node.netns, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0');
    }
    const ul = planned.underlayNetns;
    await run(ul, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    await run(ul, 'ip', 'link', 'set', 'br0', 'up');
    for (const [i, node] of planned.nodes.entries()) {
      // Created from inside the underlay namespace with the peer placed straight into the node's:
      // neither end ever exists in the root namespace.
      await run(ul, 'ip', 'link', 'add', `n${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.netns);
      await run(ul, 'ip', 'link', 'set', `n${i}`, 'master', 'br0', 'up');
      await run(node.netns, 'ip', 'addr', 'add', `${node.address}/${underlayLength}`, 'dev', 'eth0');
      await run(node.netns, 'ip', 'link', 'set', 'eth0', 'up');
      if (underlayLength === 32) {
        for (const other of planned.nodes) {
          if (other !== node) await run(node.netns, 'ip', 'route', 'add', `${other.address}/32`, 'dev', 'eth0', 'scope', 'link');
        }
      }
    }
    for (const pod of planned.pods) await wirePod(runner, planned.nodes, pod);
  } catch (err) {
    await destroyTopology(spec.prefix, runner).catch(() => undefined);
    throw err;
  }

  const pods = [...planned.pods];
  const addresses = new Set([...planned.nodes.map((n) => n.address), ...pods.map((p) => p.ip)]);
  // Interface indexes are never reused, so a re-added pod cannot meet a dying namesake.
  let nextInterfaceIndex = pods.length;
  return {
    prefix: spec.prefix,
    underlayNetns: planned.underlayNetns,
    nodes: planned.nodes,
    get pods() {
      return [...pods];
    },
    async addPod(podSpec) {
      const pod = planPod(spec.prefix, podSpec, nextInterfaceIndex++, planned.nodes, pods, new Set(addresses));
      try {
        await wirePod(runner, planned.nodes, pod);
      } catch (err) {
        await unwirePod(runner, planned.nodes, pod).catch(() => undefined);
        throw err;
      }
      pods.push(pod);
      addresses.add(pod.ip);
      return pod;
    },
    async removePod(name, namespace = DEFAULT_POD_NAMESPACE) {
      const index = pods.findIndex((p) => p.name === name && p.namespace === namespace);
      const pod = pods[index];
      if (!pod) throw badTopology(`no pod "${namespace}/${name}" in this topology`, { pod: name, namespace });
      await unwirePod(runner, planned.nodes, pod);
      pods.splice(index, 1);
      addresses.delete(pod.ip);
    },
    node(name) {
      const found = planned.nodes.find((n) => n.name === name);
      if (!found) throw badTopology(`no node "${name}" in this topology`, { node: name });
      return found;
    },
    pod(name, namespace = DEFAULT_POD_NAMESPACE) {
      const found = pods.find((p) => p.name === name && p.namespace === namespace);
      if (!found) throw badTopology(`no pod "${namespace}/${name}" in this topology`, { pod: name, namespace });
      return found;
    },
    exec: (netns, argv, input) => runChecked(runner, { argv, netns, ...(input === undefined ? {} : { input }) }),
    spawn: (netns, command, args = [], options = {}) => spawn('ip', ['netns', 'exec', netns, command, ...args], options),
    destroy: () => destroyTopology(spec.prefix, runner),
  };
}

/** Names from `ip netns list` that start with `prefix`. */
export async function listNamespaces(prefix: string, runner: CommandRunner = createCommandRunner()): Promise<string[]> {
  const listed = await runChecked(runner, { argv: ['ip', 'netns', 'list'] });
  return listed.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name.startsWith(prefix));
}

/** Kills the processes inside `netns`, then deletes it; absent already is fine. */
async function deleteNamespace(runner: CommandRunner, netns: string): Promise<void> {
  const pids = await runner.run({ argv: ['ip', 'netns', 'pids', netns] });
  for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  const deleted = await runner.run({ argv: ['ip', 'netns', 'del', netns] });
  if (deleted.exitCode !== 0 && !/No such file/.test(deleted.stderr)) {
    throw new MeshError('NETFILTER_ERR_TOPOLOGY_CLEANUP', `ip netns del ${netns}: ${deleted.stderr.trim()}`, { context: { netns } });
  }
}

/**
 * Deletes every namespace whose name starts with `prefix`, after killing the processes still
 * inside it (they would keep the namespace, and its veths, alive). Idempotent; safe after a
 * crash. Deleting a namespace deletes its interfaces and so both ends of every veth pair.
 */
export async function destroyTopology(prefix: string, runner: CommandRunner = createCommandRunner()): Promise<void> {
  requirePrefix(prefix);
  const failures: string[] = [];
  for (const netns of await listNamespaces(prefix, runner)) {
    try {
      await deleteNamespace(runner, netns);
    } catch (err) {
      failures.push(`${netns}: ${(err as Error).message}`);
    }
  }
  if (failures.length > 0) {
    throw new MeshError('NETFILTER_ERR_TOPOLOGY_CLEANUP', `could not delete namespaces: ${failures.join('; ')}`, {
      context: { prefix, failures },
    });
  }
}
