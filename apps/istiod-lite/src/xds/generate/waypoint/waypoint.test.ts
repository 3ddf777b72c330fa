import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildSnapshot, parseManifests, type MeshSnapshot } from '@mesh/mesh-model';
import { canonicalResource, type ResourceJson } from '@mesh/xds';
import { gatewayDurationToProto } from './routes.js';
import { generateWaypointConfig, servicesOfWaypoint, waypointGatewayOfPod } from './waypoint.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ECHO = readFileSync(new URL('../../../../../../examples/waypoint/echo.yaml', import.meta.url), 'utf8');
const ECHO_NO_ROUTE = ECHO.split(/^---$/m)
  .filter((d) => !/^kind: HTTPRoute$/m.test(d))
  .join('---');
const NODES = `apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: 10.77.0.11}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
status: {addresses: [{type: InternalIP, address: 10.77.0.12}]}
`;

function mesh(...extra: string[]): MeshSnapshot {
  const { resources, errors } = parseManifests([NODES, ECHO_NO_ROUTE, ...extra].join('\n---\n'), 'test.yaml');
  expect(errors).toEqual([]);
  return buildSnapshot(resources);
}

function route(rules: string, extraParent = ''): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: echo, namespace: echo}
spec:
  parentRefs:
    - {group: "", kind: Service, name: echo${extraParent}}
  rules:
${rules}`;
}

function generate(snapshot: MeshSnapshot) {
  const config = generateWaypointConfig(snapshot, waypointGatewayOfPod(snapshot, 'echo', 'waypoint-0'));
  for (const r of [...config.listeners, ...config.clusters, ...config.endpoints, ...config.routes]) expect(canonicalResource(r as unknown as ResourceJson)).toEqual(r);
  return config;
}

const echoRoutes = (config: ReturnType<typeof generate>): Obj[] =>
  (config.routes.find((r) => r.name === 'inbound-vip|80|http|echo.echo.svc.cluster.local') as Obj).virtual_hosts[0].routes;

describe('waypoint routes: Gateway API precedence as first-match order', () => {
  it('exact > regex > longest prefix > method > more headers > more query params > declaration order', () => {
    const config = generate(
      mesh(
        route(`    - matches:
        - path: {type: PathPrefix, value: /}
        - path: {type: PathPrefix, value: /api}
        - path: {type: PathPrefix, value: /api}
          method: POST
        - path: {type: PathPrefix, value: /api}
          headers: [{name: a, value: "1"}, {name: b, value: "2"}]
        - path: {type: PathPrefix, value: /api}
          queryParams: [{name: q, value: "1"}]
        - path: {type: RegularExpression, value: "/r/.*"}
        - path: {type: Exact, value: /exact}
      backendRefs: [{name: echo-v1, port: 80}]
`),
      ),
    );
    expect(echoRoutes(config).map((r) => JSON.stringify(r.match))).toEqual([
      JSON.stringify({ path: '/exact' }),
      JSON.stringify({ safe_regex: { regex: '/r/.*' } }),
      JSON.stringify({ path_separated_prefix: '/api', headers: [{ name: ':method', string_match: { exact: 'POST' } }] }),
      JSON.stringify({ path_separated_prefix: '/api', headers: [{ name: 'a', string_match: { exact: '1' } }, { name: 'b', string_match: { exact: '2' } }] }),
      JSON.stringify({ path_separated_prefix: '/api', query_parameters: [{ name: 'q', string_match: { exact: '1' } }] }),
      JSON.stringify({ path_separated_prefix: '/api' }),
      JSON.stringify({ prefix: '/' }),
    ]);
  });

  it('a service without an HTTPRoute routes to itself with no timeout', () => {
    expect(echoRoutes(generate(mesh()))).toEqual([{ name: 'default', match: { prefix: '/' }, route: { cluster: 'inbound-vip|80|http|echo.echo.svc.cluster.local', timeout: '0s' } }]);
  });

  it('filters, timeout and retry land on the route', () => {
    const config = generate(
      mesh(
        route(`    - matches: [{path: {type: PathPrefix, value: /v1}}]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set: [{name: X-Set, value: a}]
            add: [{name: x-add, value: b}]
            remove: [x-gone]
        - type: URLRewrite
          urlRewrite: {hostname: echo.internal, path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}
      backendRefs: [{name: echo-v1, port: 80, weight: 3}, {name: echo-v2, port: 80, weight: 1}, {name: missing, port: 80}]
      timeouts: {request: 1m30s}
      retry: {attempts: 3, codes: [502, 503], backoff: 100ms}
`),
      ),
    );
    expect(echoRoutes(config)[0]).toEqual({
      name: 'echo.echo.0.0',
      match: { path_separated_prefix: '/v1' },
      route: {
        weighted_clusters: {
          clusters: [
            { name: 'inbound-vip|80|http|echo-v1.echo.svc.cluster.local', weight: 3 },
            { name: 'inbound-vip|80|http|echo-v2.echo.svc.cluster.local', weight: 1 },
          ],
        },
        timeout: '90s',
        retry_policy: { retry_on: 'retriable-status-codes', num_retries: 3, retriable_status_codes: [502, 503], retry_back_off: { base_interval: '0.100s' } },
        host_rewrite_literal: 'echo.internal',
        regex_rewrite: { pattern: { regex: '^/v1(/.*)?$' }, substitution: '/v2\\1' },
      },
      request_headers_to_add: [
        { header: { key: 'x-set', value: 'a' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
        { header: { key: 'x-add', value: 'b' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
      ],
      request_headers_to_remove: ['x-gone'],
    });
  });

  it('a rule whose backends are all unknown answers 500 (Gateway API)', () => {
    const config = generate(mesh(route(`    - backendRefs: [{name: nowhere, port: 80}]\n`)));
    expect(echoRoutes(config)[0]?.direct_response).toEqual({ status: 500 });
  });

  it.each([
    ['10s', '10s'],
    ['500ms', '0.500s'],
    ['1500ms', '1.500s'],
    ['1m30s', '90s'],
    ['1h', '3600s'],
    ['0s', '0s'],
  ])('Gateway API duration %s → %s', (input, want) => {
    expect(gatewayDurationToProto(input)).toBe(want);
  });
  it.each(['10', 's', '1.5s', '10sx'])('refuses duration %s', (input) => {
    expect(() => gatewayDurationToProto(input)).toThrow(/not a Gateway API duration/);
  });
});

describe('which services and policies a waypoint takes', () => {
  it('services of a namespace labelled istio.io/use-waypoint (waypoint-for: service)', () => {
    const s = mesh();
    expect(servicesOfWaypoint(s, waypointGatewayOfPod(s, 'echo', 'waypoint-0')).map((x) => x.name)).toEqual(['echo', 'echo-v1', 'echo-v2']);
  });

  it('a Service labelled istio.io/use-waypoint: none opts out', () => {
    const s = mesh(`apiVersion: v1
kind: Service
metadata: {name: opted-out, namespace: echo, labels: {istio.io/use-waypoint: none}}
spec: {clusterIP: 10.77.100.29, selector: {app: echo}, ports: [{port: 80}]}`);
    expect(servicesOfWaypoint(s, waypointGatewayOfPod(s, 'echo', 'waypoint-0')).map((x) => x.name)).not.toContain('opted-out');
  });

  it('a policy targeting the Gateway applies to every service; one targeting a Service only to it', () => {
    const policy = (name: string, target: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: echo}
spec:
  targetRefs: [${target}]
  action: DENY
  rules: [{to: [{operation: {methods: [DELETE]}}]}]`;
    const config = generate(mesh(policy('no-delete', '{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}'), policy('v1-only', '{kind: Service, group: "", name: echo-v1}')));
    const main = config.listeners.find((l) => l.name === 'main_internal') as Obj;
    const rbacOf = (svc: string) =>
      main.filter_chains
        .find((c: Obj) => c.name === `inbound-vip|80|http|${svc}.echo.svc.cluster.local`)
        .filters[0].typed_config.http_filters.filter((f: Obj) => f.name === 'envoy.filters.http.rbac')
        .flatMap((f: Obj) => Object.keys(f.typed_config.rules.policies));
    expect(rbacOf('echo')).toEqual(['ns[echo]-policy[no-delete]-rule[0]']);
    expect(rbacOf('echo-v1')).toEqual(['ns[echo]-policy[no-delete]-rule[0]', 'ns[echo]-policy[v1-only]-rule[0]']);
  });

  it.each([
    ['an unknown pod', 'echo', 'nobody', undefined, /no such pod/],
    ['a pod without the gateway label', 'echo', 'echo-v1', undefined, /has no gateway.networking.k8s.io\/gateway-name label/],
    ['a waypoint pod claimed from another node', 'echo', 'waypoint-0', 'node-a', /runs on node-b, not on node-a/],
  ])('refuses %s', (_why, ns, pod, node, message) => {
    expect(() => waypointGatewayOfPod(mesh(), ns, pod, node)).toThrow(message);
  });
});
