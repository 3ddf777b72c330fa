/**
 * Benchmark: time from a manifest edit to the push reaching 50 connected ztunnel clients.
 *
 * Runs the built istiod-lite (dist/, `pnpm run build` first) with the real generator on a
 * synthetic mesh (50 nodes, `podsPerNode` pods each, `services` services), connects one ADS
 * stream per node over plaintext on 127.0.0.1, then repeatedly adds a Service + Pod in a new
 * manifest file and measures until every client has received a new CDS version. Includes the
 * 100 ms debounce. The clients ACK without decoding resources, so the figure is istiod's cost
 * (a real ztunnel decodes in its own process).
 *
 * Usage: node apps/istiod-lite/bench/push.bench.mjs   (prints JSON); or import { run }.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { ADS_STREAM_METHOD_PATH, TYPE_URL, deserializeDiscoveryResponse, envoyProtoLoadTimeMs, serializeDiscoveryRequest } from '@mesh/xds';
import { createJsonLogger, parseConfig, startIstiod, meshGenerators } from '../dist/index.js';

const NODES = 50;

/** An ADS stream that records versions and bytes and ACKs everything, without decoding resources. */
class AckingClient {
  versions = new Map();
  bytes = new Map();
  #client;
  #stream;
  constructor(target, node) {
    this.node = node;
    this.#client = new grpc.Client(target, grpc.credentials.createInsecure());
  }
  start() {
    this.#stream = this.#client.makeBidiStreamRequest(ADS_STREAM_METHOD_PATH, serializeDiscoveryRequest, deserializeDiscoveryResponse);
    this.#stream.on('data', (response) => {
      this.versions.set(response.type_url, response.version_info);
      this.bytes.set(response.type_url, response.resources.reduce((sum, any) => sum + any.value.byteLength, 0));
      this.#stream.write({ version_info: response.version_info, node: this.node, resource_names: [], type_url: response.type_url, response_nonce: response.nonce });
    });
    this.#stream.on('error', () => {});
    for (const typeUrl of [TYPE_URL.CLUSTER, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, TYPE_URL.LISTENER]) {
      this.#stream.write({ version_info: '', node: this.node, resource_names: [], type_url: typeUrl, response_nonce: '' });
    }
  }
  close() {
    this.#stream?.cancel();
    this.#client.close();
  }
}

function meshYaml(podsPerNode, serviceCount) {
  const docs = [
    `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench\n  labels:\n    istio.io/dataplane-mode: ambient`,
  ];
  for (let n = 0; n < NODES; n++) {
    docs.push(`apiVersion: v1\nkind: Node\nmetadata:\n  name: node-${n}\nstatus:\n  addresses:\n    - type: InternalIP\n      address: 10.200.0.${n + 1}`);
  }
  for (let s = 0; s < serviceCount; s++) docs.push(serviceYaml(`svc-${s}`, `10.96.0.${s + 1}`));
  let p = 0;
  for (let n = 0; n < NODES; n++) {
    for (let i = 0; i < podsPerNode; i++, p++) docs.push(podYaml(`pod-${p}`, `node-${n}`, `10.${100 + (n >> 4)}.${n % 16}.${i + 10}`, `svc-${p % serviceCount}`));
  }
  return docs.join('\n---\n');
}

function serviceYaml(name, clusterIp) {
  return `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n  namespace: bench\nspec:\n  clusterIP: ${clusterIp}\n  selector:\n    app: ${name}\n  ports:\n    - name: http\n      port: 80\n      targetPort: 8080\n      appProtocol: http`;
}

function podYaml(name, node, ip, app) {
  return `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: bench\n  labels:\n    app: ${app}\nspec:\n  serviceAccountName: ${app}\n  nodeName: ${node}\n  containers:\n    - name: app\n      ports:\n        - containerPort: 8080\nstatus:\n  phase: Running\n  podIP: ${ip}`;
}

const quiet = { log() {}, info() {}, warn() {}, error() {} };

function percentile(sorted, fraction) {
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}

export async function run({ iterations = 5, clients: clientCount = NODES, podsPerNode = 4, services = 20 } = {}) {
  const root = await mkdtemp(path.join(tmpdir(), 'istiod-bench-'));
  const configDir = path.join(root, 'config');
  await mkdir(configDir);
  await writeFile(path.join(configDir, 'mesh.yaml'), meshYaml(podsPerNode, services));
  const config = parseConfig({ configDir, stateDir: path.join(root, 'state'), xdsPort: 0, xdsTlsPort: 0, debugPort: 0, listenAddress: '127.0.0.1' });
  const startedAt = performance.now();
  const istiod = await startIstiod({ config, generators: meshGenerators, logger: process.env.BENCH_VERBOSE ? createJsonLogger() : quiet });
  const startMs = performance.now() - startedAt;
  const clients = [];
  try {
    const syncStarted = performance.now();
    for (let n = 0; n < clientCount; n++) {
      const client = new AckingClient(`127.0.0.1:${istiod.ports.xds}`, {
        id: `ztunnel~10.200.0.${n + 1}~ztunnel-${n}~istio-system.svc.cluster.local`,
        metadata: { NODE_NAME: `node-${n}` },
      });
      clients.push(client);
      client.start();
    }
    await waitFor(() => clients.every((c) => c.versions.has(TYPE_URL.LISTENER) && c.versions.has(TYPE_URL.CLUSTER) && c.versions.has(TYPE_URL.CLUSTER_LOAD_ASSIGNMENT)), 120_000);
    const initialSyncMs = performance.now() - syncStarted;
    const bytesPerNode = clients.map((c) => [...c.bytes.values()].reduce((sum, bytes) => sum + bytes, 0));

    const pushMs = [];
    for (let i = 0; i < iterations; i++) {
      const before = clients.map((c) => c.versions.get(TYPE_URL.CLUSTER));
      const editedAt = performance.now();
      await writeFile(
        path.join(configDir, `edit-${i}.yaml`),
        `${serviceYaml(`new-svc-${i}`, `10.97.0.${i + 1}`)}\n---\n${podYaml(`new-pod-${i}`, 'node-0', `10.250.0.${i + 1}`, `new-svc-${i}`)}`,
      );
      await waitFor(() => clients.every((c, k) => c.versions.get(TYPE_URL.CLUSTER) !== before[k]), 120_000);
      pushMs.push(performance.now() - editedAt);
    }
    const sorted = [...pushMs].sort((a, b) => a - b);
    return {
      name: 'istiod-lite push: manifest edit → CDS ACKed by all clients',
      clients: clientCount,
      mesh: { nodes: NODES, pods: NODES * podsPerNode, services },
      protoLoadMs: round(envoyProtoLoadTimeMs()),
      istiodStartMs: round(startMs),
      initialSyncMs: round(initialSyncMs),
      editToAllClientsMs: { median: round(percentile(sorted, 0.5)), p95: round(percentile(sorted, 0.95)), max: round(sorted.at(-1)), samples: pushMs.map(round) },
      debounceMs: 100,
      protobufBytesPerNode: { median: percentile([...bytesPerNode].sort((a, b) => a - b), 0.5), max: Math.max(...bytesPerNode) },
    };
  } finally {
    for (const client of clients) client.close();
    await istiod.close();
    await rm(root, { recursive: true, force: true });
  }
}

async function waitFor(predicate, timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`benchmark condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function round(value) {
  return value === undefined ? undefined : Math.round(value * 10) / 10;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run().then(
    (result) => console.log(JSON.stringify(result, null, 2)),
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
