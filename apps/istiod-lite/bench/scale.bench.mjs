// `pnpm bench scale [--quick]`: configuration at the size of a real cluster — 10,000 pods, 1,000
// services, 50 nodes — per xDS dialect, with real ADS client streams connected over delta.
//
// Rows (names as issue 10 gives them; `dialect` says which), each with how it was measured:
// - `parse 10000 pods ms`: parseManifests over the whole mesh's YAML (median of 3).
// - `<dialect> per-node config bytes`: one node's initial resources (protobuf, as a client receives them).
// - `workload generate all nodes ms`: the workload resources every node needs, from a fresh snapshot
//   (generated and encoded once: every ztunnel shares them), in-process through istiod-lite's cache.
// - `one-pod edit generate ms`: new resources for all nodes after adding one pod, in-process through
//   the same cache (generation, encoding, digests); `fromScratchMs`, the baseline, is the same
//   nodes generated from scratch in the same run (the fresh generation).
// - `one-pod edit to all clients p50 ms`: istiod-lite as its own process (the real main, 100 ms
//   debounce included), N delta streams (one per node, the clients ACK without decoding);
//   from the file written until every client has received what the pod changed for its node.
// - `one-pod edit bytes per client`: resource bytes a client received for that edit (median; max in `max`),
//   beside `perNodeBytes`, what a state-of-the-world push of the same types would resend.
// - `istiod-lite rss MiB`: istiod-lite's resident memory with the mesh loaded and the clients synced.
//
// The workload dialect's rows are filled when meshGenerators serves its type URLs to ztunnels; until
// then they are recorded with value null and a note. `--quick` keeps the 10,000-pod mesh and the
// names, with fewer Envoy-dialect nodes (its per-node config is ~170 MB) and fewer edits.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { buildSnapshot, parseManifests } from '@mesh/mesh-model';
import { makePod, manifestYaml, syntheticMesh } from '@mesh/mesh-model/testing';
import { ADS_DELTA_METHOD_PATH, TYPE_URL, deserializeDeltaDiscoveryResponse, serializeDeltaDiscoveryRequest } from '@mesh/xds';
import { ResourceCache, meshGenerators } from '../dist/index.js';
import { startIstiodProcess as startIstiod } from './istiod-process.mjs';

const MESH = { pods: 10_000, services: 1_000, nodes: 50 };
/** Node bootstrap keys (50 RSA keys) are kept between runs here, so only the first run pays for them. */
const STATE_DIR = path.join(homedir(), '.cache', 'ambient-mesh-ts', 'bench-scale-state');

const DIALECTS = {
  envoy: { typeUrls: [TYPE_URL.CLUSTER, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, TYPE_URL.LISTENER] },
  workload: { typeUrls: [TYPE_URL.ADDRESS, TYPE_URL.AUTHORIZATION] },
};

/** The xDS node a ztunnel of node n presents. */
function xdsNode(n) {
  return { id: `ztunnel~10.0.0.${n + 1}~ztunnel-node-${n}~istio-system.svc.cluster.local`, metadata: { NODE_NAME: `node-${n}` } };
}

/** The same, as istiod-lite sees it (proxy-node.ts ProxyInfo). */
function ztunnelProxy(n) {
  const node = xdsNode(n);
  return { id: node.id, type: 'ztunnel', ip: `10.0.0.${n + 1}`, podName: `ztunnel-node-${n}`, namespace: 'istio-system', nodeName: `node-${n}`, verified: false, metadata: node.metadata };
}

/** Whether istiod-lite serves this dialect to ztunnels (the workload dialect lands separately). */
function served(dialect) {
  return DIALECTS[dialect].typeUrls.every((typeUrl) => meshGenerators.generatorFor(ztunnelProxy(0), typeUrl) !== undefined);
}

// ---------------------------------------------------------------------------------------------
// The mesh as manifests

/** One file per service (the Service and its pods), one for namespaces and nodes. */
function meshFiles(resources) {
  const files = new Map([['base.yaml', []]]);
  for (const r of resources) {
    const app = r.kind === 'Service' ? r.name : r.kind === 'Pod' ? r.labels.app : undefined;
    const file = app ? `${app}.yaml` : 'base.yaml';
    if (!files.has(file)) files.set(file, []);
    files.get(file).push(manifestYaml(r));
  }
  return new Map([...files].map(([file, docs]) => [file, docs.join('---\n')]));
}

/** A new pod of an existing service, on that service's node, under its identity. */
function onePod(i, service) {
  const s = Number(service.name.slice(4));
  const node = s % MESH.nodes;
  return {
    pod: makePod({
      name: `edit-${i}`,
      namespace: service.namespace,
      labels: { app: service.name, version: 'v9' },
      serviceAccountName: `sa-${s}`,
      nodeName: `node-${node}`,
      // Above the generated pods' addresses; a valid IPv4 for any i up to 1,249.
      podIP: `10.${20 + node}.${250 + Math.floor(i / 250)}.${(i % 250) + 1}`,
      containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }],
    }),
    node,
    service,
  };
}

// ---------------------------------------------------------------------------------------------
// Delta ADS clients that ACK without decoding (a real ztunnel decodes in its own process)

class DeltaBenchClient {
  bytes = 0;
  /** A stream error (the bench stops on it rather than waiting for a sync that cannot come). */
  error = undefined;
  closed = false;
  /** After `mark()`: what arrived, `{typeUrl, name}` and bytes. */
  since = undefined;
  #client;
  #stream;
  constructor(target, node, typeUrls) {
    this.node = node;
    this.typeUrls = typeUrls;
    this.#client = new grpc.Client(target, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 512 * 1024 * 1024 });
  }
  start() {
    this.#stream = this.#client.makeBidiStreamRequest(ADS_DELTA_METHOD_PATH, serializeDeltaDiscoveryRequest, deserializeDeltaDiscoveryResponse);
    this.#stream.on('data', (response) => {
      let bytes = 0;
      for (const r of response.resources) bytes += r.resource?.value.byteLength ?? 0;
      this.bytes += bytes;
      if (this.since) {
        this.since.bytes += bytes;
        for (const r of response.resources) this.since.names.push({ typeUrl: response.type_url, name: r.name });
      }
      this.#stream.write({ type_url: response.type_url, resource_names_subscribe: [], resource_names_unsubscribe: [], initial_resource_versions: {}, response_nonce: response.nonce });
    });
    this.#stream.on('error', (err) => {
      if (!this.closed) this.error = err;
    });
    for (const typeUrl of this.typeUrls) {
      this.#stream.write({ node: this.node, type_url: typeUrl, resource_names_subscribe: [], resource_names_unsubscribe: [], initial_resource_versions: {}, response_nonce: '' });
    }
  }
  mark() {
    this.since = { bytes: 0, names: [] };
  }
  close() {
    this.closed = true;
    this.#stream?.cancel();
    this.#client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// istiod-lite as its own process

async function startIstiodProcess(configDir) {
  await mkdir(STATE_DIR, { recursive: true });
  return startIstiod(['--config-dir', configDir, '--state-dir', STATE_DIR]);
}

async function waitFor(predicate, timeoutMs, what, pollMs = 5) {
  const deadline = performance.now() + timeoutMs;
  while (!(await predicate())) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function round(value, digits = 1) {
  return value === undefined || value === null || Number.isNaN(value) ? value : Math.round(value * 10 ** digits) / 10 ** digits;
}

// ---------------------------------------------------------------------------------------------
// In-process: the cache istiod-lite uses, without the network

function generateThroughCache(dialect, snapshot, nodes) {
  const cache = new ResourceCache();
  const proxies = nodes.map(ztunnelProxy);
  const scopes = new Set();
  for (const proxy of proxies) {
    for (const typeUrl of DIALECTS[dialect].typeUrls) {
      const scope = cache.scopeFor(meshGenerators.generatorFor(proxy, typeUrl), proxy);
      if (!scopes.has(scope)) {
        scopes.add(scope);
        cache.acquire(scope);
      }
    }
  }
  let generation = 0;
  const update = (snap) => {
    generation += 1;
    const started = performance.now();
    let changed = 0;
    for (const scope of scopes) {
      for (const names of cache.update(scope, snap, generation).values()) changed += names.length;
      cache.releaseMaterialized(); // as the server does after each stream: nobody holds every node's bytes
    }
    return { ms: performance.now() - started, changed };
  };
  return { update, scopes: scopes.size };
}

// ---------------------------------------------------------------------------------------------

export async function run({ quick = false } = {}) {
  const rows = [];
  const record = (name, value, unit, extra = {}) => rows.push({ name, value: round(value), unit, ...extra });
  const resources = syntheticMesh(MESH);
  const services = resources.filter((r) => r.kind === 'Service');
  const files = meshFiles(resources);
  const wholeYaml = [...files.values()].join('---\n');

  // Parsing the whole mesh.
  const parseMs = [];
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    const parsed = parseManifests(wholeYaml, 'mesh.yaml');
    parseMs.push(performance.now() - started);
    if (parsed.errors.length > 0) throw new Error(`mesh YAML: ${JSON.stringify(parsed.errors[0])}`);
  }
  record('parse 10000 pods ms', median(parseMs), 'ms', { bytes: wholeYaml.length, target: '≤ 1000' });

  const snapshot = buildSnapshot(resources);
  const edits = quick ? 3 : 5;
  const envoyNodes = quick ? 5 : MESH.nodes;

  for (const dialect of ['envoy', 'workload']) {
    const nodeCount = dialect === 'envoy' ? envoyNodes : MESH.nodes;
    const nodes = Array.from({ length: nodeCount }, (_, n) => n);
    const scope = { dialect, nodes: nodeCount, mesh: `${MESH.pods} pods / ${MESH.services} services / ${MESH.nodes} nodes` };
    if (!served(dialect)) {
      const note = 'the workload dialect is not served by meshGenerators yet (hook: filled once it is)';
      for (const name of ['workload per-node config bytes', 'workload generate all nodes ms', 'one-pod edit generate ms', 'one-pod edit to all clients p50 ms', 'one-pod edit bytes per client', 'istiod-lite rss MiB']) {
        rows.push({ name, value: null, ...scope, note });
      }
      continue;
    }

    // In-process: generation for every node from a fresh snapshot, then one pod added.
    global.gc?.();
    const inProcess = generateThroughCache(dialect, snapshot, nodes);
    const fresh = inProcess.update(snapshot);
    if (dialect === 'workload') record('workload generate all nodes ms', fresh.ms, 'ms', { ...scope, scopes: inProcess.scopes, target: '≤ 1000' });
    const { pod } = onePod(900, services[7]);
    // Built from the previous snapshot with what the edit added, as the directory config source
    // builds it after an edit (ResourceChanges; code without them walks every resource instead).
    const editStarted = performance.now();
    const edited = buildSnapshot([...resources, pod], {}, snapshot, { removed: [], added: [pod] });
    const snapshotMs = performance.now() - editStarted;
    const edit = inProcess.update(edited);
    // A refused pod (e.g. an invalid address) would time a regeneration that changed nothing.
    if (!edit.changed) throw new Error(`the one-pod edit changed no ${dialect} resource: the bench measures nothing`);
    // Baseline: the same nodes from scratch (the fresh generation above), in the same run.
    record('one-pod edit generate ms', edit.ms, 'ms', { ...scope, resourcesChanged: edit.changed, snapshotMs: round(snapshotMs), fromScratchMs: round(fresh.ms), ratio: round(edit.ms / fresh.ms, 4), target: '≤ 50' });

    // Over the network: istiod-lite's own process, one delta client per node.
    const root = await mkdtemp(path.join(tmpdir(), 'istiod-scale-'));
    const configDir = path.join(root, 'config');
    await mkdir(configDir);
    for (const [file, text] of files) await writeFile(path.join(configDir, file), text);
    const startedAt = performance.now();
    const istiod = await startIstiodProcess(configDir);
    const startMs = performance.now() - startedAt;
    const clients = nodes.map((n) => new DeltaBenchClient(`127.0.0.1:${istiod.ports.xds}`, xdsNode(n), DIALECTS[dialect].typeUrls));
    try {
      const syncStarted = performance.now();
      for (const client of clients) client.start();
      await waitFor(
        async () => {
          const failed = clients.find((c) => c.error);
          if (failed) throw new Error(`a client's stream failed: ${failed.error.message}`);
          const rowsNow = await istiod.syncz();
          return rowsNow.length === clients.length && rowsNow.every((row) => Object.values(row.types).length === DIALECTS[dialect].typeUrls.length && Object.values(row.types).every((t) => t.status === 'SYNCED'));
        },
        1_800_000,
        'initial sync of every client',
        250,
      );
      const initialSyncMs = performance.now() - syncStarted;
      const perNodeBytes = median(clients.map((c) => c.bytes));
      record(`${dialect} per-node config bytes`, perNodeBytes, 'bytes', { ...scope, max: Math.max(...clients.map((c) => c.bytes)), target: dialect === 'workload' ? '≤ 5 MB' : 'must not grow' });
      const memory = await istiod.rssMiB();
      record('istiod-lite rss MiB', memory.rss, 'MiB', { ...scope, peakMiB: round(memory.peak), clients: clients.length, istiodStartMs: round(startMs), initialSyncMs: round(initialSyncMs), ...(dialect === 'workload' ? { target: '≤ 600' } : {}) });

      const editMs = [];
      const editBytes = [];
      for (let i = 0; i < edits; i++) {
        const { pod: added, node, service } = onePod(i, services[(i * 97) % services.length]);
        for (const client of clients) client.mark();
        const written = performance.now();
        await writeFile(path.join(configDir, `edit-${i}.yaml`), manifestYaml(added));
        const applied = (client, n) => {
          const names = client.since.names;
          if (dialect === 'envoy') {
            const endpoints = names.some((r) => r.typeUrl === TYPE_URL.CLUSTER_LOAD_ASSIGNMENT && r.name.includes(`_to_http_${service.name}.`));
            return endpoints && (n !== node || names.some((r) => r.typeUrl === TYPE_URL.LISTENER && r.name === 'ztunnel_inbound'));
          }
          return names.some((r) => r.typeUrl === TYPE_URL.ADDRESS && r.name.endsWith(`/Pod/${added.namespace}/${added.name}`));
        };
        await waitFor(() => clients.every((c, k) => applied(c, nodes[k])), 600_000, `edit ${i} at every client`);
        editMs.push(performance.now() - written);
        editBytes.push(...clients.map((c) => c.since.bytes));
      }
      const sorted = [...editMs].sort((a, b) => a - b);
      record('one-pod edit to all clients p50 ms', median(editMs), 'ms', { ...scope, clients: clients.length, edits, max: round(sorted.at(-1)), samples: editMs.map((ms) => round(ms)), debounceMs: 100, target: '≤ 1000' });
      record('one-pod edit bytes per client', median(editBytes), 'bytes', { ...scope, max: Math.max(...editBytes), perNodeBytes, ratio: round(median(editBytes) / perNodeBytes, 6), target: '≤ 16 KiB' });
      const rss = rows.find((row) => row.name === 'istiod-lite rss MiB' && row.dialect === dialect);
      rss.afterEditsMiB = round((await istiod.rssMiB()).rss);
    } catch (err) {
      process.stderr.write(`istiod-lite's last output:\n${istiod.output().slice(-4000)}\n`);
      throw err;
    } finally {
      for (const client of clients) client.close();
      await istiod.stop();
      await rm(root, { recursive: true, force: true });
    }
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await run({ quick: process.argv.includes('--quick') });
  console.log(JSON.stringify(rows, null, 2));
}
