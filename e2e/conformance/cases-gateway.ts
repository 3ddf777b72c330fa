/**
 * The suite's HTTPRoute tests (conformance/tests/), run as a mesh user would: the suite's
 * Gateway `same-namespace` becomes a Service of that name (no selector: a pure routing frontend,
 * GEP-1294) in gateway-conformance-infra, its routes bind to that Service, and the requests come
 * from the echo-v1 pod of gateway-conformance-mesh, through the waypoint. Requests, backends and
 * expectations are the suite's; the manifests are the suite's where its tests carry them,
 * else written from its expectations (docs/conformance.md).
 */
import type { ExpectedResponse } from '../helpers/conformance.js';
import { MIRROR_HEADER_FILTER, headerModifierCases, headerModifierRules, matchCase, modifiedHeadersCase, queryParamRules, redirectCases, redirectRules, rewritePathCases, rewritePathRules } from './shared-cases.js';
import { APP, FRONTEND, INFRA, SECOND_FRONTEND, WEB, httpRoute, referenceGrant, type PortedTest, type SkippedTest } from './suite.js';

const parent = `{ group: "", kind: Service, name: ${FRONTEND} }`;
const to = (name: string, port = 8080, extra = '') => `{ name: ${name}, port: ${port}${extra} }`;
const prefix = (value: string) => `[{ path: { type: PathPrefix, value: ${value} } }]`;
const route = (name: string, rules: string) => httpRoute(name, INFRA, parent, rules);
const host = `${FRONTEND}.${INFRA}`;
const at = (path: string, backend: string, extra: Partial<ExpectedResponse> = {}): ExpectedResponse => ({ request: { host, path }, backend, namespace: INFRA, ...extra });

const fail500 = (path = '/'): ExpectedResponse => ({ request: { host, path }, response: { status: 500 } });

const REDIRECTS = route('redirects', redirectRules());
const redirects = (name: string, key: string): PortedTest => ({ name, family: 'gateway', manifests: REDIRECTS, cases: redirectCases(key, host) });

/** The suite's retry simulation: a fresh uuid per request so each probe is counted on its own. */
export const RETRY_ROUTE = route(
  'retries',
  [
    `  - matches: ${prefix('/retry/code-500-attempts-3')}\n    retry: { codes: [500], attempts: 3 }\n    backendRefs: [${to('infra-backend-v3')}]\n`,
    `  - matches: ${prefix('/retry/code-all-attempts-2')}\n    retry: { codes: [500, 502, 503, 504], attempts: 2 }\n    backendRefs: [${to('infra-backend-v3')}]\n`,
    `  - matches: ${prefix('/retry/code-all-attempts-0')}\n    retry: { codes: [500, 502, 503, 504], attempts: 0 }\n    backendRefs: [${to('infra-backend-v3')}]\n`,
  ].join(''),
);

/** The released suite's retry-with-timeouts route: a request timeout over all attempts, or a per-attempt one. */
const RETRY_TIMEOUTS_ROUTE = route(
  'retries-with-timeouts',
  `  - matches: ${prefix('/retry/request-timeout-500ms')}\n    retry: { codes: [500], attempts: 5 }\n    timeouts: { request: 500ms }\n    backendRefs: [${to('infra-backend-v3')}]\n  - matches: ${prefix('/retry/backend-timeout-500ms')}\n    retry: { codes: [500], attempts: 3 }\n    timeouts: { backendRequest: 500ms, request: 15s }\n    backendRefs: [${to('infra-backend-v3')}]\n`,
);

export const GATEWAY_TESTS: readonly PortedTest[] = [
  { name: 'HTTPRouteSimpleSameNamespace', family: 'gateway', manifests: route('gateway-conformance-infra-test', `  - backendRefs: [${to('infra-backend-v1')}]\n`), cases: [at('/', 'infra-backend-v1')] },
  {
    name: 'HTTPRouteExactPathMatching',
    family: 'gateway',
    manifests: route('exact-path-matching', `  - matches: [{ path: { type: Exact, value: /one } }]\n    backendRefs: [${to('infra-backend-v1')}]\n  - matches: [{ path: { type: Exact, value: /two } }]\n    backendRefs: [${to('infra-backend-v2')}]\n`),
    cases: [at('/one', 'infra-backend-v1'), at('/two', 'infra-backend-v2'), { request: { host, path: '/' }, response: { status: 404 } }, { request: { host, path: '/one/example' }, response: { status: 404 } }, { request: { host, path: '/two/' }, response: { status: 404 } }],
  },
  {
    name: 'HTTPRouteHeaderMatching',
    family: 'gateway',
    manifests: route(
      'header-matching',
      [
        [`[{ headers: [{ name: version, value: one }] }]`, 'infra-backend-v1'],
        [`[{ headers: [{ name: version, value: two }] }]`, 'infra-backend-v2'],
        [`[{ headers: [{ name: version, value: two }, { name: color, value: orange }] }]`, 'infra-backend-v1'],
        [`[{ headers: [{ name: color, value: blue }] }, { headers: [{ name: color, value: green }] }]`, 'infra-backend-v1'],
        [`[{ headers: [{ name: color, value: red }] }, { headers: [{ name: color, value: yellow }] }]`, 'infra-backend-v2'],
      ]
        .map(([matches, backend]) => `  - matches: ${matches}\n    backendRefs: [${to(backend as string)}]\n`)
        .join(''),
    ),
    cases: (
      [
        [{ Version: 'one' }, 'infra-backend-v1'],
        [{ Version: 'two' }, 'infra-backend-v2'],
        [{ Version: 'two', Color: 'orange' }, 'infra-backend-v1'],
        [{ Version: 'two', Color: 'blue' }, 'infra-backend-v2'],
        [{ Color: 'orange' }, 404],
        [{ 'Some-Other-Header': 'one' }, 404],
        [{ Color: 'blue' }, 'infra-backend-v1'],
        [{ Color: 'green' }, 'infra-backend-v1'],
        [{ Color: 'red' }, 'infra-backend-v2'],
        [{ Color: 'yellow' }, 'infra-backend-v2'],
        [{ Color: 'purple' }, 404],
      ] as const
    ).map(([headers, backend]) => matchCase('/', headers, backend, INFRA, host)),
  },
  {
    name: 'HTTPRouteMatching',
    family: 'gateway',
    manifests: route(
      'matching',
      `  - matches: [{ path: { type: PathPrefix, value: / } }, { headers: [{ name: version, value: one }] }]\n    backendRefs: [${to('infra-backend-v1')}]\n  - matches: [{ path: { type: PathPrefix, value: /v2 } }, { headers: [{ name: version, value: two }] }]\n    backendRefs: [${to('infra-backend-v2')}]\n`,
    ),
    cases: (
      [
        ['/', {}, 'infra-backend-v1'],
        ['/example', {}, 'infra-backend-v1'],
        ['/', { Version: 'one' }, 'infra-backend-v1'],
        ['/v2', {}, 'infra-backend-v2'],
        ['/v2/example', {}, 'infra-backend-v2'],
        ['/', { Version: 'two' }, 'infra-backend-v2'],
        ['/v2/', {}, 'infra-backend-v2'],
        ['/v2example', {}, 'infra-backend-v1'],
        ['/foo/v2/example', {}, 'infra-backend-v1'],
      ] as const
    ).map(([path, headers, backend]) => matchCase(path, headers, backend, INFRA, host)),
  },
  {
    name: 'HTTPRouteMethodMatching',
    family: 'gateway',
    manifests: route(
      'method-matching',
      [
        [`[{ method: POST }]`, 'infra-backend-v1'],
        [`[{ method: GET }]`, 'infra-backend-v2'],
        [`[{ path: { type: PathPrefix, value: /path1 }, method: GET }]`, 'infra-backend-v1'],
        [`[{ headers: [{ name: version, value: one }], method: PUT }]`, 'infra-backend-v2'],
        [`[{ path: { type: PathPrefix, value: /path2 }, headers: [{ name: version, value: two }], method: POST }]`, 'infra-backend-v3'],
        [`[{ path: { type: PathPrefix, value: /path3 }, method: PATCH }, { path: { type: PathPrefix, value: /path4 }, headers: [{ name: version, value: three }], method: DELETE }]`, 'infra-backend-v1'],
        [`[{ path: { type: PathPrefix, value: /path5 }, method: PATCH }]`, 'infra-backend-v1'],
        [`[{ headers: [{ name: version, value: four }], method: PATCH }]`, 'infra-backend-v2'],
      ]
        .map(([matches, backend]) => `  - matches: ${matches}\n    backendRefs: [${to(backend as string)}]\n`)
        .join(''),
    ),
    cases: (
      [
        ['POST', '/', {}, 'infra-backend-v1'],
        ['GET', '/', {}, 'infra-backend-v2'],
        ['HEAD', '/', {}, 404],
        ['GET', '/path1', {}, 'infra-backend-v1'],
        ['PUT', '/', { version: 'one' }, 'infra-backend-v2'],
        ['POST', '/path2', { version: 'two' }, 'infra-backend-v3'],
        ['PATCH', '/path3', {}, 'infra-backend-v1'],
        ['DELETE', '/path4', { version: 'three' }, 'infra-backend-v1'],
        ['PUT', '/', {}, 404],
        ['POST', '/path2', {}, 'infra-backend-v1'],
        ['PATCH', '/path4', {}, 404],
        ['PATCH', '/path5', {}, 'infra-backend-v1'],
        ['PATCH', '/', { version: 'four' }, 'infra-backend-v2'],
      ] as const
    ).map(([method, path, headers, backend]) => {
      const c = matchCase(path, headers, backend, INFRA, host);
      return { ...c, request: { ...c.request, method }, ...(typeof backend === 'string' ? { expectedRequest: { path, method } } : {}) };
    }),
  },
  {
    name: 'HTTPRoutePathMatchOrder',
    family: 'gateway',
    manifests: route(
      'path-matching-order',
      [
        [`[{ path: { type: PathPrefix, value: /match } }]`, 'infra-backend-v1'],
        [`[{ path: { type: Exact, value: /match/exact } }]`, 'infra-backend-v2'],
        [`[{ path: { type: PathPrefix, value: /match/exact/one } }]`, 'infra-backend-v3'],
        [`[{ path: { type: PathPrefix, value: /match/prefix } }]`, 'infra-backend-v1'],
        [`[{ path: { type: PathPrefix, value: /match/prefix/one } }]`, 'infra-backend-v2'],
        [`[{ path: { type: PathPrefix, value: /match/prefix/one/two } }]`, 'infra-backend-v3'],
      ]
        .map(([matches, backend]) => `  - matches: ${matches}\n    backendRefs: [${to(backend as string)}]\n`)
        .join(''),
    ),
    cases: [
      at('/match/exact', 'infra-backend-v2'),
      at('/match/exact/one', 'infra-backend-v3'),
      at('/match', 'infra-backend-v1'),
      at('/match/prefix', 'infra-backend-v1'),
      at('/match/prefix/one', 'infra-backend-v2'),
      at('/match/prefix/one/two', 'infra-backend-v3'),
      at('/match/prefix/one/two/three', 'infra-backend-v3'),
    ],
  },
  {
    name: 'HTTPRouteQueryParamMatching',
    family: 'gateway',
    manifests: route('query-param-matching', queryParamRules('infra-backend-v1', 'infra-backend-v2', 'infra-backend-v3', 8080)),
    cases: (
      [
        ['/?animal=whale', {}, 'infra-backend-v1'],
        ['/?animal=dolphin', {}, 'infra-backend-v2'],
        ['/?animal=dolphin&color=blue', {}, 'infra-backend-v3'],
        ['/?ANIMAL=Whale', {}, 'infra-backend-v3'],
        ['/?animal=whale&otherparam=irrelevant', {}, 'infra-backend-v1'],
        ['/?animal=dolphin&color=yellow', {}, 'infra-backend-v2'],
        ['/?color=blue', {}, 404],
        ['/?animal=dog', {}, 404],
        ['/?animal=whaledolphin', {}, 404],
        ['/', {}, 404],
        ['/path1?animal=whale', {}, 'infra-backend-v1'],
        ['/?animal=whale', { version: 'one' }, 'infra-backend-v2'],
        ['/path2?animal=whale', { version: 'two' }, 'infra-backend-v3'],
        ['/path3?animal=shark', {}, 'infra-backend-v1'],
        ['/path4?animal=kraken', { version: 'three' }, 'infra-backend-v1'],
        ['/?animal=shark', {}, 404],
        ['/path4?animal=kraken', {}, 404],
        ['/path5?animal=hydra', {}, 'infra-backend-v1'],
        ['/?animal=hydra', { version: 'four' }, 'infra-backend-v3'],
      ] as const
    ).map(([path, headers, backend]) => matchCase(path, headers, backend, INFRA, host)),
  },
  {
    name: 'HTTPRouteRequestHeaderModifier',
    family: 'gateway',
    manifests: route('request-header-modifier', headerModifierRules('infra-backend-v1', 8080, false)),
    cases: headerModifierCases('infra-backend-v1', INFRA, host),
  },
  {
    name: 'HTTPRouteBackendRequestHeaderModifier',
    family: 'gateway',
    manifests: route('backend-request-header-modifier', headerModifierRules('infra-backend-v1', 8080, true)),
    cases: headerModifierCases('infra-backend-v1', INFRA, host),
  },
  {
    name: 'HTTPRouteRequestHeaderModifierBackendWeights',
    family: 'gateway',
    manifests: route(
      'request-header-modifier-backend-weights',
      `  - backendRefs:\n${['infra-backend-v1', 'infra-backend-v2', 'infra-backend-v3']
        .map((b, i) => `      - { name: ${b}, port: 8080, weight: ${[50, 30, 20][i]}, filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: Backend, value: ${b} }] } }] }\n`)
        .join('')}`,
    ),
    cases: [{ request: { host, path: '/' }, namespace: INFRA }],
    everyAnswer: { request: { host, path: '/' }, count: 100, check: (seen) => (seen.headers['Backend']?.length === 1 && seen.pod.startsWith(seen.headers['Backend'][0] as string) ? undefined : `pod ${seen.pod} saw Backend: ${seen.headers['Backend']?.join(',')}`) },
  },
  {
    name: 'HTTPRouteResponseHeaderModifier',
    family: 'gateway',
    manifests: route('response-header-modifier', headerModifierRules('infra-backend-v1', 8080, false, 'ResponseHeaderModifier', 'responseHeaderModifier')),
    // The suite asks the backend to set the headers (X-Echo-Set-Header) and expects the route's changes on the response.
    cases: headerModifierCases('infra-backend-v1', INFRA, host).map((c) => ({
      request: { host, path: c.request.path as string },
      backendSetResponseHeaders: c.request.headers as Record<string, string>,
      response: { headers: c.expectedRequest?.headers ?? {}, ...(c.expectedRequest?.absentHeaders ? { absentHeaders: c.expectedRequest.absentHeaders } : {}) },
      backend: 'infra-backend-v1',
      namespace: INFRA,
    })),
  },
  {
    name: 'HTTPRouteRewriteHost',
    family: 'gateway',
    manifests: route(
      'rewrite-host',
      `  - matches: ${prefix('/one')}\n    filters: [{ type: URLRewrite, urlRewrite: { hostname: one.example.org } }]\n    backendRefs: [${to('infra-backend-v1')}]\n  - filters: [{ type: URLRewrite, urlRewrite: { hostname: example.org } }]\n    backendRefs: [${to('infra-backend-v2')}]\n`,
    ),
    cases: [
      { request: { host, path: '/one' }, expectedRequest: { path: '/one', host: 'one.example.org' }, backend: 'infra-backend-v1', namespace: INFRA },
      { request: { host, path: '/' }, expectedRequest: { path: '/', host: 'example.org' }, backend: 'infra-backend-v2', namespace: INFRA },
    ],
  },
  { name: 'HTTPRouteRewritePath', family: 'gateway', manifests: route('rewrite-path', rewritePathRules('infra-backend-v1', 8080)), cases: rewritePathCases('infra-backend-v1', INFRA, host) },
  {
    name: 'HTTPRouteBackendURLRewrite',
    family: 'gateway',
    manifests: route(
      'backend-url-rewrite',
      `  - matches: ${prefix('/full')}\n    backendRefs: [{ name: infra-backend-v1, port: 8080, filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath, replaceFullPath: /rewritten-full } } }] }]\n  - matches: ${prefix('/prefix')}\n    backendRefs: [{ name: infra-backend-v1, port: 8080, filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /rewritten-prefix } } }] }]\n`,
    ),
    cases: [
      { request: { host, path: '/full/original' }, expectedRequest: { path: '/rewritten-full' }, backend: 'infra-backend-v1', namespace: INFRA },
      { request: { host, path: '/prefix/original' }, expectedRequest: { path: '/rewritten-prefix/original' }, backend: 'infra-backend-v1', namespace: INFRA },
    ],
  },
  redirects('HTTPRouteRedirectHostAndStatus', 'hostAndStatus'),
  redirects('HTTPRouteRedirectPath', 'path'),
  redirects('HTTPRouteRedirectPort', 'port'),
  redirects('HTTPRouteRedirectScheme', 'scheme'),
  redirects('HTTPRouteRedirectPortAndScheme', 'portAndScheme'),
  redirects('HTTPRoute303Redirect', '303'),
  redirects('HTTPRoute307Redirect', '307'),
  redirects('HTTPRoute308Redirect', '308'),
  redirects('HTTPRoute303RedirectScheme', '303Scheme'),
  redirects('HTTPRoute307RedirectScheme', '307Scheme'),
  redirects('HTTPRoute308RedirectScheme', '308Scheme'),
  redirects('HTTPRouteAdditionalRedirectScheme', 'additionalScheme'),
  {
    name: 'HTTPRouteRequestMirror',
    family: 'gateway',
    manifests: route(
      'request-mirror',
      `  - matches: ${prefix('/mirror')}\n    filters: [{ type: RequestMirror, requestMirror: { backendRef: ${to('infra-backend-v2')} } }]\n    backendRefs: [${to('infra-backend-v1')}]\n  - matches: ${prefix('/mirror-and-modify-headers')}\n    filters:\n      - ${MIRROR_HEADER_FILTER}\n      - { type: RequestMirror, requestMirror: { backendRef: ${to('infra-backend-v2')} } }\n    backendRefs: [${to('infra-backend-v1')}]\n`,
    ),
    cases: [
      { ...at('/mirror', 'infra-backend-v1'), mirroredTo: ['infra-backend-v2'] },
      { ...modifiedHeadersCase('/mirror-and-modify-headers', '/mirror-and-modify-headers', 'infra-backend-v1', INFRA, host), mirroredTo: ['infra-backend-v2'] },
    ],
  },
  {
    name: 'HTTPRouteRequestMultipleMirrors',
    family: 'gateway',
    manifests: route(
      'request-multiple-mirrors',
      `  - matches: ${prefix('/multi-mirror')}\n    filters:\n      - { type: RequestMirror, requestMirror: { backendRef: ${to('infra-backend-v2')} } }\n      - { type: RequestMirror, requestMirror: { backendRef: ${to('infra-backend-v3')} } }\n    backendRefs: [${to('infra-backend-v1')}]\n`,
    ),
    cases: [{ ...at('/multi-mirror', 'infra-backend-v1'), mirroredTo: ['infra-backend-v2', 'infra-backend-v3'] }],
  },
  {
    name: 'HTTPRouteRequestPercentageMirror',
    family: 'gateway',
    manifests: route(
      'request-percentage-mirror',
      `  - matches: ${prefix('/percent-mirror')}\n    filters: [{ type: RequestMirror, requestMirror: { backendRef: ${to('infra-backend-v2')}, percent: 20 } }]\n    backendRefs: [${to('infra-backend-v1')}]\n  - matches: ${prefix('/percent-mirror-fraction')}\n    filters: [{ type: RequestMirror, requestMirror: { backendRef: ${to('infra-backend-v2')}, fraction: { numerator: 1, denominator: 2 } } }]\n    backendRefs: [${to('infra-backend-v1')}]\n  - matches: ${prefix('/percent-mirror-and-modify-headers')}\n    filters:\n      - ${MIRROR_HEADER_FILTER}\n      - { type: RequestMirror, requestMirror: { backendRef: ${to('infra-backend-v2')}, percent: 35 } }\n    backendRefs: [${to('infra-backend-v1')}]\n`,
    ),
    cases: [at('/percent-mirror', 'infra-backend-v1'), at('/percent-mirror-fraction', 'infra-backend-v1'), modifiedHeadersCase('/percent-mirror-and-modify-headers', '/percent-mirror-and-modify-headers', 'infra-backend-v1', INFRA, host)],
    mirrorShares: [
      { request: { host, path: '/percent-mirror' }, mirror: 'infra-backend-v2', share: 0.2 },
      { request: { host, path: '/percent-mirror-fraction' }, mirror: 'infra-backend-v2', share: 0.5 },
      { request: { host, path: '/percent-mirror-and-modify-headers' }, mirror: 'infra-backend-v2', share: 0.35 },
    ],
  },
  {
    name: 'HTTPRouteTimeoutRequest',
    family: 'gateway',
    manifests: route('request-timeout', `  - matches: ${prefix('/request-timeout')}\n    timeouts: { request: 500ms }\n    backendRefs: [${to('infra-backend-v1')}]\n  - matches: ${prefix('/disable-request-timeout')}\n    timeouts: { request: 0s }\n    backendRefs: [${to('infra-backend-v1')}]\n`),
    cases: [
      { request: { host, path: '/request-timeout?delay=1s' }, response: { status: 504 } },
      { request: { host, path: '/disable-request-timeout?delay=1s' }, expectedRequest: { path: '/disable-request-timeout?delay=1s' }, backend: 'infra-backend-v1', namespace: INFRA },
    ],
  },
  {
    name: 'HTTPRouteTimeoutBackendRequest',
    family: 'gateway',
    manifests: route('backend-request-timeout', `  - matches: ${prefix('/backend-timeout')}\n    timeouts: { request: 1s, backendRequest: 500ms }\n    backendRefs: [${to('infra-backend-v1')}]\n`),
    cases: [
      { request: { host, path: '/backend-timeout?delay=1s' }, response: { status: 504 } },
      { request: { host, path: '/backend-timeout?delay=100ms' }, expectedRequest: { path: '/backend-timeout?delay=100ms' }, backend: 'infra-backend-v1', namespace: INFRA },
    ],
  },
  {
    name: 'HTTPRouteWeight',
    family: 'gateway',
    manifests: route('weighted-backends', `  - backendRefs: [${to('infra-backend-v1', 8080, ', weight: 70')}, ${to('infra-backend-v2', 8080, ', weight: 30')}, ${to('infra-backend-v3', 8080, ', weight: 0')}]\n`),
    cases: [{ request: { host, path: '/' }, namespace: INFRA }],
    distribution: { request: { host, path: '/' }, weights: { 'infra-backend-v1': 0.7, 'infra-backend-v2': 0.3, 'infra-backend-v3': 0 } },
  },
  {
    name: 'HTTPRouteReferenceGrant',
    family: 'gateway',
    manifests: [route('reference-grant', `  - backendRefs: [${to('web-backend', 8080, `, namespace: ${WEB}`)}]\n`), referenceGrant('reference-grant', WEB, INFRA, 'web-backend')].join('---\n'),
    cases: [{ request: { host, path: '/' }, backend: 'web-backend', namespace: WEB }],
  },
  {
    name: 'HTTPRouteInvalidCrossNamespaceBackendRef',
    family: 'gateway',
    manifests: route('invalid-cross-namespace-backend-ref', `  - backendRefs: [${to('web-backend', 8080, `, namespace: ${WEB}`)}]\n`),
    resolvedRefs: { [`${INFRA}/invalid-cross-namespace-backend-ref`]: 'RefNotPermitted' },
    cases: [fail500()],
  },
  {
    name: 'HTTPRouteInvalidReferenceGrant',
    family: 'gateway',
    // The grant lives in the route's namespace, not the backend's: it grants nothing.
    manifests: [route('invalid-reference-grant', `  - backendRefs: [${to('app-backend-v1', 8080, `, namespace: ${APP}`)}]\n`), referenceGrant('reference-grant-wrong-namespace', INFRA, INFRA, 'app-backend-v1')].join('---\n'),
    resolvedRefs: { [`${INFRA}/invalid-reference-grant`]: 'RefNotPermitted' },
    cases: [fail500()],
  },
  {
    name: 'HTTPRoutePartiallyInvalidViaInvalidReferenceGrant',
    family: 'gateway',
    manifests: [
      route('invalid-reference-grant', `  - matches: ${prefix('/v2')}\n    backendRefs: [${to('app-backend-v2', 8080, `, namespace: ${APP}`)}]\n  - backendRefs: [${to('infra-backend-v1')}]\n`),
      // Grants another Service of that namespace, not the one the route names.
      referenceGrant('reference-grant-wrong-name', APP, INFRA, 'app-backend-v1'),
    ].join('---\n'),
    resolvedRefs: { [`${INFRA}/invalid-reference-grant`]: 'RefNotPermitted' },
    cases: [fail500('/v2'), at('/', 'infra-backend-v1')],
  },
  {
    name: 'HTTPRouteInvalidNonExistentBackendRef',
    family: 'gateway',
    manifests: route('invalid-nonexistent-backend-ref', `  - backendRefs: [${to('nonexistent')}]\n`),
    resolvedRefs: { [`${INFRA}/invalid-nonexistent-backend-ref`]: 'BackendNotFound' },
    cases: [fail500()],
  },
  {
    name: 'HTTPRouteInvalidBackendRefUnknownKind',
    family: 'gateway',
    manifests: route('invalid-backend-ref-unknown-kind', `  - backendRefs: [{ group: unknownkind.example.com, kind: NonExistent, name: infra-backend-v1, port: 8080 }]\n`),
    resolvedRefs: { [`${INFRA}/invalid-backend-ref-unknown-kind`]: 'InvalidKind' },
    cases: [fail500()],
  },
  {
    name: 'HTTPRouteAllBackendsWeightZero',
    family: 'gateway',
    manifests: route('all-backends-weight-zero', `  - backendRefs: [${to('infra-backend-v1', 8080, ', weight: 0')}, ${to('infra-backend-v2', 8080, ', weight: 0')}]\n`),
    cases: [fail500()],
  },
  {
    name: 'HTTPRouteNoBackendRefs',
    family: 'gateway',
    manifests: route(
      'omitted-backendrefs',
      `  - matches: [{ path: { type: Exact, value: /omitted-no-forward } }]\n  - matches: [{ path: { type: Exact, value: /empty-no-forward } }]\n    backendRefs: []\n  - matches: ${prefix('/')}\n    backendRefs: [${to('infra-backend-v1')}]\n`,
    ),
    cases: [at('/forward', 'infra-backend-v1'), fail500('/omitted-no-forward'), fail500('/empty-no-forward')],
  },
  {
    // The suite's two Gateways are two frontend Services; the shared route names both as parents.
    name: 'HTTPRouteMultipleGateways',
    family: 'gateway',
    manifests: [
      httpRoute('multiple-gateways-shared-route', INFRA, `${parent}, { group: "", kind: Service, name: ${SECOND_FRONTEND} }`, `  - matches: ${prefix('/shared')}\n    backendRefs: [${to('infra-backend-v1')}]\n`),
      route('same-namespace-dedicated-route', `  - matches: ${prefix('/')}\n    backendRefs: [${to('infra-backend-v2')}]\n`),
      httpRoute('all-namespaces-dedicated-route', INFRA, `{ group: "", kind: Service, name: ${SECOND_FRONTEND} }`, `  - matches: ${prefix('/')}\n    backendRefs: [${to('infra-backend-v3')}]\n`),
    ].join('---\n'),
    cases: (
      [
        [host, '/shared', 'infra-backend-v1'],
        [host, '/', 'infra-backend-v2'],
        [`${SECOND_FRONTEND}.${INFRA}`, '/shared', 'infra-backend-v1'],
        [`${SECOND_FRONTEND}.${INFRA}`, '/', 'infra-backend-v3'],
      ] as const
    ).map(([frontend, path, backend]) => ({ request: { host: frontend, path }, backend, namespace: INFRA })),
  },
  {
    // Identical matches (header order aside): the first rule wins, even when its backend does not resolve.
    name: 'HTTPRouteRuleOrder',
    family: 'gateway',
    manifests: [
      route(
        'rule-order',
        [
          ['[{ name: x-version, value: one }, { name: x-color, value: blue }]', 'infra-backend-v1'],
          ['[{ name: x-color, value: blue }, { name: x-version, value: one }]', 'infra-backend-v2'],
        ]
          .map(([headers, backend]) => `  - matches: [{ path: { type: Exact, value: /rule-order }, headers: ${headers} }]\n    backendRefs: [${to(backend as string)}]\n`)
          .join(''),
      ),
      route('rule-order-invalid-backend', ['nonexistent', 'infra-backend-v2'].map((backend) => `  - matches: [{ path: { type: Exact, value: /rule-order-invalid-backend } }]\n    backendRefs: [${to(backend)}]\n`).join('')),
    ].join('---\n'),
    resolvedRefs: { [`${INFRA}/rule-order-invalid-backend`]: 'BackendNotFound' },
    cases: [at('/rule-order', 'infra-backend-v1', { request: { host, path: '/rule-order', headers: { 'x-color': 'blue', 'x-version': 'one' } } }), fail500('/rule-order-invalid-backend')],
  },
  {
    name: 'HTTPRouteNamedRule',
    family: 'gateway',
    manifests: route('named-rule', `  - name: named-rule\n    matches: ${prefix('/named')}\n    backendRefs: [${to('infra-backend-v1')}]\n  - matches: ${prefix('/unnamed')}\n    backendRefs: [${to('infra-backend-v2')}]\n`),
    cases: [at('/named', 'infra-backend-v1'), at('/unnamed', 'infra-backend-v2')],
  },
  {
    name: 'HTTPRouteBackendProtocolH2C',
    family: 'gateway',
    manifests: route('backend-protocol-h2c', `  - backendRefs: [${to('infra-backend-v1', 8081)}]\n`),
    cases: [{ request: { host, path: '/', protocol: 'h2c' }, backend: 'infra-backend-v1', namespace: INFRA }],
    // Stronger than the suite (its backend refuses HTTP/1.1): the backend must have been spoken to in HTTP/2.
    everyAnswer: { request: { host, path: '/', protocol: 'h2c' }, count: 3, check: (seen) => (seen.proto === 'HTTP/2.0' ? undefined : `the backend was reached over ${seen.proto}`) },
  },
  { name: 'HTTPRouteBackendProtocolWebSocket', family: 'gateway', manifests: route('backend-protocol-ws', `  - backendRefs: [${to('infra-backend-v1', 8082)}]\n`), websocket: { host, path: '/ws' } },
  {
    name: 'HTTPRouteCORS',
    family: 'gateway',
    manifests: [
      route(
        'cors-multiple-origins-methods-headers',
        `  - matches: ${prefix('/cors-1')}\n    filters: [{ type: CORS, cors: { allowOrigins: ["https://www.foo.com", "https://*.bar.com"], allowMethods: [GET, OPTIONS], allowHeaders: [x-header-1, x-header-2], exposeHeaders: [x-header-3, x-header-4], allowCredentials: true, maxAge: 3600 } }]\n    backendRefs: [${to('infra-backend-v1')}]\n`,
      ),
      route('cors-wildcard-methods', `  - matches: ${prefix('/cors-2')}\n    filters: [{ type: CORS, cors: { allowOrigins: ["https://www.foo.com"], allowMethods: ["*"] } }]\n    backendRefs: [${to('infra-backend-v1')}]\n`),
      route('cors-wildcard-origin', `  - matches: ${prefix('/cors-wildcard-origin')}\n    filters: [{ type: CORS, cors: { allowOrigins: ["*"], allowMethods: [PUT] } }]\n    backendRefs: [${to('infra-backend-v1')}]\n`),
      route(
        'cors-wildcard-methods-headers',
        `  - matches: ${prefix('/cors-wildcard-methods-headers')}\n    filters: [{ type: CORS, cors: { allowOrigins: ["https://*.foo.com"], allowMethods: ["*"], allowHeaders: ["*"], allowCredentials: true } }]\n    backendRefs: [${to('infra-backend-v1')}]\n  - matches: ${prefix('/cors-wildcard-methods-headers-unauth')}\n    filters: [{ type: CORS, cors: { allowOrigins: ["https://*.foo.com"], allowMethods: ["*"], allowHeaders: ["*"] } }]\n    backendRefs: [${to('infra-backend-v1')}]\n`,
      ),
    ].join('---\n'),
    cases: corsCases(),
  },
  {
    name: 'HTTPRouteCORSAllowCredentialsBehavior',
    family: 'gateway',
    manifests: route(
      'cors-allow-credentials',
      [false, true].map((credentials) => `  - matches: ${prefix(`/cors-behavior-creds-${credentials}`)}\n    filters: [{ type: CORS, cors: { allowOrigins: ["https://app.example"], allowCredentials: ${credentials} } }]\n    backendRefs: [${to('infra-backend-v1')}]\n`).join(''),
    ),
    cases: corsCredentialsCases(),
  },
  {
    name: 'HTTPRouteRetry',
    family: 'gateway',
    manifests: RETRY_ROUTE,
    retries: [
      ['/retry/code-500-attempts-3', '500', 2, 200],
      ['/retry/code-500-attempts-3', '500', 4, 500],
      ['/retry/code-500-attempts-3', '503', 2, 503],
      ['/retry/code-all-attempts-2', '500', 1, 200],
      ['/retry/code-all-attempts-2', '500', 3, 500],
      ['/retry/code-all-attempts-2', '502', 1, 200],
      ['/retry/code-all-attempts-2', '502', 3, 502],
      ['/retry/code-all-attempts-2', '503', 1, 200],
      ['/retry/code-all-attempts-2', '503', 3, 503],
      ['/retry/code-all-attempts-2', '504', 1, 200],
      ['/retry/code-all-attempts-2', '504', 3, 504],
    ].map(([path, code, succeedAfter, status]) => ({ path: path as string, params: { responseCode: code as string, succeedAfter: String(succeedAfter) }, status: status as number })),
  },
  {
    name: 'HTTPRouteRetryWithTimeouts',
    family: 'gateway',
    manifests: route(
      'retries-with-timeouts',
      `  - matches: ${prefix('/retry/backend-request-timeout-200ms')}\n    retry: { attempts: 2 }\n    timeouts: { backendRequest: 200ms }\n    backendRefs: [${to('infra-backend-v3')}]\n  - matches: ${prefix('/retry/request-timeout-200ms')}\n    retry: { codes: [500], attempts: 5 }\n    timeouts: { backendRequest: 200ms, request: 400ms }\n    backendRefs: [${to('infra-backend-v3')}]\n`,
    ),
    retries: [
      { path: '/retry/backend-request-timeout-200ms', params: { responseCode: '500', succeedAfter: '2', delayRetry: '300ms' }, status: 200 },
      { path: '/retry/backend-request-timeout-200ms', params: { responseCode: '500', succeedAfter: '3', delayRetry: '300ms' }, status: 504 },
      { path: '/retry/request-timeout-200ms', params: { responseCode: '500', succeedAfter: '1' }, status: 200 },
      { path: '/retry/request-timeout-200ms', params: { responseCode: '500', succeedAfter: '4', delayRetry: '100ms' }, status: 504 },
    ],
  },
  // The released suite's later split of the test above (v1.7.0), on its own route.
  ...(
    [
      ['HTTPRouteRetryWithRequestTimeout', [['/retry/request-timeout-500ms', '1', undefined, 200], ['/retry/request-timeout-500ms', '2', '300ms', 504]]],
      // The suite's second case does send to the request-timeout path.
      ['HTTPRouteRetryWithBackendTimeout', [['/retry/backend-timeout-500ms', '2', '100ms', 200], ['/retry/request-timeout-500ms', '2', '1s', 504]]],
    ] as const
  ).map(([name, probes]) => ({
    name,
    family: 'gateway' as const,
    manifests: RETRY_TIMEOUTS_ROUTE,
    retries: probes.map(([path, succeedAfter, delayRetry, status]) => ({ path, params: { responseCode: '500', succeedAfter, ...(delayRetry ? { delayRetry } : {}) }, status })),
  })),
  {
    name: 'HTTPRouteRetryConnectionError',
    family: 'gateway',
    manifests: route('retries-connection-error', `  - matches: ${prefix('/retry-on-connection-errors')}\n    retry: { attempts: 100 }\n    backendRefs: [${to('infra-backend-connection-error')}]\n`),
    // The suite asks for 10 consecutive successes here, so a run is unlikely to miss the broken pod.
    cases: [{ request: { host, path: '/retry-on-connection-errors' }, backend: 'infra-backend-connection-error-healthy', namespace: INFRA }],
    threshold: 10,
  },
];

/** Allow-Credentials only where the route allows credentials, and then only beside an allowed Origin. */
function corsCredentialsCases(): ExpectedResponse[] {
  const credentialed = (path: string, origin: string) => ({ host, path, headers: { Origin: origin, Cookie: 'sid=abc123', Authorization: 'Bearer test' } });
  return [
    { request: credentialed('/cors-behavior-creds-false', 'https://app.example'), namespace: INFRA, response: { status: 200, absentHeaders: ['Access-Control-Allow-Credentials'] } },
    { request: credentialed('/cors-behavior-creds-true', 'http://not-app.example'), namespace: INFRA, response: { status: 200, absentHeaders: ['Access-Control-Allow-Credentials'] } },
    {
      request: credentialed('/cors-behavior-creds-true', 'https://app.example'),
      namespace: INFRA,
      response: { status: 200, headers: { 'Access-Control-Allow-Credentials': 'true', 'Access-Control-Allow-Origin': 'https://app.example' } },
    },
  ];
}

function corsCases(): ExpectedResponse[] {
  const pre = (path: string, origin: string, extra: Record<string, string>) => ({ host, path, method: 'OPTIONS', headers: { Origin: origin, ...extra } });
  const preflight = { expectedRequest: { path: '', method: 'OPTIONS' } };
  const both = (a: string, b: string) => [a, b];
  return [
    {
      name: 'CORS preflight request from an exact matching origin should be allowed',
      request: pre('/cors-1', 'https://www.foo.com', { 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-header-1, x-header-2' }),
      ...preflight,
      response: {
        status: [200, 204],
        validHeaderValues: {
          'access-control-allow-origin': ['https://www.foo.com'],
          'access-control-allow-methods': both('GET, OPTIONS', 'OPTIONS, GET'),
          'access-control-allow-headers': both('x-header-1, x-header-2', 'x-header-2, x-header-1'),
          'access-control-expose-headers': both('x-header-3, x-header-4', 'x-header-4, x-header-3'),
          'access-control-max-age': ['3600'],
          'access-control-allow-credentials': ['true'],
        },
        ignoreWhitespace: true,
      },
    },
    ...['https://www.bar.com', 'https://xpto.www.bar.com'].map((origin) => ({
      name: `CORS preflight request from a wildcard matching origin (${origin}) should be allowed`,
      request: pre('/cors-1', origin, { 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-header-1, x-header-2' }),
      ...preflight,
      response: {
        status: 200,
        validHeaderValues: {
          'access-control-allow-origin': [origin],
          'access-control-allow-methods': both('GET, OPTIONS', 'OPTIONS, GET'),
          'access-control-allow-headers': both('x-header-1, x-header-2', 'x-header-2, x-header-1'),
          'access-control-expose-headers': both('x-header-3, x-header-4', 'x-header-4, x-header-3'),
          'access-control-max-age': ['3600'],
          'access-control-allow-credentials': ['true'],
        },
        ignoreWhitespace: true,
      },
    })),
    {
      name: 'CORS preflight request from a non-matching origin should not be allowed',
      request: pre('/cors-1', 'https://foobar.com', { 'access-control-request-method': 'GET' }),
      expectedRequest: { path: '/cors-1', method: 'OPTIONS' },
      response: { status: [200, 204, 403], absentHeaders: ['access-control-allow-origin'] },
    },
    ...[
      ['https://www.foo.com', 'Simple request from an exact matching origin should be allowed'],
      ['https://www.bar.com', 'Simple request from a wildcard matching origin should be allowed'],
    ].map(([origin, name]) => ({
      name: name as string,
      request: { host, path: '/cors-1', headers: { Origin: origin as string, 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-header-1, x-header-2' } },
      namespace: INFRA,
      response: { status: [200, 204], headers: { 'access-control-allow-origin': origin as string } },
    })),
    {
      name: 'Simple request from a non-matching origin should not be allowed',
      request: { host, path: '/cors-1', headers: { Origin: 'https://foobar.com', 'access-control-request-method': 'GET' } },
      namespace: INFRA,
      response: { absentHeaders: ['access-control-allow-origin'] },
    },
    {
      name: 'CORS preflight request with POST method should be allowed by allowMethods with wildcard',
      request: pre('/cors-2', 'https://www.foo.com', { 'access-control-request-method': 'POST' }),
      ...preflight,
      response: { status: [200, 204], validHeaderValues: { 'access-control-allow-methods': ['POST', '*'] }, headers: { 'access-control-allow-origin': 'https://www.foo.com' }, absentHeaders: ['access-control-allow-credentials'] },
    },
    ...['https://foobar.com', 'https://foobar.com:12345'].map((origin) => ({
      name: `Pre-flight request from a wildcard origin (${origin}) should return header with '*' or with the requested Origin`,
      request: pre('/cors-wildcard-origin', origin, { 'access-control-request-method': 'PUT' }),
      ...preflight,
      response: { status: [200, 204], validHeaderValues: { 'access-control-allow-origin': [origin, '*'], 'access-control-allow-methods': ['PUT'] }, absentHeaders: ['Access-Control-Allow-Credentials'] },
    })),
    ...['https://foobar.com:12345', 'https://foobar.com'].map((origin) => ({
      name: `Request from a wildcard origin (${origin}) should return header with '*' or with the requested Origin`,
      request: { host, path: '/cors-wildcard-origin', method: 'PUT', headers: { Origin: origin } },
      expectedRequest: { path: '/cors-wildcard-origin', method: 'PUT' },
      namespace: INFRA,
      response: { status: 200, validHeaderValues: { 'access-control-allow-origin': [origin, '*'] }, absentHeaders: ['Access-Control-Allow-Credentials'] },
    })),
    {
      name: 'CORS preflight request requesting auth and specific method and headers should be allowed and always echo the origin',
      request: pre('/cors-wildcard-methods-headers', 'https://other.foo.com', { 'access-control-request-method': 'PUT', 'access-control-request-headers': 'x-header-1, x-header-2' }),
      ...preflight,
      response: {
        status: 200,
        validHeaderValues: {
          'access-control-allow-origin': ['https://other.foo.com'],
          'access-control-allow-methods': ['PUT'],
          'access-control-allow-headers': both('x-header-1, x-header-2', 'x-header-2, x-header-1'),
          'access-control-allow-credentials': ['true'],
        },
        ignoreWhitespace: true,
      },
    },
    {
      name: 'CORS preflight request requesting auth and specific method and headers should hide auth headers on unauth path',
      request: pre('/cors-wildcard-methods-headers-unauth', 'https://other.foo.com', { 'access-control-request-method': 'PUT', 'access-control-request-headers': 'x-header-1, x-header-2' }),
      ...preflight,
      response: {
        status: 200,
        validHeaderValues: {
          'access-control-allow-origin': ['https://other.foo.com', '*'],
          'access-control-allow-methods': ['PUT', '*'],
          'access-control-allow-headers': ['x-header-1, x-header-2', 'x-header-2, x-header-1', '*'],
        },
        absentHeaders: ['access-control-allow-credentials'],
        ignoreWhitespace: true,
      },
    },
    {
      name: 'Simple request with credentials auth should be allowed and always echo the origin',
      request: { host, path: '/cors-wildcard-methods-headers', headers: { Origin: 'https://other.foo.com', Authorization: 'Bearer test' } },
      namespace: INFRA,
      response: { status: 200, validHeaderValues: { 'access-control-allow-origin': ['https://other.foo.com'], 'access-control-allow-credentials': ['true'] } },
    },
    {
      name: 'Simple request with credentials should hide auth headers on unauth path',
      request: { host, path: '/cors-wildcard-methods-headers-unauth', headers: { Origin: 'https://other.foo.com', Authorization: 'Bearer test' } },
      namespace: INFRA,
      response: { status: 200, validHeaderValues: { 'access-control-allow-origin': ['https://other.foo.com'] }, absentHeaders: ['access-control-allow-credentials'] },
    },
  ];
}

/** Tests of the suite's HTTPRoute profile that a mesh waypoint does not run, and why. */
export const GATEWAY_SKIPPED: readonly SkippedTest[] = [
  ...[
    'HTTPRouteCrossNamespace',
    'HTTPRouteDisallowedKind',
    'HTTPRouteHostnameIntersection',
    'HTTPRouteHTTPSListener',
    'HTTPRouteHTTPSListenerDetectMisdirectedRequests',
    'HTTPRouteInvalidCrossNamespaceParentRef',
    'HTTPRouteInvalidParentRefNotMatchingListenerPort',
    'HTTPRouteInvalidParentRefNotMatchingSectionName',
    'HTTPRouteInvalidParentRefSectionNameNotMatchingPort',
    'HTTPRouteListenerHostnameMatching',
    'HTTPRouteListenerPortMatching',
    'HTTPRouteObservedGenerationBump',
  ].map((name) => ({ name, family: 'gateway' as const, reason: 'about Gateway listeners (hostnames, ports, TLS, allowedRoutes) or Kubernetes object generations; a waypoint binds routes to Services' })),
  { name: 'HTTPRouteMatchingAcrossRoutes', family: 'gateway', reason: 'routes told apart by hostnames; GAMMA: a mesh must not infer anything from HTTPRoute hostnames' },
  { name: 'HTTPRouteMultipleRoutesAttachmentSameHostnameIntersection', family: 'gateway', reason: 'about listener hostnames intersecting route hostnames; a mesh route ignores hostnames (GAMMA)' },
  { name: 'HTTPRoutePreserveForeignStatus', family: 'gateway', reason: "about keeping other controllers' entries in a route's Kubernetes status; istiod-lite reports route status in its own view (/debug/route_status) and writes no Kubernetes status" },
  { name: 'HTTPRouteServiceTypes', family: 'gateway', reason: 'needs ExternalName Services and hand-made EndpointSlices, which the mesh model does not have' },
  { name: 'HTTPRouteBackendRequestRedirect', family: 'gateway', reason: 'refused by design: a RequestRedirect on a backendRef is a manifest error naming the field (a redirect never reaches a backend)' },
  { name: 'HTTPRouteBackendRequestMirror', family: 'gateway', reason: 'refused by design: a RequestMirror on a backendRef is a manifest error (Envoy mirrors per route)' },
  { name: 'HTTPRouteDirectResponse', family: 'gateway', reason: 'the experimental direct-response filter is not implemented (refused as an unknown filter type)' },
  { name: 'HTTPRouteExternalAuth*', family: 'gateway', reason: 'the experimental ExternalAuth filter is not implemented (refused as an unknown filter type)' },
  { name: 'HTTPRouteSessionPersistence*', family: 'gateway', reason: 'sessionPersistence is not implemented (refused as an unknown field)' },
];
