// Snapshot build time for a large mesh (10,000 pods / 1,000 services / 50 nodes; --quick: 1,000 / 100 / 10), and the cost
// of parsing the same mesh from YAML. Runs against the built package (dist/): `pnpm bench` builds
// first; to run alone: `cd packages/mesh-model && pnpm build && node bench/snapshot.bench.mjs`.
//
// Benchmarks are not tests: this prints figures and never fails on timing.
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { buildSnapshot, parseManifests } from '@mesh/mesh-model';
import { manifestYaml, syntheticMesh } from '@mesh/mesh-model/testing';

/** `pnpm bench --quick` uses the small size (CI smoke run). */
const FULL_SIZE = { pods: 10_000, services: 1_000, nodes: 50 };
const QUICK_SIZE = { pods: 1_000, services: 100, nodes: 10 };
const RUNS = 7;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function time(fn) {
  const samples = [];
  let result;
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    result = fn();
    samples.push(performance.now() - start);
  }
  return { ms: median(samples), result };
}



export async function run({ quick = false } = {}) {
  const SIZE = quick ? QUICK_SIZE : FULL_SIZE;
  const label = `${SIZE.pods} pods / ${SIZE.services} services / ${SIZE.nodes} nodes`;
  const resources = syntheticMesh(SIZE);
  const build = time(() => buildSnapshot(resources));
  const snapshot = build.result;
  const endpoints = [...snapshot.services.values()].reduce((n, s) => n + snapshot.endpointsOf(s).length, 0);

  const yaml = resources.map(manifestYaml).join('---\n');
  const parse = time(() => parseManifests(yaml, 'synthetic.yaml'));
  if (parse.result.errors.length > 0) throw new Error(`synthetic YAML has errors: ${JSON.stringify(parse.result.errors[0])}`);

  return [
    { name: `mesh-model: buildSnapshot ${label}`, ms: build.ms, runs: RUNS, pods: snapshot.pods.size, endpoints },
    { name: `mesh-model: parseManifests of ${label} as YAML`, ms: parse.ms, runs: RUNS, bytes: yaml.length, documents: resources.length },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const row of await run()) console.log(`${row.name}: ${row.ms.toFixed(1)} ms`, JSON.stringify(row));
}
