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

  it('filters, timeout and retry land on the route; an unknown backend keeps its share as 500s', () => {
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
            { name: 'unresolved|BackendNotFound|Service/echo/missing:80', weight: 1 },
          ],
        },
        cluster_not_found_response_code: 'INTERNAL_SERVER_ERROR',
        timeout: '90s',
        retry_policy: {
          retry_on: 'connect-failure,refused-stream,reset-before-request,retriable-status-codes',
          num_retries: 3,
          retriable_status_codes: [502, 503],
          retry_back_off: { base_interval: '0.100s' },
        },
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

  it('a rule whose backends are all unknown sends everything to a cluster that does not exist: 500 (Gateway API)', () => {
    const config = generate(mesh(route(`    - backendRefs: [{name: nowhere, port: 80}]\n`)));
    expect(echoRoutes(config)[0]?.route).toEqual({ cluster: 'unresolved|BackendNotFound|Service/echo/nowhere:80', cluster_not_found_response_code: 'INTERNAL_SERVER_ERROR', timeout: '0s' });
    expect(config.clusters.map((c) => c.name)).not.toContain('unresolved|BackendNotFound|Service/echo/nowhere:80');
  });

  it('a rule without backends, or only zero weights, answers 500 itself', () => {
    const config = generate(mesh(route(`    - matches: [{path: {value: /a}}]\n    - backendRefs: [{name: echo-v1, port: 80, weight: 0}]\n`)));
    expect(echoRoutes(config).map((r) => r.direct_response)).toEqual([{ status: 500 }, { status: 500 }]);
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

describe('waypoint routes: redirects, mirrors, backend filters, CORS, consumer routes', () => {
  it('RequestRedirect: explicit port (given, else the scheme\'s, else the Service port), host, path and status', () => {
    const config = generate(
      mesh(
        route(`    - matches: [{path: {value: /port}}]
      filters: [{type: RequestRedirect, requestRedirect: {port: 8083}}]
    - matches: [{path: {value: /scheme}}]
      filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]
    - matches: [{path: {value: /full}}]
      filters: [{type: RequestRedirect, requestRedirect: {hostname: example.org, statusCode: 308, path: {type: ReplaceFullPath, replaceFullPath: /new}}}]
    - matches: [{path: {value: /prefix}}]
      filters: [{type: RequestRedirect, requestRedirect: {statusCode: 303, path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}}]
`),
      ),
    );
    expect(Object.fromEntries(echoRoutes(config).map((r) => [r.match.path_separated_prefix, r.redirect]))).toEqual({
      '/port': { port_redirect: 8083, response_code: 'FOUND' },
      '/scheme': { scheme_redirect: 'https', port_redirect: 443 },
      '/prefix': { port_redirect: 80, regex_rewrite: { pattern: { regex: '^/prefix/?(.*)$' }, substitution: '/\\1' }, response_code: 'SEE_OTHER' },
      '/full': { host_redirect: 'example.org', port_redirect: 80, path_redirect: '/new', response_code: 'PERMANENT_REDIRECT' },
    });
  });

  it('RequestMirror: every request, a percent, a fraction; clusters for mirror backends; unresolved mirrors dropped', () => {
    const config = generate(
      mesh(
        route(`    - filters:
        - {type: RequestMirror, requestMirror: {backendRef: {name: echo-v2, port: 80}}}
        - {type: RequestMirror, requestMirror: {backendRef: {name: echo-v1, port: 80}, percent: 35}}
        - {type: RequestMirror, requestMirror: {backendRef: {name: echo-v2, port: 80}, fraction: {numerator: 1, denominator: 3}}}
        - {type: RequestMirror, requestMirror: {backendRef: {name: nowhere, port: 80}}}
      backendRefs: [{name: echo, port: 80}]
`),
      ),
    );
    expect(echoRoutes(config)[0]?.route.request_mirror_policies).toEqual([
      { cluster: 'inbound-vip|80|http|echo-v2.echo.svc.cluster.local' },
      { cluster: 'inbound-vip|80|http|echo-v1.echo.svc.cluster.local', runtime_fraction: { default_value: { numerator: 35 } } },
      { cluster: 'inbound-vip|80|http|echo-v2.echo.svc.cluster.local', runtime_fraction: { default_value: { numerator: 333333, denominator: 'MILLION' } } },
    ]);
  });

  it('backendRef filters: header changes per weighted cluster; a single backend\'s URLRewrite is the route\'s', () => {
    const config = generate(
      mesh(
        route(`    - matches: [{path: {value: /split}}]
      backendRefs:
        - {name: echo-v1, port: 80, filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-to, value: v1}]}}]}
        - {name: echo-v2, port: 80, filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {remove: [server]}}]}
    - matches: [{path: {value: /one}}]
      backendRefs:
        - {name: echo-v1, port: 80, filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: /rewritten}}}]}
`),
      ),
    );
    const [split, one] = echoRoutes(config);
    expect(split?.route.weighted_clusters.clusters).toEqual([
      { name: 'inbound-vip|80|http|echo-v1.echo.svc.cluster.local', weight: 1, request_headers_to_add: [{ header: { key: 'x-to', value: 'v1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] },
      { name: 'inbound-vip|80|http|echo-v2.echo.svc.cluster.local', weight: 1, response_headers_to_remove: ['server'] },
    ]);
    expect(one?.route).toMatchObject({ cluster: 'inbound-vip|80|http|echo-v1.echo.svc.cluster.local', regex_rewrite: { pattern: { regex: '^/.*$' }, substitution: '/rewritten' } });
  });

  it('CORS: a per-route policy for the cors filter, which the HTTP chain runs after RBAC; WebSocket upgrades allowed', () => {
    const config = generate(
      mesh(
        route(`    - filters:
        - type: CORS
          cors: {allowOrigins: ["https://www.foo.com", "https://*.bar.com"], allowMethods: [GET, OPTIONS], allowHeaders: [x-a], exposeHeaders: [x-b], allowCredentials: true, maxAge: 3600}
      backendRefs: [{name: echo-v1, port: 80}]
`),
      ),
    );
    expect(echoRoutes(config)[0]?.typed_per_filter_config).toEqual({
      'envoy.filters.http.cors': {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy',
        allow_origin_string_match: [{ exact: 'https://www.foo.com' }, { safe_regex: { regex: '^https://.+\\.bar\\.com$' } }],
        allow_methods: 'GET, OPTIONS',
        allow_headers: 'x-a',
        expose_headers: 'x-b',
        max_age: '3600',
        allow_credentials: true,
      },
    });
    const main = config.listeners.find((l) => l.name === 'main_internal') as Obj;
    const hcm = main.filter_chains.find((c: Obj) => c.name === 'inbound-vip|80|http|echo.echo.svc.cluster.local').filters[0].typed_config;
    expect(hcm.http_filters.map((f: Obj) => f.name)).toEqual(['envoy.filters.http.cors', 'envoy.filters.http.router']);
    expect(hcm.upgrade_configs).toEqual([{ upgrade_type: 'websocket' }]);
  });

  it('retries: Istio\'s default of 2 attempts, none for attempts 0, per-try timeout from backendRequest', () => {
    const config = generate(
      mesh(
        route(`    - matches: [{path: {value: /default}}]
      retry: {}
      backendRefs: [{name: echo-v1, port: 80}]
    - matches: [{path: {value: /none}}]
      retry: {attempts: 0}
      timeouts: {backendRequest: 2s}
      backendRefs: [{name: echo-v1, port: 80}]
    - matches: [{path: {value: /per-try}}]
      retry: {attempts: 2, codes: [500]}
      timeouts: {request: 400ms, backendRequest: 200ms}
      backendRefs: [{name: echo-v1, port: 80}]
`),
      ),
    );
    const byPath = Object.fromEntries(echoRoutes(config).map((r) => [r.match.path_separated_prefix, r.route]));
    expect(byPath['/default']).toMatchObject({ timeout: '0s', retry_policy: { retry_on: 'connect-failure,refused-stream,reset-before-request', num_retries: 2 } });
    expect(byPath['/none']).toEqual({ cluster: 'inbound-vip|80|http|echo-v1.echo.svc.cluster.local', cluster_not_found_response_code: 'INTERNAL_SERVER_ERROR', timeout: '2s' });
    expect(byPath['/per-try']).toMatchObject({
      timeout: '0.400s',
      retry_policy: { retry_on: 'connect-failure,refused-stream,reset-before-request,retriable-status-codes,gateway-error', num_retries: 2, retriable_status_codes: [500], per_try_timeout: '0.200s' },
    });
  });

  it('named rules name their routes', () => {
    const config = generate(mesh(route(`    - name: to-v1\n      backendRefs: [{name: echo-v1, port: 80}]\n`)));
    expect(echoRoutes(config)[0]?.name).toBe('echo.echo.to-v1.0');
  });

  it('consumer routes first, each for its own namespace and closed by a 404, then the producer routes', () => {
    const consumer = (ns: string, path: string) => `apiVersion: v1
kind: Namespace
metadata: {name: ${ns}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: mine, namespace: ${ns}}
spec:
  parentRefs: [{group: "", kind: Service, name: echo, namespace: echo}]
  rules: [{matches: [{path: {value: ${path}}}], backendRefs: [{name: echo, namespace: echo, port: 80}]}]`;
    const config = generate(mesh(consumer('zeta', '/z'), consumer('alpha', '/a'), route(`    - backendRefs: [{name: echo-v2, port: 80}]\n`)));
    const only = (ns: string) => [{ filter: 'istio_authn', path: [{ key: 'source.namespace' }], value: { string_match: { exact: ns } } }];
    expect(echoRoutes(config).map((r) => [r.name, r.match, r.direct_response?.status ?? r.route.cluster])).toEqual([
      ['alpha.mine.0.0', { path_separated_prefix: '/a', dynamic_metadata: only('alpha') }, 'inbound-vip|80|http|echo.echo.svc.cluster.local'],
      ['consumer.alpha.no-match', { prefix: '/', dynamic_metadata: only('alpha') }, 404],
      ['zeta.mine.0.0', { path_separated_prefix: '/z', dynamic_metadata: only('zeta') }, 'inbound-vip|80|http|echo.echo.svc.cluster.local'],
      ['consumer.zeta.no-match', { prefix: '/', dynamic_metadata: only('zeta') }, 404],
      ['echo.echo.0.0', { prefix: '/' }, 'inbound-vip|80|http|echo-v2.echo.svc.cluster.local'],
    ]);
  });

  it('a backend in another namespace needs a ReferenceGrant there; until then its share answers 500', () => {
    const other = `apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: other}
spec: {clusterIP: 10.77.100.40, ports: [{port: 8080, appProtocol: kubernetes.io/h2c}]}`;
    const grant = `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: echo-routes, namespace: other}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: echo}]
  to: [{group: "", kind: Service, name: web}]`;
    const rule = route(`    - backendRefs: [{name: web, namespace: other, port: 8080}]\n`);
    const denied = generate(mesh(other, rule));
    expect(echoRoutes(denied)[0]?.route.cluster).toBe('unresolved|RefNotPermitted|Service/other/web:8080');
    expect(denied.clusters.map((c) => c.name)).not.toContain('inbound-vip|8080|http|web.other.svc.cluster.local');
    const granted = generate(mesh(other, rule, grant));
    expect(echoRoutes(granted)[0]?.route.cluster).toBe('inbound-vip|8080|http|web.other.svc.cluster.local');
    // An h2c backend port: the cluster speaks HTTP/2 upstream.
    expect(granted.clusters.find((c) => c.name === 'inbound-vip|8080|http|web.other.svc.cluster.local')).toMatchObject({
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
          explicit_http_config: { http2_protocol_options: {} },
        },
      },
    });
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
