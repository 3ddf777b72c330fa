import { describe, expect, it } from 'vitest';
import { buildSnapshot, checkSnapshot, parseManifests } from './index.js';

describe('checkSnapshot', () => {
  it('finds nothing wrong in the sample meshes', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const root = join(import.meta.dirname, '../../../examples');
    const files = ['bookinfo', 'waypoint', 'waypoint-for'].flatMap((d) => readdirSync(join(root, d)).map((f) => ({ path: `${d}/${f}`, text: readFileSync(join(root, d, f), 'utf8') })));
    const { parseManifestFiles } = await import('./index.js');
    expect(checkSnapshot(buildSnapshot(parseManifestFiles(files).resources))).toEqual([]);
  });

  it('reports dangling references and address clashes with file and line', () => {
    const { resources, errors } = parseManifests(
      `apiVersion: v1
kind: Namespace
metadata: { name: default, labels: { istio.io/use-waypoint: missing } }
---
apiVersion: v1
kind: Node
metadata: { name: node-a }
spec: { podCIDR: 10.1.0.0/24 }
status: { addresses: [{ type: InternalIP, address: 10.0.0.1 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: a }
spec: { nodeName: node-a, serviceAccountName: ghost }
status: { podIP: 10.2.0.1 }
---
apiVersion: v1
kind: Pod
metadata: { name: b }
spec: { nodeName: node-z }
status: { podIP: 10.2.0.1 }
---
apiVersion: v1
kind: Service
metadata: { name: s }
spec: { clusterIP: 10.2.0.1, ports: [{ port: 80 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ kind: Service, group: "", name: nope }]
  rules: [{ backendRefs: [{ name: s, port: 80 }, { name: gone, port: 80 }] }]
`,
      'mesh.yaml',
    );
    expect(errors).toEqual([]);
    const warnings = checkSnapshot(buildSnapshot(resources));
    // Each names what kind of problem it is, for meshctl analyze's codes.
    expect(warnings.map((w) => w.code)).toEqual(expect.arrayContaining(['SERVICE_ACCOUNT_NOT_FOUND', 'POD_IP_OUTSIDE_CIDR', 'NODE_NOT_FOUND', 'POD_IP_CONFLICT', 'CLUSTER_IP_CONFLICT', 'WAYPOINT_NOT_FOUND', 'ROUTE_PARENT_NOT_ACCEPTED', 'ROUTE_REF_NOT_RESOLVED']));
    const found = warnings.map((w) => `${w.file}:${w.line} ${w.kind}/${w.name} ${w.path}: ${w.message}`);
    expect(found).toEqual([
      'mesh.yaml:11 Pod/a spec.serviceAccountName: service account "ghost" is not declared in namespace "default"',
      "mesh.yaml:11 Pod/a status.podIP: IP 10.2.0.1 is outside node node-a's pod CIDR 10.1.0.0/24, so connections to it by pod IP are not captured",
      'mesh.yaml:17 Pod/b spec.nodeName: node "node-z" is not declared',
      'mesh.yaml:17 Pod/b status.podIP: IP 10.2.0.1 is also the IP of pod default/a',
      'mesh.yaml:23 Service/s spec.clusterIP: IP 10.2.0.1 is also used by pod default/a',
      'mesh.yaml:1 Namespace/default metadata.labels.istio.io/use-waypoint: waypoint Gateway default/missing is not declared',
      'mesh.yaml:28 HTTPRoute/r spec.parentRefs[0]: not accepted (NoMatchingParent): Service default/nope not found',
      'mesh.yaml:28 HTTPRoute/r spec.rules[0].backendRefs[1]: ResolvedRefs=False (BackendNotFound): Service default/gone not found; requests for it get 500',
    ]);
  });

  it('reports a use-waypoint label whose waypoint does not take that traffic (istio.io/waypoint-for)', () => {
    const gateway = (name: string, type: string) =>
      `apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: ${name}, labels: { istio.io/waypoint-for: ${type} } }\nspec: { gatewayClassName: istio-waypoint }\n---\n`;
    const { resources, errors } = parseManifests(
      `${gateway('for-pods', 'workload')}${gateway('for-services', 'service')}${gateway('for-nothing', 'none')}${gateway('for-all', 'all')}apiVersion: v1
kind: Namespace
metadata: { name: default, labels: { istio.io/use-waypoint: for-nothing } }
---
apiVersion: v1
kind: Service
metadata: { name: s, labels: { istio.io/use-waypoint: for-pods } }
spec: { ports: [{ port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: t, labels: { istio.io/use-waypoint: for-all } }
spec: { ports: [{ port: 80 }] }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: default }
---
apiVersion: v1
kind: Pod
metadata: { name: p, labels: { istio.io/use-waypoint: for-services } }
spec: { nodeName: n }
`,
      'wp.yaml',
    );
    expect(errors).toEqual([]);
    const found = checkSnapshot(buildSnapshot(resources)).filter((w) => w.code === 'WAYPOINT_TRAFFIC_TYPE').map((w) => `${w.kind}/${w.name}: ${w.message}`);
    expect(found).toEqual([
      'Namespace/default: waypoint default/for-nothing takes no traffic (istio.io/waypoint-for: none), so any traffic of this namespace goes around it',
      'Service/s: waypoint default/for-pods takes only workload traffic (istio.io/waypoint-for: workload), so traffic addressed to this Service goes around it',
      "Pod/p: waypoint default/for-services takes only service traffic (istio.io/waypoint-for: service), so traffic addressed to this pod's IP goes around it",
    ]);
  });
});
