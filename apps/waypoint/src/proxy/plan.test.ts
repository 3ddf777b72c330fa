import { describe, expect, it } from 'vitest';
import { compileRbacFilter } from '@mesh/envoy-config';
import type { ClusterModel, HttpChain } from '../config/model.js';
import { compileRouteConfiguration } from '../routing/routes.js';
import { planRequest, redirectLocation, type PlanInput, type PlannedRequest } from './plan.js';

type Obj = Record<string, unknown>;

const CLUSTERS = new Map<string, ClusterModel>(
  ['v1', 'v2', 'mirror'].map((name) => [name, { name, kind: 'eds', protocol: 'http1' }] as const),
);

const chain = (overrides: Partial<HttpChain> = {}): HttpChain => ({ kind: 'http', name: 'chain', statPrefix: 'chain', routeConfigName: 'rc', rbac: [], cors: true, upgrades: new Set(['websocket']), ...overrides });

function input(routes: Obj[], request: Partial<PlannedRequest> = {}, overrides: Partial<PlanInput> = {}): PlanInput {
  const rc = compileRouteConfiguration({ name: 'rc', virtual_hosts: [{ name: 'vh', domains: ['*'], routes }] }, 'routes[0]');
  return {
    chain: chain(),
    routes: new Map([['rc', rc]]),
    clusters: CLUSTERS,
    request: { method: 'GET', path: '/', authority: 'echo', headers: {}, ...request },
    downstream: { peerIdentity: 'spiffe://cluster.local/ns/default/sa/sleep', sourceAddress: '10.0.0.1', destinationIp: '10.96.0.1', destinationPort: 80 },
    random: () => 0,
    requestId: () => 'id-1',
    ...overrides,
  };
}

const forwardTo = (cluster: string, extra: Obj = {}) => ({ name: 'r', match: { prefix: '/' }, route: { cluster, timeout: '0s', ...extra } });

describe('planRequest', () => {
  it('forwards with the route and cluster header changes (cluster first, route after), host rewrite and the request id', () => {
    const plan = planRequest(
      input(
        [
          {
            name: 'r',
            match: { prefix: '/' },
            route: {
              weighted_clusters: {
                clusters: [{ name: 'v1', weight: 1, host_rewrite_literal: 'v1.internal', request_headers_to_add: [{ header: { key: 'x-who', value: 'cluster' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] }],
              },
              regex_rewrite: { pattern: { regex: '^/a(/.*)?$' }, substitution: '/b\\1' },
            },
            request_headers_to_add: [{ header: { key: 'x-who', value: 'route' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
            response_headers_to_add: [{ header: { key: 'x-resp', value: '1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
          },
        ],
        { path: '/a/c?q=1', headers: { 'x-keep': 'k', connection: 'keep-alive', 'content-length': '3' } },
      ),
    );
    expect(plan).toMatchObject({
      kind: 'forward',
      route: 'r',
      cluster: { name: 'v1' },
      path: '/b/c?q=1',
      headers: { 'x-keep': 'k', 'x-who': 'route', host: 'v1.internal', 'x-request-id': 'id-1', 'x-forwarded-proto': 'http' },
      timeoutMs: 15_000,
    });
    expect(plan.kind === 'forward' && plan.headers).not.toHaveProperty('connection');
    expect(plan.kind === 'forward' && plan.responseMutations[1]?.set).toEqual([{ name: 'x-resp', value: '1' }]);
  });

  it('a chosen cluster that does not exist answers the route\'s status (500 for an invalid backend), flag NC', () => {
    const plan = planRequest(input([forwardTo('unresolved|RefNotPermitted|Service/other/web:80', { cluster_not_found_response_code: 'INTERNAL_SERVER_ERROR' })]));
    expect(plan).toMatchObject({ kind: 'respond', status: 500, flags: 'NC', log: { cluster: 'unresolved|RefNotPermitted|Service/other/web:80' } });
    expect(planRequest(input([forwardTo('gone')]))).toMatchObject({ kind: 'respond', status: 503, flags: 'NC' });
  });

  it('no route: 404 NR; a direct response: its status', () => {
    expect(planRequest(input([{ name: 'only', match: { path: '/only' }, route: { cluster: 'v1' } }]))).toMatchObject({ kind: 'respond', status: 404, flags: 'NR' });
    expect(planRequest(input([{ name: 'd', match: { prefix: '/' }, direct_response: { status: 500 } }]))).toMatchObject({ kind: 'respond', status: 500, flags: '-' });
  });

  it('RBAC decides first: 403 naming the policy', () => {
    const deny = compileRbacFilter({ rules: { action: 'DENY', policies: { 'ns[echo]-policy[no]-rule[0]': { permissions: [{ any: true }], principals: [{ any: true }] } } } }, 'rbac', 'http');
    const plan = planRequest(input([forwardTo('v1')], {}, { chain: chain({ rbac: deny ? [deny] : [] }) }));
    expect(plan).toMatchObject({ kind: 'respond', status: 403, flags: 'RBAC', log: { rbac_policy: 'ns[echo]-policy[no]-rule[0]' } });
  });

  it('mirrors each request to a mirror cluster that exists, by its fraction', () => {
    const routes = [forwardTo('v1', { request_mirror_policies: [{ cluster: 'mirror' }, { cluster: 'mirror', runtime_fraction: { default_value: { numerator: 50 } } }, { cluster: 'absent' }] })];
    const low = planRequest(input(routes, {}, { random: () => 0.1 }));
    const high = planRequest(input(routes, {}, { random: () => 0.9 }));
    expect(low.kind === 'forward' && low.mirrors.map((m) => m.name)).toEqual(['mirror', 'mirror']);
    expect(high.kind === 'forward' && high.mirrors.map((m) => m.name)).toEqual(['mirror']);
  });

  it('consumer routes: the caller\'s namespace from its SPIFFE identity', () => {
    const routes = [
      { name: 'consumer', match: { prefix: '/', dynamic_metadata: [{ filter: 'istio_authn', path: [{ key: 'source.namespace' }], value: { string_match: { exact: 'consumer' } } }] }, route: { cluster: 'v2' } },
      forwardTo('v1'),
    ];
    const from = (identity: string) => planRequest(input(routes, {}, { downstream: { peerIdentity: identity, sourceAddress: '10.0.0.1', destinationIp: '10.96.0.1', destinationPort: 80 } }));
    expect(from('spiffe://cluster.local/ns/consumer/sa/default')).toMatchObject({ cluster: { name: 'v2' } });
    expect(from('spiffe://cluster.local/ns/default/sa/sleep')).toMatchObject({ cluster: { name: 'v1' } });
  });

  it('an upgrade the chain does not allow: 403', () => {
    expect(planRequest(input([forwardTo('v1')], { upgrade: 'h2c' }))).toMatchObject({ kind: 'respond', status: 403, flags: 'UPE' });
    expect(planRequest(input([forwardTo('v1')], { upgrade: 'websocket' }))).toMatchObject({ kind: 'forward', upgrade: 'websocket', headers: { connection: 'upgrade', upgrade: 'websocket' } });
  });
});

describe('redirects', () => {
  const redirect = (fields: Obj, request: Partial<PlannedRequest> = {}) => {
    const plan = planRequest(input([{ name: 'r', match: { prefix: '/' }, redirect: fields }], { path: '/original-prefix/lemon?x=1', authority: 'echo', ...request }));
    return plan.kind === 'respond' ? [plan.status, plan.headers['location']] : plan;
  };
  it.each([
    ['port only', { port_redirect: 8083, response_code: 'FOUND' }, [302, 'http://echo:8083/original-prefix/lemon?x=1']],
    ['host and the listener port 80 left out', { host_redirect: 'example.org', port_redirect: 80, response_code: 'FOUND' }, [302, 'http://example.org/original-prefix/lemon?x=1']],
    ['https on 443 left out', { scheme_redirect: 'https', port_redirect: 443 }, [301, 'https://echo/original-prefix/lemon?x=1']],
    ['https on another port', { scheme_redirect: 'https', port_redirect: 8443, response_code: 'TEMPORARY_REDIRECT' }, [307, 'https://echo:8443/original-prefix/lemon?x=1']],
    ['full path', { path_redirect: '/full-path-replacement', port_redirect: 80, response_code: 'PERMANENT_REDIRECT' }, [308, 'http://echo/full-path-replacement?x=1']],
    [
      'prefix',
      { regex_rewrite: { pattern: { regex: '^/original-prefix(/.*)?$' }, substitution: '/replacement-prefix\\1' }, port_redirect: 80, response_code: 'SEE_OTHER' },
      [303, 'http://echo/replacement-prefix/lemon?x=1'],
    ],
  ])('%s', (_why, fields, want) => {
    expect(redirect(fields)).toEqual(want);
  });

  it('keeps the port of the Host header when the redirect does not set one', () => {
    expect(redirectLocation({ stripQuery: true, status: 302, host: 'example.org' }, { method: 'GET', path: '/p?q', authority: 'echo:8080', headers: {} })).toBe('http://example.org:8080/p');
  });
});

describe('CORS', () => {
  const cors = (fields: Obj) => ({
    name: 'r',
    match: { prefix: '/' },
    route: { cluster: 'v1' },
    typed_per_filter_config: { 'envoy.filters.http.cors': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy', ...fields } },
  });
  const policy = cors({
    allow_origin_string_match: [{ exact: 'https://www.foo.com' }, { safe_regex: { regex: '^https://.+\\.bar\\.com$' } }],
    allow_methods: 'GET, OPTIONS',
    allow_headers: 'x-header-1, x-header-2',
    expose_headers: 'x-header-3, x-header-4',
    max_age: '3600',
    allow_credentials: true,
  });
  const preflight = (origin: string, extra: Record<string, string> = {}) => ({ method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET', ...extra } });

  it('answers a preflight from an allowed origin (exact or wildcard) itself', () => {
    for (const origin of ['https://www.foo.com', 'https://xpto.www.bar.com']) {
      expect(planRequest(input([policy], preflight(origin)))).toMatchObject({
        kind: 'respond',
        status: 200,
        headers: {
          'access-control-allow-origin': origin,
          'access-control-allow-methods': 'GET, OPTIONS',
          'access-control-allow-headers': 'x-header-1, x-header-2',
          'access-control-expose-headers': 'x-header-3, x-header-4',
          'access-control-max-age': '3600',
          'access-control-allow-credentials': 'true',
        },
      });
    }
  });

  it('forwards a preflight from another origin, and adds nothing to it', () => {
    expect(planRequest(input([policy], preflight('https://foobar.com')))).toMatchObject({ kind: 'forward', responseHeaders: {} });
  });

  it('adds allow-origin (and credentials, expose) to the response of a request from an allowed origin', () => {
    expect(planRequest(input([policy], { headers: { origin: 'https://www.bar.com' } }))).toMatchObject({
      kind: 'forward',
      responseHeaders: { 'access-control-allow-origin': 'https://www.bar.com', 'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'x-header-3, x-header-4' },
    });
  });

  it('"*" methods and headers echo what the preflight asks for', () => {
    const wildcard = cors({ allow_origin_string_match: [{ safe_regex: { regex: '.*' } }], allow_methods: '*', allow_headers: '*', max_age: '5' });
    const plan = planRequest(input([wildcard], preflight('https://foobar.com:12345', { 'access-control-request-method': 'PUT', 'access-control-request-headers': 'x-a, x-b' })));
    expect(plan).toMatchObject({ kind: 'respond', headers: { 'access-control-allow-origin': 'https://foobar.com:12345', 'access-control-allow-methods': 'PUT', 'access-control-allow-headers': 'x-a, x-b' } });
    expect(plan.kind === 'respond' && plan.headers).not.toHaveProperty('access-control-allow-credentials');
  });

  it('without the cors filter in the chain, a route\'s policy does nothing (Envoy)', () => {
    expect(planRequest(input([policy], preflight('https://www.foo.com'), { chain: chain({ cors: false }) }))).toMatchObject({ kind: 'forward' });
  });
});
