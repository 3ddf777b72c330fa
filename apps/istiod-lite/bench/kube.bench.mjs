// `pnpm bench kube [--quick]`: istiod-lite on a real kube-apiserver (issue 22, Benchmark) — 2,000
// pods / 200 services / 20 nodes created through the API, with Istio's and Gateway API's real CRDs
// installed; `--quick` is 500 pods / 50 services / 20 nodes and fewer samples.
//
// The control plane is the test harness's (apps/istiod-lite/test/kube-cluster.ts: etcd +
// kube-apiserver v1.37.2 on loopback ports of its own, built by `npm run setup`), imported as
// TypeScript: Node 24 strips its types. Without the tools the rows are recorded with value null and
// the reason. The objects are created in parallel batches (32 requests in flight) by the harness's
// admin client; the bench plays kubelet, setting each Node's address and each Pod's IP and
// Ready through the `status` subresource (the harness's setPodStatus / setNodeStatus).
//
// Rows:
// - `kube initial sync ms`: istiod-lite's own process (`--config-source kubernetes`, the real main)
//   spawned → its "listed the Kubernetes API" line, logged once every informer has listed and the
//   first snapshot of the whole cluster is built. `readyMs` (serving, node credentials issued; the
//   state dir is kept between runs, so only the first run issues them) and `clientsSyncedMs` (every
//   client below holds every pod and service) are beside it.
// - `kube pod ready to ztunnel p50 ms`: a new Pod with its IP but not Ready (every client already
//   holds it as UNHEALTHY) is set Ready through the status subresource; from just before that write
//   until every one of the 20 ztunnel-like clients (one per node: the project's own XdsClient, delta,
//   workload dialect, as a ztunnel with `--xds-dialect workload` connects) has applied the Address
//   and it is no longer UNHEALTHY. istiod-lite's 100 ms debounce is included.
// - `istiod-lite kube rss MiB`: istiod-lite's resident memory with the cluster listed and the
//   clients synced (after the samples in `afterSamplesMiB`).
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CoreV1Api } from '@kubernetes/client-node';
import { XdsClient, TYPE_URL } from '@mesh/xds';
import { createRecorder, median, percentile } from '../../../scripts/bench-lib.mjs';
import { startIstiodProcess } from './istiod-process.mjs';

const FULL = { pods: 2_000, services: 200, nodes: 20, namespaces: 10, samples: 15 };
const QUICK = { pods: 500, services: 50, nodes: 20, namespaces: 5, samples: 5 };
/** Logged once every informer has listed and the first snapshot of the whole cluster is built. */
const LISTED = 'listed the Kubernetes API';
const KUBE_CLUSTER = new URL('../test/kube-cluster.ts', import.meta.url).href;
/** Node bootstrap keys (one RSA key per node) are kept between runs here, so only the first run pays for them. */
const STATE_DIR = path.join(homedir(), '.cache', 'ambient-mesh-ts', 'bench-kube-state');
const IN_FLIGHT = 32;
const WORKLOAD_TYPES = [TYPE_URL.ADDRESS, TYPE_URL.AUTHORIZATION];
const IMAGE = 'registry.invalid/bench:1';

/** Runs `fn` over `items`, `IN_FLIGHT` at a time. */
async function inBatches(items, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, items.length) }, worker));
}

async function waitFor(predicate, timeoutMs, what, pollMs = 5) {
  const deadline = performance.now() + timeoutMs;
  while (!(await predicate())) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

function podObject({ name, namespace, service, version, node }) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { app: service, version } },
    spec: { nodeName: node, serviceAccountName: `sa-${service.slice(4)}`, containers: [{ name: 'app', image: IMAGE, ports: [{ name: 'http', containerPort: 8080 }] }] },
  };
}

/** Creates a Pod and sets its status as a kubelet would (the harness's setPodStatus: Running, its IP, Ready or not). */
async function createPod(cluster, core, pod, podIP, ready) {
  await core.createNamespacedPod({ namespace: pod.metadata.namespace, body: pod });
  await cluster.setPodStatus(pod.metadata.namespace, pod.metadata.name, { podIP, ready });
}

/** The cluster as `syntheticMesh` lays it out: pods round-robin over nodes, node n's pods in 10.(20+n).0.0/16. */
async function createCluster(cluster, core, size) {
  const namespaces = Array.from({ length: size.namespaces }, (_, n) => `ns-${n}`);
  await inBatches(namespaces, (name) => core.createNamespace({ body: { metadata: { name, labels: { 'istio.io/dataplane-mode': 'ambient' } } } }));
  const nodes = Array.from({ length: size.nodes }, (_, n) => n);
  await inBatches(nodes, async (n) => {
    await core.createNode({ body: { metadata: { name: `node-${n}` }, spec: { podCIDR: `10.${20 + n}.0.0/16` } } });
    await cluster.setNodeStatus(`node-${n}`, `10.0.0.${n + 1}`);
  });
  const services = Array.from({ length: size.services }, (_, s) => s);
  // No clusterIP: the API server allocates one (the harness's range is 10.77.100.0/24).
  await inBatches(services, (s) =>
    core.createNamespacedService({
      namespace: `ns-${s % size.namespaces}`,
      body: { metadata: { name: `svc-${s}` }, spec: { selector: { app: `svc-${s}` }, ports: [{ name: 'http', port: 80, targetPort: 'http', appProtocol: 'http' }] } },
    }),
  );
  const pods = Array.from({ length: size.pods }, (_, p) => p);
  await inBatches(pods, (p) => {
    const s = p % size.services;
    const n = p % size.nodes;
    const i = Math.floor(p / size.nodes) + 1;
    const pod = podObject({ name: `svc-${s}-${p}`, namespace: `ns-${s % size.namespaces}`, service: `svc-${s}`, version: `v${p % 3}`, node: `node-${n}` });
    return createPod(cluster, core, pod, `10.${20 + n}.${i >> 8}.${i & 255}`, true);
  });
}

/**
 * A ztunnel-like client of node n: the project's XdsClient over delta in the workload dialect. It
 * remembers, per Address name, when it last applied it and whether it was UNHEALTHY.
 */
function ztunnelClient(target, n) {
  const client = new XdsClient({
    target,
    node: { id: `ztunnel~10.0.0.${n + 1}~ztunnel-node-${n}~istio-system.svc.cluster.local`, metadata: { NODE_NAME: `node-${n}` } },
    protocol: 'delta',
    typeUrls: WORKLOAD_TYPES,
  });
  const applied = new Map();
  client.on('resources', (update) => {
    if (update.typeUrl !== TYPE_URL.ADDRESS) return;
    const at = performance.now();
    for (const name of update.changed ?? []) applied.set(name, { at, unhealthy: undefined });
    if (!update.changed?.some((name) => watched.has(name))) return;
    for (const resource of update.resources) {
      const workload = resource.workload;
      const name = workload && [...watched].find((w) => w.endsWith(`/Pod/${workload.namespace}/${workload.name}`));
      if (name && applied.get(name)?.at === at) applied.get(name).unhealthy = workload.status === 'UNHEALTHY' || workload.status === 1;
    }
  });
  /** Address names whose status this client reads (the decoded set is large; only these are looked up). */
  const watched = new Set();
  return { client, applied, watched, addresses: () => client.current(TYPE_URL.ADDRESS)?.resources.length ?? 0, synced: () => WORKLOAD_TYPES.every((t) => client.current(t)) };
}

export async function run({ quick = false } = {}) {
  const size = quick ? QUICK : FULL;
  const scope = { mesh: `${size.pods} pods / ${size.services} services / ${size.nodes} nodes`, clients: size.nodes };
  const { results, record } = createRecorder();
  const names = ['kube initial sync ms', 'kube pod ready to ztunnel p50 ms', 'istiod-lite kube rss MiB'];
  const { kubeToolsMissing, startKubeCluster } = await import(KUBE_CLUSTER);
  const missing = kubeToolsMissing();
  if (missing) {
    for (const name of names) results.push({ name, value: null, note: missing });
    return results;
  }

  const setupStarted = performance.now();
  const cluster = await startKubeCluster();
  const clusterMs = performance.now() - setupStarted;
  const clients = [];
  let istiod;
  try {
    const core = cluster.admin.makeApiClient(CoreV1Api);
    const createStarted = performance.now();
    await createCluster(cluster, core, size);
    const createMs = performance.now() - createStarted;
    console.log(`kube-apiserver up in ${Math.round(clusterMs)} ms; ${scope.mesh} created in ${Math.round(createMs)} ms`);

    await mkdir(STATE_DIR, { recursive: true });
    istiod = await startIstiodProcess(['--config-source', 'kubernetes', '--kubeconfig', await cluster.kubeconfigFor('admin'), '--state-dir', STATE_DIR], { marks: [LISTED] });
    const target = `127.0.0.1:${istiod.ports.xds}`;
    for (let n = 0; n < size.nodes; n++) clients.push(ztunnelClient(target, n));
    for (const c of clients) c.client.start();
    // Every pod and every service (the API server's own `kubernetes` Service too, at least these).
    await waitFor(() => clients.every((c) => c.synced() && c.addresses() >= size.pods + size.services), 600_000, 'every client holding the whole cluster', 20);
    const clientsSyncedMs = performance.now() - istiod.spawned;
    record('kube initial sync ms', istiod.marks[LISTED], 'ms', { target: { max: 5_000 } });
    Object.assign(results.at(-1), { ...scope, readyMs: Math.round(istiod.readyMs), clientsSyncedMs: Math.round(clientsSyncedMs), apiServerStartMs: Math.round(clusterMs), createMs: Math.round(createMs) });
    const memory = await istiod.rssMiB();
    const rssRow = record('istiod-lite kube rss MiB', memory.rss, 'MiB', { target: { max: 400 } });
    Object.assign(rssRow, { ...scope, peakMiB: Math.round(memory.peak) });

    const samples = [];
    for (let i = 0; i < size.samples; i++) {
      const n = i % size.nodes;
      const s = (i * 7) % size.services;
      const pod = podObject({ name: `ready-${i}`, namespace: `ns-${s % size.namespaces}`, service: `svc-${s}`, version: 'v9', node: `node-${n}` });
      const podIP = `10.${20 + n}.250.${i + 1}`;
      const suffix = `/Pod/${pod.metadata.namespace}/${pod.metadata.name}`;
      // Its IP first, not Ready (as a kubelet reports a started pod before its readiness probe passes).
      await createPod(cluster, core, pod, podIP, false);
      const has = (c) => [...c.applied.keys()].find((name) => name.endsWith(suffix));
      await waitFor(() => clients.every((c) => has(c)), 60_000, `pod ${pod.metadata.name} (not ready) at every client`);
      const name = has(clients[0]);
      for (const c of clients) c.watched.add(name);
      await waitFor(() => clients.every((c) => c.applied.get(name)?.unhealthy === true || c.applied.get(name)?.unhealthy === undefined), 10_000, 'the not-ready pod settled');
      const started = performance.now();
      await cluster.setPodStatus(pod.metadata.namespace, pod.metadata.name, { podIP, ready: true });
      await waitFor(() => clients.every((c) => c.applied.get(name)?.at > started && c.applied.get(name).unhealthy === false), 60_000, `pod ${pod.metadata.name} Ready at every client`);
      samples.push(Math.max(...clients.map((c) => c.applied.get(name).at)) - started);
      for (const c of clients) c.watched.delete(name);
    }
    const row = record('kube pod ready to ztunnel p50 ms', median(samples), 'ms', { target: { max: 1_000 } });
    Object.assign(row, { ...scope, samples: samples.length, p90: Math.round(percentile(samples, 90)), max: Math.round(Math.max(...samples)), debounceMs: 100, note: 'from before the status write (its read and replace included, as the harness plays kubelet) to the last client applying it' });
    rssRow.afterSamplesMiB = Math.round((await istiod.rssMiB()).rss);
    // Keep the rows in the order.
    return names.map((name) => results.find((r) => r.name === name));
  } catch (err) {
    if (istiod) process.stderr.write(`istiod-lite's last output:\n${istiod.output().slice(-4000)}\n`);
    throw err;
  } finally {
    for (const c of clients) c.client.close();
    await istiod?.stop();
    await cluster.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await run({ quick: process.argv.includes('--quick') });
  console.log(JSON.stringify(rows, null, 2));
}
