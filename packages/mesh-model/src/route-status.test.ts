import { describe, expect, it } from 'vitest';
import { attachedHttpRoutes, buildSnapshot, httpRouteStatus, parseManifests, type HttpRoute, type MeshSnapshot, type Service } from './index.js';

/** Namespace `echo` uses waypoint `waypoint`; `backends` has Services but no waypoint; `consumer` calls echo. */
const MESH = `apiVersion: v1
kind: Namespace
metadata: { name: echo, labels: { istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint } }
---
apiVersion: v1
kind: Namespace
metadata: { name: backends, labels: { istio.io/dataplane-mode: ambient } }
---
apiVersion: v1
kind: Namespace
metadata: { name: consumer, labels: { istio.io/dataplane-mode: ambient } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: echo }
spec: { gatewayClassName: istio-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }
---
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: echo }
spec: { clusterIP: 10.0.0.1, ports: [{ name: http, port: 80 }, { name: http-alt, port: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: v1, namespace: echo }
spec: { clusterIP: 10.0.0.2, ports: [{ port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: backends }
spec: { clusterIP: 10.0.0.3, ports: [{ port: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: other, namespace: backends }
spec: { clusterIP: 10.0.0.4, ports: [{ port: 8080 }] }
`;

function snapshot(...extra: string[]): MeshSnapshot {
  const { resources, errors } = parseManifests([MESH, ...extra].join('\n---\n'), 'mesh.yaml');
  expect(errors).toEqual([]);
  return buildSnapshot(resources);
}

function route(name: string, namespace: string, parents: string, backends: string, filters = ''): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  parentRefs: ${parents}
  rules:
    - backendRefs: ${backends}
${filters}`;
}

const GRANT = (to: string, from = 'echo', namespace = 'backends') => `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: { name: grant, namespace: ${namespace} }
spec:
  from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: ${from} }]
  to: [${to}]
`;

const echoParent = '[{ group: "", kind: Service, name: echo, namespace: echo }]';
const conditions = (s: MeshSnapshot, key: string) =>
  httpRouteStatus(s, s.httpRoutes.get(key) as HttpRoute).parents.map((p) => p.conditions.map((c) => `${c.type}=${c.status} ${c.reason}: ${c.message}`));

describe('route status: Accepted', () => {
  it('a route in the Service namespace is a producer route for every caller', () => {
    const s = snapshot(route('r', 'echo', echoParent, '[{ name: v1, port: 80 }]'));
    expect(conditions(s, 'echo/r')).toEqual([
      ['Accepted=True Accepted: a producer route: applies to every caller of Service echo/echo on every port', 'ResolvedRefs=True ResolvedRefs: every backendRef resolves'],
    ]);
  });

  it('a route in another namespace is a consumer route for its own namespace only', () => {
    const s = snapshot(route('r', 'consumer', '[{ group: "", kind: Service, name: echo, namespace: echo, port: 8080 }]', '[{ name: echo, namespace: echo, port: 80 }]'));
    const status = httpRouteStatus(s, s.httpRoutes.get('consumer/r') as HttpRoute);
    expect(status.parents[0]?.consumerNamespace).toBe('consumer');
    expect(conditions(s, 'consumer/r')[0]).toEqual([
      'Accepted=True Accepted: a consumer route: applies only to callers in namespace consumer of Service echo/echo on port 8080',
      // The route's own parent Service needs no grant: its callers reach it anyway.
      'ResolvedRefs=True ResolvedRefs: every backendRef resolves',
    ]);
  });

  it('says why a parent binds to nothing', () => {
    const s = snapshot(
      route(
        'r',
        'echo',
        `[{ name: waypoint }, { group: "", kind: Service, name: nope }, { group: "", kind: Service, name: web, namespace: backends }, { group: "", kind: Service, name: echo, port: 81 }, { group: "", kind: Service, name: echo, sectionName: grpc }, { kind: Service, name: echo }]`,
        '[{ name: v1, port: 80 }]',
      ),
    );
    expect(conditions(s, 'echo/r').map(([accepted]) => accepted)).toEqual([
      'Accepted=False UnsupportedValue: a Gateway parent is not supported by this mesh: bind the route to a Service (its waypoint applies it)',
      'Accepted=False NoMatchingParent: Service echo/nope not found',
      'Accepted=False NoMatchingParent: Service backends/web does not use a waypoint (label istio.io/use-waypoint on the Service or its namespace), so nothing applies this route',
      'Accepted=False NoMatchingParent: Service echo/echo has no port 81',
      'Accepted=False NoMatchingParent: Service echo/echo has no port name "grpc"',
      'Accepted=False NoMatchingParent: a Service parentRef needs group "" (got "gateway.networking.k8s.io")',
    ]);
  });
});

describe('route status: ResolvedRefs and ReferenceGrant', () => {
  it('a backend in another namespace without a ReferenceGrant is RefNotPermitted, and names what is missing', () => {
    const s = snapshot(route('r', 'echo', echoParent, '[{ name: web, namespace: backends, port: 8080 }]'));
    expect(conditions(s, 'echo/r')[0]?.[1]).toBe(
      'ResolvedRefs=False RefNotPermitted: spec.rules[0].backendRefs[0]: Service backends/web is in another namespace and no ReferenceGrant in namespace backends lets HTTPRoutes from namespace echo refer to it',
    );
  });

  it('a grant for that Service, or for every Service, in the backend namespace permits it', () => {
    for (const to of ['{ group: "", kind: Service, name: web }', '{ group: "", kind: Service }', '{ group: core, kind: Service }']) {
      const s = snapshot(route('r', 'echo', echoParent, '[{ name: web, namespace: backends, port: 8080 }]'), GRANT(to));
      expect(conditions(s, 'echo/r')[0]?.[1]).toBe('ResolvedRefs=True ResolvedRefs: every backendRef resolves');
    }
  });

  it('a grant for another Service, from another namespace, or living in the wrong namespace does not', () => {
    const backend = '[{ name: web, namespace: backends, port: 8080 }]';
    for (const grant of [GRANT('{ group: "", kind: Service, name: other }'), GRANT('{ group: "", kind: Service }', 'consumer'), GRANT('{ group: "", kind: Service }', 'echo', 'echo')]) {
      const s = snapshot(route('r', 'echo', echoParent, backend), grant);
      expect(conditions(s, 'echo/r')[0]?.[1]).toMatch(/^ResolvedRefs=False RefNotPermitted/);
    }
  });

  it('InvalidKind and BackendNotFound, and mirrors are checked like backends', () => {
    const s = snapshot(
      route(
        'r',
        'echo',
        echoParent,
        '[{ group: multicluster.x-k8s.io, kind: ServiceImport, name: v1 }, { name: gone, port: 80 }, { name: v1, port: 81 }]',
        '      filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: other, namespace: backends, port: 8080 } } }]\n',
      ),
    );
    const status = httpRouteStatus(s, s.httpRoutes.get('echo/r') as HttpRoute);
    expect(status.refProblems.map((p) => `${p.path} ${p.reason}: ${p.message}`)).toEqual([
      'spec.rules[0].backendRefs[0] InvalidKind: multicluster.x-k8s.io/ServiceImport is not a backend kind this mesh supports (only a core Service)',
      'spec.rules[0].backendRefs[1] BackendNotFound: Service echo/gone not found',
      'spec.rules[0].backendRefs[2] BackendNotFound: Service echo/v1 has no port 81 (it has 80)',
      'spec.rules[0].filters[0].requestMirror.backendRef RefNotPermitted: Service backends/other is in another namespace and no ReferenceGrant in namespace backends lets HTTPRoutes from namespace echo refer to it',
    ]);
    expect(status.parents[0]?.conditions[1]).toMatchObject({ status: 'False', reason: 'InvalidKind' });
  });
});

describe('attachedHttpRoutes', () => {
  it('splits producer and consumer routes and honours parentRef port and sectionName', () => {
    const s = snapshot(
      route('all', 'echo', echoParent, '[{ name: v1, port: 80 }]'),
      route('alt', 'echo', '[{ group: "", kind: Service, name: echo, sectionName: http-alt }]', '[{ name: v1, port: 80 }]'),
      route('mine', 'consumer', '[{ group: "", kind: Service, name: echo, namespace: echo, port: 80 }]', '[{ name: echo, namespace: echo, port: 80 }]'),
      route('lost', 'echo', '[{ group: "", kind: Service, name: echo, port: 81 }]', '[{ name: v1, port: 80 }]'),
    );
    const echo = s.services.get('echo/echo') as Service;
    const names = (port: number) => {
      const attached = attachedHttpRoutes(s, echo, echo.ports.find((p) => p.port === port)!);
      return { producer: attached.producer.map((r) => r.name), consumers: Object.fromEntries([...attached.consumers].map(([ns, rs]) => [ns, rs.map((r) => r.name)])) };
    };
    expect(names(80)).toEqual({ producer: ['all'], consumers: { consumer: ['mine'] } });
    expect(names(8080)).toEqual({ producer: ['all', 'alt'], consumers: {} });
  });
});
