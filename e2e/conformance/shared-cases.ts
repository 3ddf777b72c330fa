/**
 * Cases and rules the suite's mesh and HTTPRoute tests share (the same requests against echo-v1
 * or infra-backend-v1), with the manifests they need.
 */
import type { ExpectedResponse } from '../helpers/conformance.js';

const to = (name: string, port: number) => `{ name: ${name}, port: ${port} }`;
const prefix = (value: string) => `[{ path: { type: PathPrefix, value: ${value} } }]`;

/** The suite's header-modifier cases, shared by the request and backend-request variants (and the gateway tests). */
export function headerModifierCases(backend: string, namespace: string, host: string | undefined): ExpectedResponse[] {
  const c = (path: string, headers: Record<string, string>, expect: Record<string, string>, absent?: string[]): ExpectedResponse => ({
    request: { path, headers, ...(host ? { host } : {}) },
    expectedRequest: { path, headers: expect, ...(absent ? { absentHeaders: absent } : {}) },
    backend,
    namespace,
  });
  return [
    c('/set', { 'Some-Other-Header': 'val' }, { 'Some-Other-Header': 'val', 'X-Header-Set': 'set-overwrites-values' }),
    c('/set', { 'Some-Other-Header': 'val', 'X-Header-Set': 'some-other-value' }, { 'Some-Other-Header': 'val', 'X-Header-Set': 'set-overwrites-values' }),
    c('/add', { 'Some-Other-Header': 'val' }, { 'Some-Other-Header': 'val', 'X-Header-Add': 'add-appends-values' }),
    c('/add', { 'Some-Other-Header': 'val', 'X-Header-Add': 'some-other-value' }, { 'Some-Other-Header': 'val', 'X-Header-Add': 'some-other-value,add-appends-values' }),
    c('/remove', { 'X-Header-Remove': 'val' }, {}, ['X-Header-Remove']),
    c(
      '/multiple',
      { 'X-Header-Set-2': 'set-val-2', 'X-Header-Add-2': 'add-val-2', 'X-Header-Remove-2': 'remove-val-2', 'Another-Header': 'another-header-val' },
      { 'X-Header-Set-1': 'header-set-1', 'X-Header-Set-2': 'header-set-2', 'X-Header-Add-1': 'header-add-1', 'X-Header-Add-2': 'add-val-2,header-add-2', 'X-Header-Add-3': 'header-add-3', 'Another-Header': 'another-header-val' },
      ['X-Header-Remove-1', 'X-Header-Remove-2'],
    ),
    c(
      '/case-insensitivity',
      { 'x-header-set': 'original-val-set', 'x-header-add': 'original-val-add', 'x-header-remove': 'original-val-remove', 'Another-Header': 'another-header-val' },
      { 'X-Header-Set': 'header-set', 'X-Header-Add': 'original-val-add,header-add', 'Another-Header': 'another-header-val' },
      ['x-header-remove', 'X-Header-Remove'],
    ),
  ];
}

/** The header modifiers those cases expect, per path, as filter YAML. */
export const HEADER_MODIFIERS: ReadonlyArray<readonly [string, string]> = [
  ['/set', '{ set: [{ name: X-Header-Set, value: set-overwrites-values }] }'],
  ['/add', '{ add: [{ name: X-Header-Add, value: add-appends-values }] }'],
  ['/remove', '{ remove: [X-Header-Remove] }'],
  [
    '/multiple',
    '{ set: [{ name: X-Header-Set-1, value: header-set-1 }, { name: X-Header-Set-2, value: header-set-2 }], add: [{ name: X-Header-Add-1, value: header-add-1 }, { name: X-Header-Add-2, value: header-add-2 }, { name: X-Header-Add-3, value: header-add-3 }], remove: [X-Header-Remove-1, X-Header-Remove-2] }',
  ],
  ['/case-insensitivity', '{ set: [{ name: X-Header-Set, value: header-set }], add: [{ name: X-Header-Add, value: header-add }], remove: [X-Header-Remove] }'],
];

/** A rule per header-modifier path, the filter on the rule or on its backend. */
export function headerModifierRules(backend: string, port: number, onBackend: boolean, type = 'RequestHeaderModifier', field = 'requestHeaderModifier'): string {
  return HEADER_MODIFIERS.map(([path, modifier]) => {
    const filter = `[{ type: ${type}, ${field}: ${modifier} }]`;
    return onBackend
      ? `  - matches: ${prefix(path)}\n    backendRefs: [{ name: ${backend}, port: ${port}, filters: ${filter} }]\n`
      : `  - matches: ${prefix(path)}\n    filters: ${filter}\n    backendRefs: [${to(backend, port)}]\n`;
  }).join('');
}

/** The RequestHeaderModifier the suite's mirror and rewrite tests combine with other filters. */
export const MIRROR_HEADER_FILTER =
  '{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: X-Header-Set, value: set-overwrites-values }], add: [{ name: X-Header-Add, value: header-val-1 }, { name: X-Header-Add-Append, value: header-val-2 }], remove: [X-Header-Remove] } }';

/** A request through MIRROR_HEADER_FILTER and what the backend must see. */
export function modifiedHeadersCase(path: string, seenPath: string, backend: string, namespace: string, host?: string): ExpectedResponse {
  return {
    request: { path, ...(host ? { host } : { host: 'echo' }), headers: { 'X-Header-Remove': 'remove-val', 'X-Header-Add-Append': 'append-val-1', 'X-Header-Set': 'set-val' } },
    expectedRequest: { path: seenPath, headers: { 'X-Header-Add': 'header-val-1', 'X-Header-Add-Append': 'append-val-1,header-val-2', 'X-Header-Set': 'set-overwrites-values' }, absentHeaders: ['X-Header-Remove'] },
    backend,
    namespace,
  };
}

/** The suite's query-parameter rules (mesh and gateway versions), with its three backends. */
export function queryParamRules(v1: string, v2: string, v3: string, port: number): string {
  const q = (params: string) => params.split('&').map((p) => `{ name: ${p.split('=')[0]}, value: ${p.split('=')[1]} }`).join(', ');
  const rule = (matches: string[], backend: string) => `  - matches: [${matches.join(', ')}]\n    backendRefs: [${to(backend, port)}]\n`;
  return [
    rule([`{ queryParams: [${q('animal=whale')}] }`], v1),
    rule([`{ queryParams: [${q('animal=dolphin')}] }`], v2),
    rule([`{ queryParams: [${q('animal=dolphin&color=blue')}] }`, `{ queryParams: [${q('ANIMAL=Whale')}] }`], v3),
    rule([`{ path: { type: PathPrefix, value: /path1 }, queryParams: [${q('animal=whale')}] }`], v1),
    rule([`{ headers: [{ name: version, value: one }], queryParams: [${q('animal=whale')}] }`], v2),
    rule([`{ path: { type: PathPrefix, value: /path2 }, headers: [{ name: version, value: two }], queryParams: [${q('animal=whale')}] }`], v3),
    rule([`{ path: { type: PathPrefix, value: /path3 }, queryParams: [${q('animal=shark')}] }`, `{ path: { type: PathPrefix, value: /path4 }, headers: [{ name: version, value: three }], queryParams: [${q('animal=kraken')}] }`], v1),
    rule([`{ path: { type: PathPrefix, value: /path5 }, queryParams: [${q('animal=hydra')}] }`], v1),
    rule([`{ headers: [{ name: version, value: four }], queryParams: [${q('animal=hydra')}] }`], v3),
  ].join('');
}

/** A matching case: a backend prefix, or a status (404) when nothing matches. */
export function matchCase(path: string, headers: Record<string, string>, backend: string | number, namespace: string, host?: string): ExpectedResponse {
  const request = { path, headers, ...(host ? { host } : {}) };
  return typeof backend === 'number' ? { request, response: { status: backend } } : { request, backend, namespace };
}


type Location = NonNullable<ExpectedResponse['redirect']>;

/** The suite's redirect filters by path, its mesh and HTTPRoute redirect manifests merged into one route. */
const REDIRECT_FILTERS: ReadonlyArray<readonly [string, string]> = [
  ['/hostname-redirect', '{ hostname: example.org }'],
  ['/host-and-status', '{ statusCode: 301, hostname: example.org }'],
  ['/host-and-see-other', '{ statusCode: 303, hostname: example.org }'],
  ['/host-and-temporary', '{ statusCode: 307, hostname: example.org }'],
  ['/host-and-permanent', '{ statusCode: 308, hostname: example.org }'],
  ['/host-and-status-temporary', '{ statusCode: 307, hostname: example.org }'],
  ['/host-and-status-permanent', '{ statusCode: 308, hostname: example.org }'],
  ['/original-prefix', '{ path: { type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix } }'],
  ['/full', '{ path: { type: ReplaceFullPath, replaceFullPath: /full-path-replacement } }'],
  ['/path-and-host', '{ hostname: example.org, path: { type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix } }'],
  ['/path-and-status', '{ statusCode: 301, path: { type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix } }'],
  ['/full-path-and-host', '{ hostname: example.org, path: { type: ReplaceFullPath, replaceFullPath: /replacement-full } }'],
  ['/full-path-and-status', '{ statusCode: 301, path: { type: ReplaceFullPath, replaceFullPath: /replacement-full } }'],
  ['/port', '{ port: 8083 }'],
  ['/port-and-host', '{ hostname: example.org, port: 8083 }'],
  ['/port-and-status', '{ port: 8083, statusCode: 301 }'],
  ['/port-and-host-and-status', '{ port: 8083, hostname: example.org, statusCode: 302 }'],
  ['/scheme', '{ scheme: https }'],
  ['/scheme-and-host', '{ hostname: example.org, scheme: https }'],
  ['/scheme-and-status', '{ scheme: https, statusCode: 301 }'],
  ['/scheme-and-host-and-status', '{ scheme: https, statusCode: 302, hostname: example.org }'],
  ['/scheme-nil-and-port-nil', '{ }'],
  ['/scheme-nil-and-port-80', '{ port: 80 }'],
  ['/scheme-nil-and-port-8080', '{ port: 8080 }'],
  ['/scheme-https-and-port-nil', '{ scheme: https }'],
  ['/scheme-https-and-port-443', '{ scheme: https, port: 443 }'],
  ['/scheme-https-and-port-8443', '{ scheme: https, port: 8443 }'],
  ['/see-other', '{ statusCode: 303 }'],
  ['/temporary', '{ statusCode: 307 }'],
  ['/permanent', '{ statusCode: 308 }'],
  ['/scheme-and-see-other', '{ scheme: https, statusCode: 303 }'],
  ['/scheme-and-temporary', '{ scheme: https, statusCode: 307 }'],
  ['/scheme-and-permanent', '{ scheme: https, statusCode: 308 }'],
];

/** Rules for every redirect the suite's redirect tests send (one route, so a test applies one manifest). */
export function redirectRules(): string {
  return REDIRECT_FILTERS.map(([path, fields]) => `  - matches: ${prefix(path)}\n    filters: [{ type: RequestRedirect, requestRedirect: ${fields} }]\n`).join('');
}

/** The suite's redirect tests: request path, status and the Location's parts that must hold. */
export const REDIRECT_CASES: Readonly<Record<string, ReadonlyArray<readonly [string, number, Location]>>> = {
  hostAndStatus: [
    ['/hostname-redirect', 302, { host: 'example.org' }],
    ['/host-and-status', 301, { host: 'example.org' }],
  ],
  path: [
    ['/original-prefix/lemon', 302, { path: '/replacement-prefix/lemon' }],
    ['/full/path/original', 302, { path: '/full-path-replacement' }],
    ['/path-and-host', 302, { host: 'example.org', path: '/replacement-prefix' }],
    ['/path-and-status', 301, { path: '/replacement-prefix' }],
    ['/full-path-and-host', 302, { host: 'example.org', path: '/replacement-full' }],
    ['/full-path-and-status', 301, { path: '/replacement-full' }],
  ],
  port: [
    ['/port', 302, { port: '8083' }],
    ['/port-and-host', 302, { host: 'example.org', port: '8083' }],
    ['/port-and-status', 301, { port: '8083' }],
    ['/port-and-host-and-status', 302, { port: '8083', host: 'example.org' }],
  ],
  scheme: [
    ['/scheme', 302, { scheme: 'https' }],
    ['/scheme-and-host', 302, { host: 'example.org', scheme: 'https' }],
    ['/scheme-and-status', 301, { scheme: 'https' }],
    ['/scheme-and-host-and-status', 302, { scheme: 'https', host: 'example.org' }],
  ],
  // The listener port is the Service port the client addressed (80): left out of an http Location.
  portAndScheme: [
    ['/scheme-nil-and-port-nil', 302, { scheme: 'http', port: '80' }],
    ['/scheme-nil-and-port-80', 302, { scheme: 'http', port: '80' }],
    ['/scheme-nil-and-port-8080', 302, { scheme: 'http', port: '8080' }],
    ['/scheme-https-and-port-nil', 302, { scheme: 'https', port: '443' }],
    ['/scheme-https-and-port-443', 302, { scheme: 'https', port: '443' }],
    ['/scheme-https-and-port-8443', 302, { scheme: 'https', port: '8443' }],
  ],
  303: [['/see-other', 303, { path: '/see-other' }]],
  307: [['/temporary', 307, { path: '/temporary' }]],
  308: [['/permanent', 308, { path: '/permanent' }]],
  '303HostAndStatus': [['/host-and-see-other', 303, { host: 'example.org' }]],
  '307HostAndStatus': [['/host-and-temporary', 307, { host: 'example.org' }]],
  '308HostAndStatus': [['/host-and-permanent', 308, { host: 'example.org' }]],
  additionalHostAndStatus: [
    ['/host-and-status-temporary', 307, { host: 'example.org' }],
    ['/host-and-status-permanent', 308, { host: 'example.org' }],
  ],
  '303Scheme': [['/scheme-and-see-other', 303, { scheme: 'https' }]],
  '307Scheme': [['/scheme-and-temporary', 307, { scheme: 'https' }]],
  '308Scheme': [['/scheme-and-permanent', 308, { scheme: 'https' }]],
  additionalScheme: [
    ['/scheme-and-temporary', 307, { scheme: 'https' }],
    ['/scheme-and-permanent', 308, { scheme: 'https' }],
  ],
};

/** A redirect test's cases sent to `host`. */
export function redirectCases(key: string, host: string, namespace?: string): ExpectedResponse[] {
  return (REDIRECT_CASES[key] ?? []).map(([path, status, location]) => ({ request: { host, path }, response: { status }, redirect: location, ...(namespace ? { namespace } : {}) }));
}

/** The suite's path-rewrite rules (ReplacePrefixMatch, ReplaceFullPath, and both with header changes) to `backend`. */
export function rewritePathRules(backend: string, port: number): string {
  return [
    ['/prefix/one', '{ type: ReplacePrefixMatch, replacePrefixMatch: /one }', false],
    ['/strip-prefix', '{ type: ReplacePrefixMatch, replacePrefixMatch: / }', false],
    ['/full/one', '{ type: ReplaceFullPath, replaceFullPath: /one }', false],
    ['/full/rewrite-path-and-modify-headers', '{ type: ReplaceFullPath, replaceFullPath: /test }', true],
    ['/prefix/rewrite-path-and-modify-headers', '{ type: ReplacePrefixMatch, replacePrefixMatch: /prefix }', true],
  ]
    .map(([path, modifier, headers]) => `  - matches: ${prefix(path as string)}\n    filters:\n      - { type: URLRewrite, urlRewrite: { path: ${modifier} } }\n${headers ? `      - ${MIRROR_HEADER_FILTER}\n` : ''}    backendRefs: [${to(backend, port)}]\n`)
    .join('');
}

/** The suite's path-rewrite cases. */
export function rewritePathCases(backend: string, namespace: string, host: string): ExpectedResponse[] {
  const rewritten = (path: string, seen: string): ExpectedResponse => ({ request: { host, path }, expectedRequest: { path: seen }, backend, namespace });
  return [
    rewritten('/prefix/one/two', '/one/two'),
    rewritten('/strip-prefix/three', '/three'),
    rewritten('/strip-prefix', '/'),
    rewritten('/full/one/two', '/one'),
    modifiedHeadersCase('/full/rewrite-path-and-modify-headers/test', '/test', backend, namespace, host),
    modifiedHeadersCase('/prefix/rewrite-path-and-modify-headers/one', '/prefix/one', backend, namespace, host),
  ];
}
