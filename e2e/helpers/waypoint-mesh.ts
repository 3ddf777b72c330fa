/**
 * The two-node mesh with a waypoint, as the waypoint suites run it (root): namespaces for the two
 * nodes and the given pods, istiod-lite on the underlay (routes to the pod CIDRs through the
 * nodes, since the waypoint is a pod it must reach), the pods' servers, a ztunnel per node in
 * transparent mode with the given xDS dialect, and the waypoint in its pod with the credential
 * istiod-lite issues its Gateway, `<state-dir>/waypoints/<ns>/<gateway>` (apps/waypoint/ARCHITECTURE.md). Resolves once both ztunnels are ready
 * with capture rules applied and the waypoint is ready. Everything it starts belongs to `suite`
 * (its teardown removes it, also after a failure here).
 */
import { createTopology, type Topology, type TopologyPodSpec } from '@mesh/netfilter';
import type { MeshFiles, XdsDialect } from './mesh.js';
import { httpInNetns } from './netns.js';
import { ISTIOD_MAIN, ZTUNNEL_MAIN, waitFor, type AppProcess } from './process.js';
import type { NamespaceSuite } from './suite.js';
import { WAYPOINT_MAIN } from './waypoint.js';

export const WAYPOINT_MESH_ISTIOD_ADDRESS = '10.77.0.2';
const NODES = [
  { name: 'node-a', address: '10.77.0.11' },
  { name: 'node-b', address: '10.77.0.12' },
] as const;

export interface WaypointMeshSpec {
  readonly suite: NamespaceSuite;
  readonly files: MeshFiles;
  readonly pods: readonly TopologyPodSpec[];
  readonly dialect: XdsDialect;
  /** The waypoint's pod (one of `pods`), its node, and the Gateway whose credential it uses. */
  readonly waypoint: { readonly pod: string; readonly namespace: string; readonly ip: string; readonly node: string; readonly gateway: string };
  /** Starts the pods' servers: after istiod-lite is ready, before the ztunnels capture. */
  readonly startPods: (topology: Topology) => Promise<void>;
}

export interface WaypointMesh {
  readonly topology: Topology;
  readonly ztunnels: readonly AppProcess[];
  readonly waypoint: AppProcess;
}

export async function startWaypointMesh(spec: WaypointMeshSpec): Promise<WaypointMesh> {
  const { suite, files, dialect } = spec;
  const istiodAddress = WAYPOINT_MESH_ISTIOD_ADDRESS;
  const topology = await createTopology({ prefix: suite.prefix, underlayCidr: '10.77.0.0/24', nodes: [...NODES], pods: [...spec.pods] });
  const underlay = topology.underlayNetns;
  await topology.exec(underlay, ['ip', 'addr', 'add', `${istiodAddress}/24`, 'dev', 'br0']);
  // The waypoint is a pod: istiod-lite must reach pod addresses through their nodes.
  await topology.exec(underlay, ['ip', 'route', 'replace', '10.77.1.0/24', 'via', NODES[0].address]);
  await topology.exec(underlay, ['ip', 'route', 'replace', '10.77.2.0/24', 'via', NODES[1].address]);
  const istiod = suite.start('istiod-lite', underlay, ISTIOD_MAIN, ['--config-dir', files.configDir, '--state-dir', files.stateDir, '--listen-address', istiodAddress]);
  await istiod.waitForLog((e) => e['msg'] === 'istiod-lite ready');
  await spec.startPods(topology);
  const nodeNs = (node: string) => topology.node(node).netns;
  const ztunnels = NODES.map(({ name }) =>
    suite.start(`ztunnel ${name}`, nodeNs(name), ZTUNNEL_MAIN, [
      '--node-name', name, '--xds-address', `${istiodAddress}:15012`, '--bootstrap-dir', `${files.stateDir}/nodes/${name}`,
      '--capture-mode', 'transparent', '--capture-netns', nodeNs(name), '--xds-dialect', dialect,
    ]),
  );
  const { pod, namespace, ip, node, gateway } = spec.waypoint;
  const podNs = topology.pod(pod, namespace).netns;
  const waypoint = suite.start('waypoint', podNs, WAYPOINT_MAIN, [
    '--node-name', node, '--pod-name', pod, '--namespace', namespace, '--pod-ip', ip,
    '--xds-address', `${istiodAddress}:15012`, '--bootstrap-dir', `${files.stateDir}/waypoints/${namespace}/${gateway}`, '--listen-address', ip,
  ]);
  for (const [i, { name }] of NODES.entries()) {
    await waitFor(async () => (await httpInNetns(nodeNs(name), 15021, '/healthz/ready').catch(() => ({ status: 0 }))).status === 200, 30_000, `ztunnel ${name} ready`);
    await ztunnels[i]!.waitForLog((e) => e['msg'] === 'capture rules applied', 15_000);
  }
  // Readiness listens beside HBONE on the pod's address, for probes (the admin API stays on the pod's loopback).
  await waitFor(async () => (await httpInNetns(podNs, 15021, '/healthz/ready', 'GET', ip).catch(() => ({ status: 0 }))).status === 200, 30_000, 'waypoint ready');
  return { topology, ztunnels, waypoint };
}
