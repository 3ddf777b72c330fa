import { describe, expect, it } from 'vitest';
import { parseManifests } from './index.js';
import type { HttpRoute, ReferenceGrant } from './types.js';

function route(rules: string, extra = ''): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r, namespace: echo }
spec:
  parentRefs: [{ group: "", kind: Service, name: echo, port: 80 }]
${extra}  rules:
${rules}`;
}

const problems = (text: string) => parseManifests(text, 'r.yaml').errors.map((e) => `${e.line} ${e.path}: ${e.message}`);

describe('HTTPRoute: the filters this mesh runs', () => {
  it('reads RequestRedirect, RequestMirror, CORS, backend filters and rule names', () => {
    const { resources, errors } = parseManifests(
      route(`    - name: redirect
      matches: [{ path: { type: PathPrefix, value: /old } }]
      filters:
        - type: RequestRedirect
          requestRedirect: { scheme: https, hostname: example.org, port: 8443, statusCode: 301, path: { type: ReplacePrefixMatch, replacePrefixMatch: /new } }
    - name: mirrored
      filters:
        - { type: RequestMirror, requestMirror: { backendRef: { name: v2, port: 80 }, percent: 20 } }
        - { type: RequestMirror, requestMirror: { backendRef: { name: v3, namespace: other, port: 8080 }, fraction: { numerator: 1, denominator: 3 } } }
        - type: CORS
          cors: { allowOrigins: ["https://*.bar.com"], allowMethods: [GET, OPTIONS], allowHeaders: [x-a], exposeHeaders: [x-b], allowCredentials: true, maxAge: 3600 }
      backendRefs:
        - name: v1
          port: 80
          filters:
            - { type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-backend, value: v1 }] } }
            - { type: URLRewrite, urlRewrite: { hostname: v1.example, path: { type: ReplaceFullPath, replaceFullPath: /v1 } } }
`),
      'r.yaml',
    );
    expect(errors).toEqual([]);
    const [redirect, mirrored] = (resources[0] as HttpRoute).rules;
    expect(redirect).toMatchObject({
      name: 'redirect',
      filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', hostname: 'example.org', port: 8443, statusCode: 301, path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } } }],
    });
    expect(mirrored?.filters).toMatchObject([
      { type: 'RequestMirror', requestMirror: { backendRef: { group: '', kind: 'Service', name: 'v2', port: 80 }, percent: 20 } },
      { type: 'RequestMirror', requestMirror: { backendRef: { name: 'v3', namespace: 'other' }, fraction: { numerator: 1, denominator: 3 } } },
      { type: 'CORS', cors: { allowOrigins: ['https://*.bar.com'], allowMethods: ['GET', 'OPTIONS'], allowHeaders: ['x-a'], exposeHeaders: ['x-b'], allowCredentials: true, maxAge: 3600 } },
    ]);
    expect(mirrored?.backendRefs[0]?.filters.map((f) => f.type)).toEqual(['RequestHeaderModifier', 'URLRewrite']);
  });

  it('defaults: redirect status 302, mirror fraction denominator 100, CORS max age 5, no backend filters', () => {
    const { resources, errors } = parseManifests(
      route(`    - filters:
        - { type: RequestRedirect, requestRedirect: { port: 8083 } }
    - filters:
        - { type: RequestMirror, requestMirror: { backendRef: { name: v2, port: 80 }, fraction: { numerator: 5 } } }
        - { type: CORS, cors: { allowOrigins: ["*"] } }
      backendRefs: [{ name: v1, port: 80 }]
`),
      'r.yaml',
    );
    expect(errors).toEqual([]);
    const rules = (resources[0] as HttpRoute).rules;
    expect(rules[0]?.filters[0]?.requestRedirect).toEqual({ port: 8083, statusCode: 302 });
    expect(rules[1]?.filters[0]?.requestMirror?.fraction).toEqual({ numerator: 5, denominator: 100 });
    expect(rules[1]?.filters[1]?.cors).toEqual({ allowOrigins: ['*'], allowMethods: [], allowHeaders: [], exposeHeaders: [], allowCredentials: false, maxAge: 5 });
    expect(rules[1]?.backendRefs[0]?.filters).toEqual([]);
  });

  it('refuses what it would otherwise ignore: unknown fields, by name and line', () => {
    expect(
      problems(
        route(
          `    - backendRef: [{ name: v1, port: 80 }]
      sessionPersistence: { sessionName: s }
      matches: [{ path: { type: Exact, value: /x }, header: [] }]
`,
          '  hostname: [a]\n',
        ),
      ),
    ).toEqual([
      '6 spec.hostname: unknown field "hostname" (this mesh reads parentRefs, hostnames, rules)',
      '8 spec.rules[0].backendRef: unknown field "backendRef" (this mesh reads name, matches, filters, backendRefs, timeouts, retry)',
      '9 spec.rules[0].sessionPersistence: unknown field "sessionPersistence" (this mesh reads name, matches, filters, backendRefs, timeouts, retry)',
      '10 spec.rules[0].matches[0].header: unknown field "header" (this mesh reads path, headers, queryParams, method)',
    ]);
  });

  it('refuses backend filters it cannot run, saying why and where they belong', () => {
    expect(
      problems(
        route(`    - backendRefs:
        - name: v1
          port: 80
          filters: [{ type: RequestRedirect, requestRedirect: { hostname: example.org } }]
    - backendRefs:
        - { name: v1, port: 80, filters: [{ type: URLRewrite, urlRewrite: { hostname: a.example } }] }
        - { name: v2, port: 80 }
    - backendRefs:
        - { name: v1, port: 80, filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: v2, port: 80 } } }] }
`),
      ),
    ).toEqual([
      "10 spec.rules[0].backendRefs[0].filters: filters[0]: RequestRedirect is not supported on a backendRef (RequestHeaderModifier, ResponseHeaderModifier, URLRewrite are): a redirect answers the client and never reaches a backend; put it in the rule's filters (without backendRefs)",
      "12 spec.rules[1].backendRefs: backendRefs[0]: URLRewrite on a backendRef is supported only on a rule's single backend without a rule-level URLRewrite (Envoy rewrites the path per route, not per weighted cluster)",
      "15 spec.rules[2].backendRefs[0].filters: filters[0]: RequestMirror is not supported on a backendRef (RequestHeaderModifier, ResponseHeaderModifier, URLRewrite are): put RequestMirror in the rule's filters",
    ]);
  });

  it("applies the Gateway API's cross-field rules", () => {
    expect(
      problems(
        route(`    - filters: [{ type: RequestRedirect, requestRedirect: { port: 1 } }]
      backendRefs: [{ name: v1, port: 80 }]
    - filters: [{ type: RequestRedirect, requestRedirect: { port: 1 } }, { type: URLRewrite, urlRewrite: { hostname: a } }]
    - matches: [{ path: { type: Exact, value: /a } }]
      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /b } } }]
    - filters: [{ type: CORS, cors: { allowOrigins: ["*"] } }, { type: CORS, cors: { allowOrigins: ["*"] } }]
    - timeouts: { request: 1s, backendRequest: 2s }
    - filters: [{ type: RequestRedirect, requestRedirect: { statusCode: 304 } }]
    - filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: v2, port: 80 }, percent: 5, fraction: { numerator: 1 } } }]
    - filters: [{ type: CORS, cors: { allowMethods: ["*", GET] } }]
    - filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: X-A, value: "1" }, { name: x-a, value: "2" }] } }]
    - filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [] }, responseHeaderModifier: { remove: [a] } }]
`),
      ),
    ).toEqual([
      '8 spec.rules[0].backendRefs: expected no backendRefs with a RequestRedirect filter (the redirect is the answer)',
      '9 spec.rules[1].filters: expected either RequestRedirect or URLRewrite, not both',
      '10 spec.rules[2].matches: expected exactly one PathPrefix match with a ReplacePrefixMatch path modifier',
      '12 spec.rules[3].filters: filters[1]: CORS appears twice (only RequestMirror may repeat)',
      '13 spec.rules[4].timeouts.backendRequest: expected a backendRequest timeout no longer than the request timeout (1s)',
      '14 spec.rules[5].filters[0].requestRedirect.statusCode: expected one of 301, 302, 303, 307, 308, got 304',
      '15 spec.rules[6].filters[0].requestMirror.fraction: expected either percent or fraction, not both',
      '16 spec.rules[7].filters[0].cors.allowMethods: expected "*" alone, not with other values',
      '17 spec.rules[8].filters[0].requestHeaderModifier.set: expected each header once, "x-a" appears twice',
      '18 spec.rules[9].filters[0].responseHeaderModifier: expected only requestHeaderModifier when type is RequestHeaderModifier',
    ]);
    expect(problems(route('    - name: same\n    - name: same\n'))).toEqual(['7 spec.rules: expected unique rule names, "same" appears twice']);
  });
});

describe('ReferenceGrant', () => {
  it('reads from and to; a to without a name covers every object of that kind', () => {
    const { resources, errors } = parseManifests(
      `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: { name: g, namespace: backends }
spec:
  from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: echo }]
  to: [{ group: "", kind: Service, name: web }, { group: "", kind: Service }]
`,
      'g.yaml',
    );
    expect(errors).toEqual([]);
    expect(resources[0] as ReferenceGrant).toMatchObject({
      kind: 'ReferenceGrant',
      namespace: 'backends',
      from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'echo' }],
      to: [{ group: '', kind: 'Service', name: 'web' }, { group: '', kind: 'Service' }],
    });
  });

  it('refuses an empty or misspelt grant', () => {
    expect(
      problems(`apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: { name: g }
spec:
  from: []
  to: [{ group: "", kind: Service, names: [a] }]
`),
    ).toEqual(['6 spec.to[0].names: unknown field "names" (this mesh reads group, kind, name)']);
    expect(
      problems(`apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: { name: g }
spec:
  from: []
  to: [{ group: "", kind: Service }]
`),
    ).toEqual(['5 spec.from: expected at least one entry']);
  });
});
