/**
 * /debug/route_status: the Gateway API status of every HTTPRoute in force, so a user can read why
 * a route does nothing or answers 500, and it follows manifest edits (a ReferenceGrant added).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MESH_YAML, startTestIstiod, waitFor } from './helpers.js';
import type { TestIstiod } from './helpers.js';

let env: TestIstiod | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

const SERVICES = `apiVersion: v1
kind: Namespace
metadata: { name: echo, labels: { istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint } }
---
apiVersion: v1
kind: Namespace
metadata: { name: backends }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: echo }
spec: { gatewayClassName: istio-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }
---
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: echo }
spec: { clusterIP: 10.77.100.20, ports: [{ port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: backends }
spec: { clusterIP: 10.77.100.40, ports: [{ port: 8080 }] }
`;

const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: to-web, namespace: echo }
spec:
  parentRefs: [{ group: "", kind: Service, name: echo }]
  rules: [{ backendRefs: [{ name: web, namespace: backends, port: 8080 }] }]
`;

const GRANT = `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: { name: from-echo, namespace: backends }
spec:
  from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: echo }]
  to: [{ group: "", kind: Service }]
`;

async function routeStatus(port: number): Promise<{ generation: number; routes: Array<Record<string, any>> }> {
  return (await (await fetch(`http://127.0.0.1:${port}/debug/route_status`)).json()) as never;
}

describe('/debug/route_status', () => {
  it('says a cross-namespace backend is RefNotPermitted until a ReferenceGrant allows it', async () => {
    env = await startTestIstiod({ 'mesh.yaml': MESH_YAML, 'services.yaml': SERVICES, 'route.yaml': ROUTE });
    const { routes } = await routeStatus(env.istiod.ports.debug);
    expect(routes).toHaveLength(1);
    expect(routes[0]).toMatchObject({ namespace: 'echo', name: 'to-web', source: expect.stringMatching(/route\.yaml:1$/) });
    expect(routes[0]!.parents[0].conditions).toEqual([
      { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'a producer route: applies to every caller of Service echo/echo on every port' },
      {
        type: 'ResolvedRefs',
        status: 'False',
        reason: 'RefNotPermitted',
        message: 'spec.rules[0].backendRefs[0]: Service backends/web is in another namespace and no ReferenceGrant in namespace backends lets HTTPRoutes from namespace echo refer to it',
      },
    ]);

    await env.writeManifest('grant.yaml', GRANT);
    await waitFor(async () => (await routeStatus(env!.istiod.ports.debug)).routes[0]?.parents[0].conditions[1].status === 'True', { what: 'the grant applied' });
  });
});
