// Full ztunnel xDS generation for 10,000 pods / 1,000 services / 50 nodes: time per node, time
// for every node, and resource bytes per node (JSON and protobuf). Runs against the built app
// (dist/): `pnpm bench` builds first; alone: `cd apps/istiod-lite && pnpm build && node bench/generate.bench.mjs`.
//
// Benchmarks are not tests: this prints figures and never fails on timing.
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { buildSnapshot } from '@mesh/mesh-model';
import { syntheticMesh } from '@mesh/mesh-model/testing';
import { encodeResource } from '@mesh/xds';
import { generateZtunnelConfig } from '../dist/xds/generate/index.js';

/** `pnpm bench --quick` uses the small size (CI smoke run). */
const FULL_SIZE = { pods: 10_000, services: 1_000, nodes: 50 };
const QUICK_SIZE = { pods: 1_000, services: 100, nodes: 10 };
const RUNS = 3;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

export async function run({ quick = false } = {}) {
  const SIZE = quick ? QUICK_SIZE : FULL_SIZE;
  const label = `${SIZE.pods} pods / ${SIZE.services} services / ${SIZE.nodes} nodes`;
  const snapshot = buildSnapshot(syntheticMesh(SIZE));

  const perNode = [];
  let config;
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    config = generateZtunnelConfig(snapshot, 'node-0');
    perNode.push(performance.now() - start);
  }

  const allStart = performance.now();
  for (let n = 0; n < SIZE.nodes; n++) generateZtunnelConfig(snapshot, `node-${n}`);
  const allNodesMs = performance.now() - allStart;

  const all = [...config.listeners, ...config.clusters, ...config.endpoints];
  const jsonBytes = all.reduce((sum, r) => sum + Buffer.byteLength(JSON.stringify(r)), 0);
  const encodeStart = performance.now();
  const protoBytes = all.reduce((sum, r) => sum + encodeResource(r).value.length, 0);
  const encodeMs = performance.now() - encodeStart;

  const counts = { listeners: config.listeners.length, clusters: config.clusters.length, endpoints: config.endpoints.length };
  return [
    { name: `istiod-lite: generateZtunnelConfig, one node of ${label}`, ms: median(perNode), runs: RUNS, ...counts, jsonBytes, protoBytes },
    { name: `istiod-lite: generateZtunnelConfig for all ${SIZE.nodes} nodes`, ms: allNodesMs, runs: 1 },
    { name: 'istiod-lite: encode one node’s resources to protobuf (@mesh/xds)', ms: encodeMs, runs: 1, protoBytes },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const row of await run()) console.log(`${row.name}: ${row.ms.toFixed(1)} ms`, JSON.stringify(row));
}
