import { describe, expect, it } from 'vitest';
import { goldenWaypointConfig } from '../testing/golden.js';
import { compileRouteConfiguration, matchRoute, type RouteRequest } from './routes.js';

const req = (path: string, headers: Record<string, string> = {}, method = 'GET'): RouteRequest => ({ method, path, authority: '10.77.100.20:80', headers });

/** A route configuration with one route per match, each sending to a cluster named after it. */
function config(routes: Array<{ name: string; match: Record<string, unknown>; route?: Record<string, unknown> }>) {
  return compileRouteConfiguration(
    { name: 'rc', virtual_hosts: [{ name: 'vh', domains: ['*'], routes: routes.map((r) => ({ name: r.name, match: r.match, route: r.route ?? { cluster: r.name, timeout: '0s' } })) }] },
    'routes[0]',
  );
}

describe('matchRoute: HTTPRoute matches as Envoy evaluates them (first match wins)', () => {
  const rc = config([
    { name: 'exact', match: { path: '/exact' } },
    { name: 'regex', match: { safe_regex: { regex: '/items/[0-9]+' } } },
    { name: 'segment', match: { path_separated_prefix: '/api' } },
    { name: 'header-regex', match: { prefix: '/', headers: [{ name: 'x-user', string_match: { safe_regex: { regex: 'admin-.*' } } }] } },
    { name: 'query', match: { prefix: '/', query_parameters: [{ name: 'debug', string_match: { exact: 'true' } }] } },
    { name: 'method', match: { prefix: '/', headers: [{ name: ':method', string_match: { exact: 'DELETE' } }] } },
    { name: 'header', match: { prefix: '/', headers: [{ name: 'x-version', string_match: { exact: 'v2' } }] } },
    { name: 'fallback', match: { prefix: '/' } },
  ]);
  const cases: Array<[string, RouteRequest, string]> = [
    ['exact path', req('/exact'), 'exact'],
    ['exact path ignores the query string', req('/exact?x=1'), 'exact'],
    ['exact does not match a longer path', req('/exactly'), 'fallback'],
    ['regex is a full match', req('/items/42'), 'regex'],
    ['regex does not match a suffix', req('/items/42/x'), 'fallback'],
    ['segment prefix: the segment itself', req('/api'), 'segment'],
    ['segment prefix: below it', req('/api/v1'), 'segment'],
    ['segment prefix: not a longer segment', req('/apix'), 'fallback'],
    ['header regex', req('/', { 'x-user': 'admin-7' }), 'header-regex'],
    ['query parameter', req('/a?debug=true'), 'query'],
    ['query parameter value must match', req('/a?debug=false'), 'fallback'],
    ['method', req('/a', {}, 'DELETE'), 'method'],
    ['header exact', req('/a', { 'x-version': 'v2' }), 'header'],
    ['header value must match', req('/a', { 'x-version': 'v3' }), 'fallback'],
  ];
  it.each(cases)('%s', (_why, request, want) => {
    expect(matchRoute(rc, request)?.name).toBe(want);
  });

  it('no route matches: undefined (the proxy answers 404 NR)', () => {
    expect(matchRoute(config([{ name: 'only', match: { path: '/only' } }]), req('/other'))).toBeUndefined();
  });

  it('picks the virtual host by :authority before the wildcard', () => {
    const rc2 = compileRouteConfiguration(
      {
        name: 'rc',
        virtual_hosts: [
          { name: 'any', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'any' } }] },
          { name: 'named', domains: ['echo.example'], routes: [{ match: { prefix: '/' }, route: { cluster: 'named' } }] },
        ],
      },
      'r',
    );
    const hit = matchRoute(rc2, { ...req('/'), authority: 'echo.example:80' });
    expect(hit?.action).toMatchObject({ kind: 'route', clusters: [{ name: 'named', weight: 1 }] });
  });
});

describe('compileRouteConfiguration: actions', () => {
  it('reads weights, timeout, retry policy and header mutations', () => {
    const rc = compileRouteConfiguration(
      {
        name: 'rc',
        virtual_hosts: [
          {
            name: 'vh',
            domains: ['*'],
            routes: [
              {
                name: 'r',
                match: { prefix: '/' },
                route: {
                  weighted_clusters: { clusters: [{ name: 'a', weight: 90 }, { name: 'b', weight: 10 }] },
                  timeout: '1.5s',
                  retry_policy: { retry_on: 'retriable-status-codes', num_retries: 2, retriable_status_codes: [503] },
                },
                request_headers_to_add: [
                  { header: { key: 'X-Set', value: '1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
                  { header: { key: 'x-add', value: '2' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
                ],
                request_headers_to_remove: ['X-Gone'],
              },
            ],
          },
        ],
      },
      'r',
    );
    const route = rc.virtualHosts[0]?.routes[0];
    expect(route?.action).toMatchObject({ kind: 'route', clusters: [{ name: 'a', weight: 90 }, { name: 'b', weight: 10 }], timeoutMs: 1500, retry: { numRetries: 2, retriableStatusCodes: [503] } });
    expect(route?.requestHeaders).toEqual({ set: [{ name: 'x-set', value: '1' }], append: [{ name: 'x-add', value: '2' }], remove: ['x-gone'] });
  });

  it.each([
    ['full path', { pattern: { regex: '^/.*$' }, substitution: '/new' }, '/old/path?q=1', '/new?q=1'],
    ['prefix with the rest kept', { pattern: { regex: '^/v1(/.*)?$' }, substitution: '/v2\\1' }, '/v1/items', '/v2/items'],
    ['prefix alone', { pattern: { regex: '^/v1(/.*)?$' }, substitution: '/v2\\1' }, '/v1', '/v2'],
  ])('URLRewrite as regex_rewrite: %s', (_why, regexRewrite, from, to) => {
    const rc = config([{ name: 'r', match: { prefix: '/' }, route: { cluster: 'c', regex_rewrite: regexRewrite } }]);
    const action = rc.virtualHosts[0]?.routes[0]?.action;
    expect(action?.kind === 'route' && action.rewritePath?.(from)).toBe(to);
  });

  it('reads per-cluster header changes, mirrors, per-try timeout and the status for a missing cluster', () => {
    const rc = config([
      {
        name: 'r',
        match: { prefix: '/' },
        route: {
          weighted_clusters: { clusters: [{ name: 'a', weight: 1, request_headers_to_add: [{ header: { key: 'X-To', value: 'a' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }], response_headers_to_remove: ['Server'] }] },
          cluster_not_found_response_code: 'INTERNAL_SERVER_ERROR',
          retry_policy: { retry_on: 'connect-failure,gateway-error', per_try_timeout: '0.200s' },
          request_mirror_policies: [{ cluster: 'm1' }, { cluster: 'm2', runtime_fraction: { default_value: { numerator: 35 } } }, { cluster: 'm3', runtime_fraction: { default_value: { numerator: 5, denominator: 'MILLION' } } }],
        },
      },
    ]);
    const action = rc.virtualHosts[0]?.routes[0]?.action;
    expect(action).toMatchObject({
      kind: 'route',
      clusters: [{ name: 'a', weight: 1, requestHeaders: { set: [{ name: 'x-to', value: 'a' }] }, responseHeaders: { remove: ['server'] } }],
      clusterNotFoundStatus: 500,
      retry: { numRetries: 1, perTryTimeoutMs: 200 },
      mirrors: [{ cluster: 'm1' }, { cluster: 'm2', fraction: { numerator: 35, denominator: 100 } }, { cluster: 'm3', fraction: { numerator: 5, denominator: 1_000_000 } }],
    });
  });

  it('reads a redirect: scheme, host, port, path and Envoy response code', () => {
    const compiled = compileRouteConfiguration(
      {
        name: 'rc',
        virtual_hosts: [
          {
            name: 'vh',
            domains: ['*'],
            routes: [
              { name: 'r', match: { prefix: '/' }, redirect: { scheme_redirect: 'https', host_redirect: 'example.org', port_redirect: 8443, regex_rewrite: { pattern: { regex: '^/a(/.*)?$' }, substitution: '/b\\1' }, response_code: 'SEE_OTHER' } },
              { name: 'default-code', match: { prefix: '/' }, redirect: { path_redirect: '/x' } },
            ],
          },
        ],
      },
      'r',
    );
    const [r, d] = compiled.virtualHosts[0]!.routes;
    expect(r?.action).toMatchObject({ kind: 'redirect', redirect: { scheme: 'https', host: 'example.org', port: 8443, stripQuery: false, status: 303 } });
    expect(r?.action.kind === 'redirect' && r.action.redirect.path?.('/a/c')).toBe('/b/c');
    expect(d?.action).toMatchObject({ kind: 'redirect', redirect: { status: 301 } });
  });

  it('matches istio_authn source.namespace metadata (consumer routes)', () => {
    const rc = config([
      { name: 'consumer', match: { prefix: '/', dynamic_metadata: [{ filter: 'istio_authn', path: [{ key: 'source.namespace' }], value: { string_match: { exact: 'consumer' } } }] } },
      { name: 'producer', match: { prefix: '/' } },
    ]);
    expect(matchRoute(rc, { ...req('/'), metadata: { istio_authn: { 'source.namespace': 'consumer' } } })?.name).toBe('consumer');
    expect(matchRoute(rc, { ...req('/'), metadata: { istio_authn: { 'source.namespace': 'other' } } })?.name).toBe('producer');
    expect(matchRoute(rc, req('/'))?.name).toBe('producer');
  });

  it.each([
    ['an unknown route field', { name: 'r', match: { prefix: '/' }, route: { cluster: 'c' }, hedge_policy: {} }, 'hedge_policy'],
    ['per-route config of a filter the waypoint does not run', { name: 'r', match: { prefix: '/' }, route: { cluster: 'c' }, typed_per_filter_config: { 'envoy.filters.http.fault': {} } }, 'only the cors filter'],
    ['metadata other than istio_authn', { name: 'r', match: { prefix: '/', dynamic_metadata: [{ filter: 'envoy.lb', path: [{ key: 'x' }], value: { string_match: { exact: 'y' } } }] }, route: { cluster: 'c' } }, 'istio_authn'],
    ['a prefix_rewrite redirect', { name: 'r', match: { prefix: '/' }, redirect: { prefix_rewrite: '/x' } }, 'use regex_rewrite'],
    ['an unknown retry condition', { name: 'r', match: { prefix: '/' }, route: { cluster: 'c', retry_policy: { retry_on: 'envoy-ratelimited' } } }, 'envoy-ratelimited'],
    ['a match without a path', { name: 'r', match: {}, route: { cluster: 'c' } }, 'expected prefix'],
    ['weights that are all zero', { name: 'r', match: { prefix: '/' }, route: { weighted_clusters: { clusters: [{ name: 'a', weight: 0 }] } } }, 'positive weight'],
  ])('refuses %s (NACK reason names it)', (_why, route, reason) => {
    expect(() => compileRouteConfiguration({ name: 'rc', virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [route] }] }, 'r')).toThrow(reason);
  });
});

const golden = goldenWaypointConfig('waypoint-echo');
describe.skipIf(!golden)("istiod-lite's golden routes for examples/waypoint's echo", () => {
  it('x-version: v2 goes to echo-v2; everything else is split 90/10 with a 5 s timeout and 2 retries on 503', () => {
    const routes = golden!.routes.map((r, i) => compileRouteConfiguration(r, `routes[${i}]`));
    const echo = routes.find((r) => r.name === 'inbound-vip|80|http|echo.echo.svc.cluster.local')!;
    expect(matchRoute(echo, req('/', { 'x-version': 'v2' }))?.action).toMatchObject({ clusters: [{ name: 'inbound-vip|80|http|echo-v2.echo.svc.cluster.local' }] });
    expect(matchRoute(echo, req('/anything'))?.action).toMatchObject({
      clusters: [
        { name: 'inbound-vip|80|http|echo-v1.echo.svc.cluster.local', weight: 90 },
        { name: 'inbound-vip|80|http|echo-v2.echo.svc.cluster.local', weight: 10 },
      ],
      timeoutMs: 5000,
      retry: { numRetries: 2, retriableStatusCodes: [503] },
    });
  });
});
