// Snapshot build time for a large mesh (10,000 pods / 1,000 services / 50 nodes; --quick: 1,000 / 100 / 10), and the cost
// of parsing the same mesh from YAML. Runs against the built package (dist/): `pnpm bench` builds
// first; to run alone: `cd packages/mesh-model && pnpm build && node bench/snapshot.bench.mjs`.
//
// Benchmarks are not tests: this prints figures and never fails on timing.
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { buildSnapshot, parseManifests } from '@mesh/mesh-model';
import { syntheticMesh } from '@mesh/mesh-model/testing';

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

/** The synthetic mesh as Kubernetes YAML, so parsing is measured on realistic input. */
function toYaml(resources) {
  return resources
    .map((r) => {
      const meta = `metadata:\n  name: ${r.name}\n${r.namespace ? `  namespace: ${r.namespace}\n` : ''}`;
      const labels = Object.entries(r.labels);
      const labelBlock = labels.length ? `  labels:\n${labels.map(([k, v]) => `    ${k}: "${v}"\n`).join('')}` : '';
      switch (r.kind) {
        case 'Namespace':
          return `apiVersion: v1\nkind: Namespace\n${meta}${labelBlock}`;
        case 'Node':
          return `apiVersion: v1\nkind: Node\n${meta}spec:\n  podCIDR: ${r.podCidr}\nstatus:\n  addresses: [{type: InternalIP, address: ${r.address}}]\n`;
        case 'Service':
          return `apiVersion: v1\nkind: Service\n${meta}${labelBlock}spec:\n  clusterIP: ${r.clusterIP}\n  selector: {app: ${r.selector.app}}\n  ports: [{name: http, port: 80, targetPort: http, appProtocol: http}]\n`;
        case 'Pod':
          return `apiVersion: v1\nkind: Pod\n${meta}${labelBlock}spec:\n  serviceAccountName: ${r.serviceAccountName}\n  nodeName: ${r.nodeName}\n  containers: [{name: app, ports: [{name: http, containerPort: 8080}]}]\nstatus:\n  podIP: ${r.podIP}\n`;
        default:
          throw new Error(`unexpected kind ${r.kind}`);
      }
    })
    .join('---\n');
}

export async function run({ quick = false } = {}) {
  const SIZE = quick ? QUICK_SIZE : FULL_SIZE;
  const label = `${SIZE.pods} pods / ${SIZE.services} services / ${SIZE.nodes} nodes`;
  const resources = syntheticMesh(SIZE);
  const build = time(() => buildSnapshot(resources));
  const snapshot = build.result;
  const endpoints = [...snapshot.services.values()].reduce((n, s) => n + snapshot.endpointsOf(s).length, 0);

  const yaml = toYaml(resources);
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
