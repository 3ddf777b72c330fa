import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSnapshot, parseManifestFiles, parseManifests, type MeshResource, type MeshSnapshot } from './index.js';
import { makeNamespace, makePod, makeService } from './testing.js';

const EXAMPLES = join(import.meta.dirname, '../../../examples');

function load(...files: string[]): MeshResource[] {
  const inputs = files.flatMap((entry) => {
    const full = join(EXAMPLES, entry);
    const names = entry.endsWith('.yaml') ? [full] : readdirSync(full).filter((f) => f.endsWith('.yaml')).map((f) => join(full, f));
    return names.map((path) => ({ path, text: readFileSync(path, 'utf8') }));
  });
  const { resources, errors } = parseManifestFiles(inputs);
  expect(errors).toEqual([]);
  return resources;
}

function pod(s: MeshSnapshot, name: string) {
  const p = s.pods.get(`default/${name}`);
  if (!p) throw new Error(`no pod ${name}`);
  return p;
}

function svc(s: MeshSnapshot, name: string) {
  const v = s.services.get(`default/${name}`);
  if (!v) throw new Error(`no service ${name}`);
  return v;
}

describe('buildSnapshot on the sample mesh', () => {
  const snap = buildSnapshot(load('bookinfo'));

  it('resolves service endpoints by selector, with named target ports', () => {
    expect(snap.endpointsOf(svc(snap, 'reviews')).map((e) => `${e.pod.name} ${e.address}:${e.targetPort}`)).toEqual([
      'reviews-v1 10.77.1.12:9080',
      'reviews-v2 10.77.2.10:9080',
      'reviews-v3 10.77.2.11:9080',
    ]);
    expect(snap.servicesOf(pod(snap, 'reviews-v2')).map((v) => v.name)).toEqual(['reviews']);
  });

  it('derives SPIFFE identity from namespace and service account', () => {
    const pp = pod(snap, 'productpage-v1');
    expect(snap.identityOf(pp)).toEqual({ trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'bookinfo-productpage' });
    expect(snap.spiffeOf(pp)).toBe('spiffe://cluster.local/ns/default/sa/bookinfo-productpage');
    expect(buildSnapshot(load('bookinfo'), { trustDomain: 'example.org' }).spiffeOf(pp)).toBe('spiffe://example.org/ns/default/sa/bookinfo-productpage');
  });

  it('indexes pods by node and IP, services by VIP, nodes by name', () => {
    expect(snap.podsOnNode('node-a').map((p) => p.name)).toEqual(['productpage-v1', 'reviews-v1', 'sleep']);
    expect(snap.podsOnNode('node-b').map((p) => p.name)).toEqual(['details-v1', 'ratings-v1', 'reviews-v2', 'reviews-v3']);
    expect(snap.podsOnNode('node-z')).toEqual([]);
    expect(snap.podByIp('10.77.2.13')?.name).toBe('ratings-v1');
    expect(snap.serviceByVip('10.77.100.11')?.name).toBe('reviews');
    expect(snap.serviceByVip('10.77.1.12')).toBeUndefined();
    expect(snap.nodeOf('node-a')?.address).toBe('10.77.0.11');
  });

  it('captures pods of ambient namespaces', () => {
    expect(snap.isCaptured(pod(snap, 'sleep'))).toBe(true);
  });

  it('is default-allow and PERMISSIVE without policies', () => {
    expect(snap.policiesFor(pod(snap, 'ratings-v1'))).toEqual({ authorizationPolicies: [], mtlsMode: 'PERMISSIVE', portMtls: {}, peerAuthentications: {} });
  });

  it('is immutable', () => {
    const p = pod(snap, 'sleep');
    expect(() => {
      (p.labels as Record<string, string>).app = 'x';
    }).toThrow(TypeError);
    expect(Object.isFrozen(snap)).toBe(true);
    expect(Object.isFrozen(snap.endpointsOf(svc(snap, 'reviews')))).toBe(true);
  });

  it('does not depend on manifest order', () => {
    const reversed = buildSnapshot([...load('bookinfo')].reverse());
    expect([...reversed.pods.keys()]).toEqual([...snap.pods.keys()]);
    expect(reversed.endpointsOf(svc(reversed, 'reviews')).map((e) => e.address)).toEqual(snap.endpointsOf(svc(snap, 'reviews')).map((e) => e.address));
  });
});

describe('policies', () => {
  it('selects AuthorizationPolicies by workload selector', () => {
    const snap = buildSnapshot(load('bookinfo', 'policies'));
    expect(snap.policiesFor(pod(snap, 'ratings-v1')).authorizationPolicies.map((p) => p.name)).toEqual(['deny-sleep']);
    expect(snap.policiesFor(pod(snap, 'reviews-v3')).authorizationPolicies.map((p) => p.name)).toEqual(['reviews-from-productpage']);
    expect(snap.policiesFor(pod(snap, 'details-v1')).authorizationPolicies).toEqual([]);
    expect(snap.policiesFor(pod(snap, 'details-v1')).mtlsMode).toBe('STRICT');
  });

  it('applies root-namespace policies mesh-wide, skips targetRef policies, and picks the most specific PeerAuthentication', () => {
    const text = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: mesh-deny, namespace: istio-system }
spec: { action: DENY, rules: [{ from: [{ source: { namespaces: [evil] } }] }] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: at-waypoint, namespace: default }
spec: { targetRefs: [{ kind: Service, group: "", name: reviews }] }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: mesh, namespace: istio-system }
spec: { mtls: { mode: STRICT } }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: ratings-permissive, namespace: default }
spec: { selector: { matchLabels: { app: ratings } }, mtls: { mode: PERMISSIVE } }
`;
    const extra = parseManifests(text, 'extra.yaml');
    expect(extra.errors).toEqual([]);
    const snap = buildSnapshot([...load('bookinfo'), ...extra.resources]);
    const reviews = snap.policiesFor(pod(snap, 'reviews-v1'));
    expect(reviews.authorizationPolicies.map((p) => `${p.namespace}/${p.name}`)).toEqual(['istio-system/mesh-deny']);
    expect(reviews.mtlsMode).toBe('STRICT');
    expect(snap.policiesFor(pod(snap, 'ratings-v1')).mtlsMode).toBe('PERMISSIVE');
  });

  const peerAuth = (name: string, namespace: string, spec: string, created?: string) => `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: ${name}, namespace: ${namespace}${created ? `, creationTimestamp: "${created}"` : ''} }
spec: ${spec}
---
`;
  /** A pod in the root namespace, labelled like ratings, to see which policies reach it. */
  const rootPod = makePod({ name: 'ratings-root', namespace: 'istio-system', nodeName: 'node-a', podIP: '10.77.1.99', labels: { app: 'ratings' } });
  const mtlsOf = (text: string, podName = 'ratings-v1') => {
    const extra = parseManifests(text, 'pa.yaml');
    expect(extra.errors).toEqual([]);
    const snap = buildSnapshot([...load('bookinfo'), rootPod, ...extra.resources]);
    const { mtlsMode, portMtls } = snap.policiesFor(podName === rootPod.name ? rootPod : pod(snap, podName));
    return { mtlsMode, portMtls };
  };

  it('ignores a PeerAuthentication with a selector in the root namespace, even for pods there (Istio: only mesh-wide policies count there)', () => {
    const text = peerAuth('root-selector', 'istio-system', '{ selector: { matchLabels: { app: ratings } }, mtls: { mode: STRICT }, portLevelMtls: { 80: { mode: STRICT } } }');
    expect(mtlsOf(text)).toEqual({ mtlsMode: 'PERMISSIVE', portMtls: {} });
    expect(mtlsOf(text, 'ratings-root')).toEqual({ mtlsMode: 'PERMISSIVE', portMtls: {} });
  });

  it('lets a namespace DISABLE override mesh STRICT (ambient: plaintext accepted, HBONE stays mTLS)', () => {
    const text = peerAuth('mesh', 'istio-system', '{ mtls: { mode: STRICT } }') + peerAuth('ns', 'default', '{ mtls: { mode: DISABLE } }');
    expect(mtlsOf(text).mtlsMode).toBe('DISABLE');
  });

  it('chooses the oldest policy of a level and lets an UNSET one inherit', () => {
    const text =
      peerAuth('mesh', 'istio-system', '{ mtls: { mode: STRICT } }') +
      peerAuth('b-newer', 'default', '{ mtls: { mode: PERMISSIVE } }', '2024-02-01T00:00:00Z') +
      peerAuth('z-older', 'default', '{ mtls: { mode: UNSET } }', '2024-01-01T00:00:00Z');
    // The oldest namespace policy is UNSET, so the mesh's STRICT stands (Istio does not fall back to the newer one).
    expect(mtlsOf(text).mtlsMode).toBe('STRICT');
  });

  it('applies the workload policy portLevelMtls per pod port, UNSET ports inheriting', () => {
    const text =
      peerAuth('mesh', 'istio-system', '{ mtls: { mode: STRICT } }') +
      peerAuth('ratings', 'default', '{ selector: { matchLabels: { app: ratings } }, portLevelMtls: { 9080: { mode: PERMISSIVE }, 9090: { mode: UNSET }, 15000: { mode: DISABLE } } }');
    expect(mtlsOf(text)).toEqual({ mtlsMode: 'STRICT', portMtls: { 9080: 'PERMISSIVE', 15000: 'DISABLE' } });
    expect(mtlsOf(text, 'reviews-v1')).toEqual({ mtlsMode: 'STRICT', portMtls: {} });
  });
});

describe('selectors, readiness and capture', () => {
  const base = [makeNamespace('default')];

  it('leaves out pods that are not ready, have no IP, or lack the named port', () => {
    const service = makeService({ name: 'web', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'web', protocol: 'TCP' }] });
    const ports = [{ name: 'web', ports: [{ name: 'web', containerPort: 8080, protocol: 'TCP' as const }] }];
    const snap = buildSnapshot([
      ...base,
      service,
      makePod({ name: 'ok', nodeName: 'n', podIP: '10.0.0.1', labels: { app: 'web' }, containers: ports }),
      makePod({ name: 'not-ready', nodeName: 'n', podIP: '10.0.0.2', ready: false, labels: { app: 'web' }, containers: ports }),
      makePod({ name: 'no-ip', nodeName: 'n', labels: { app: 'web' }, containers: ports }),
      makePod({ name: 'no-port', nodeName: 'n', podIP: '10.0.0.3', labels: { app: 'web' } }),
      makePod({ name: 'other', nodeName: 'n', podIP: '10.0.0.4', labels: { app: 'web2' }, containers: ports }),
      makePod({ name: 'other-ns', namespace: 'x', nodeName: 'n', podIP: '10.0.0.5', labels: { app: 'web' }, containers: ports }),
    ]);
    expect(snap.endpointsOf(service).map((e) => `${e.pod.name}:${e.targetPort}`)).toEqual(['ok:8080']);
  });

  it('requires every selector label to match', () => {
    const service = makeService({ name: 'v2', selector: { app: 'r', version: 'v2' }, ports: [{ port: 80, targetPort: 80, protocol: 'TCP' }] });
    const snap = buildSnapshot([
      service,
      makePod({ name: 'a', nodeName: 'n', podIP: '10.0.0.1', labels: { app: 'r', version: 'v1' } }),
      makePod({ name: 'b', nodeName: 'n', podIP: '10.0.0.2', labels: { app: 'r', version: 'v2', extra: 'x' } }),
    ]);
    expect(snap.endpointsOf(service).map((e) => e.pod.name)).toEqual(['b']);
  });

  it('lets a pod opt out of capture, never captures waypoint or host-network pods or non-ambient namespaces', () => {
    const snap = buildSnapshot([
      ...base,
      makeNamespace('plain', {}),
      makePod({ name: 'in', nodeName: 'n' }),
      makePod({ name: 'out', nodeName: 'n', labels: { 'istio.io/dataplane-mode': 'none' } }),
      makePod({ name: 'wp', nodeName: 'n', labels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' } }),
      makePod({ name: 'legacy', namespace: 'plain', nodeName: 'n' }),
      makePod({ name: 'host', nodeName: 'n', podIP: '10.0.0.1', hostNetwork: true }),
    ]);
    const captured = [...snap.pods.values()].filter((p) => snap.isCaptured(p)).map((p) => p.name);
    expect(captured).toEqual(['in']);
    expect(snap.podByIp('10.0.0.1')).toBeUndefined();
  });
});

describe('waypoints', () => {
  const text = `
apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: shop }
spec: { gatewayClassName: istio-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: all, namespace: shop, labels: { istio.io/waypoint-for: all } }
spec: { gatewayClassName: istio-waypoint, addresses: [{ value: 10.0.9.1 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: waypoint-0, namespace: shop, labels: { gateway.networking.k8s.io/gateway-name: waypoint } }
spec: { nodeName: n }
status: { podIP: 10.0.8.1 }
---
apiVersion: v1
kind: Service
metadata: { name: cart, namespace: shop }
spec: { clusterIP: 10.96.0.1, ports: [{ port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: opted-out, namespace: shop, labels: { istio.io/use-waypoint: none } }
spec: { ports: [{ port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: uses-all, namespace: shop, labels: { istio.io/use-waypoint: all } }
spec: { ports: [{ port: 80 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: app, namespace: shop }
spec: { nodeName: n }
---
apiVersion: v1
kind: Pod
metadata: { name: app-all, namespace: shop, labels: { istio.io/use-waypoint: all } }
spec: { nodeName: n }
`;
  const parsed = parseManifests(text, 'wp.yaml');
  const snap = buildSnapshot(parsed.resources);
  const get = <T>(m: ReadonlyMap<string, T>, k: string): T => m.get(k) as T;

  it('parses', () => expect(parsed.errors).toEqual([]));

  it('uses the service label, else the namespace label; "none" opts out', () => {
    expect(snap.waypointFor(get(snap.services, 'shop/cart'))?.name).toBe('waypoint');
    expect(snap.waypointFor(get(snap.services, 'shop/opted-out'))).toBeUndefined();
    expect(snap.waypointFor(get(snap.services, 'shop/uses-all'))?.name).toBe('all');
  });

  it.each([
    ['service', { service: true, workload: false }],
    ['workload', { service: false, workload: true }],
    ['all', { service: true, workload: true }],
    ['none', { service: false, workload: false }],
  ] as const)('istio.io/waypoint-for: %s', (value, expected) => {
    const one = buildSnapshot(parseManifests(text.replace('name: waypoint, namespace: shop }', `name: waypoint, namespace: shop, labels: { istio.io/waypoint-for: ${value} } }`), 'wp.yaml').resources);
    expect(one.waypointFor(get(one.services, 'shop/cart'))?.name === 'waypoint').toBe(expected.service);
    expect(one.waypointFor(get(one.pods, 'shop/app'))?.name === 'waypoint').toBe(expected.workload);
  });

  it('honours istio.io/waypoint-for (service by default) for workloads', () => {
    expect(snap.waypointFor(get(snap.pods, 'shop/app'))).toBeUndefined();
    expect(snap.waypointFor(get(snap.pods, 'shop/app-all'))?.name).toBe('all');
  });

  it('finds waypoint addresses from the Gateway, else its pods', () => {
    expect(snap.waypointAddressesOf(get(snap.gateways, 'shop/all'))).toEqual(['10.0.9.1']);
    expect(snap.waypointAddressesOf(get(snap.gateways, 'shop/waypoint'))).toEqual(['10.0.8.1']);
  });
});

describe('routesFor', () => {
  it('finds HTTPRoutes by Service parentRef', () => {
    const { resources, errors } = parseManifests(
      `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ group: "", kind: Service, name: reviews }]
  rules: [{ backendRefs: [{ name: reviews-v1, port: 9080 }] }]
`,
      'r.yaml',
    );
    expect(errors).toEqual([]);
    const snap = buildSnapshot([...load('bookinfo'), ...resources]);
    expect(snap.routesFor(svc(snap, 'reviews')).map((r) => r.name)).toEqual(['r']);
    expect(snap.routesFor(svc(snap, 'ratings'))).toEqual([]);
  });
});

describe('buildSnapshot with EndpointSlice endpoints', () => {
  const resources = load('bookinfo');
  const slices = new Map([
    // details selects details-v1; its slice says ratings-v1 instead: the slice wins.
    ['default/details', [{ pod: 'default/ratings-v1', address: '10.77.2.13', portName: 'http', port: 9080 }]],
    // A port name the Service lacks, and a Pod the mesh does not know, are left out.
    ['default/ratings', [
      { pod: 'default/ratings-v1', address: '10.77.2.13', portName: 'grpc', port: 9090 },
      { pod: 'default/gone', address: '10.77.2.99', portName: 'http', port: 9080 },
    ]],
  ]);
  const snap = buildSnapshot(resources, { endpointSlices: slices });

  it('takes a sliced Service endpoints from its slices, and the others from their selector', () => {
    expect(snap.endpointsOf(svc(snap, 'details')).map((e) => `${e.pod.name} ${e.address}:${e.targetPort}`)).toEqual(['ratings-v1 10.77.2.13:9080']);
    expect(snap.endpointsOf(svc(snap, 'ratings'))).toEqual([]);
    const plain = buildSnapshot(resources);
    expect(snap.endpointsOf(svc(snap, 'productpage'))).toEqual(plain.endpointsOf(svc(plain, 'productpage')));
  });
});
