import { describe, expect, it } from 'vitest';
import { parseManifests, type AuthorizationPolicy, type ManifestError, type PeerAuthentication } from './index.js';

const located = (e: ManifestError) => `${e.file}:${e.line}:${e.column} ${e.path}: ${e.message}`;

/** A security.istio.io document: `spec` lines are indented under `spec:`, `meta` lines appended to metadata. */
const doc = (kind: string, name: string, spec: string, meta = '') => `apiVersion: security.istio.io/v1
kind: ${kind}
metadata:
  name: ${name}
  namespace: shop${meta}
spec:
${spec
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
`;
const ap = (spec: string, meta = '') => doc('AuthorizationPolicy', 'p', spec, meta);

function errorsOf(text: string): string[] {
  return parseManifests(text, 'p.yaml').errors.map(located);
}

function only<T>(text: string): T {
  const { resources, errors } = parseManifests(text, 'p.yaml');
  expect(errors.map(located)).toEqual([]);
  expect(resources).toHaveLength(1);
  return resources[0] as T;
}

describe('AuthorizationPolicy: unknown keys are refused at every level, with file, line, field and what was expected', () => {
  it.each([
    ['spec', 'rule:\n- {}', 'p.yaml:7:3 spec.rule: unknown field "rule" (did you mean "rules"? expected one of: selector, targetRef, targetRefs, action, provider, rules)'],
    ['rule', 'rules:\n- form: [{ source: { principals: [a] } }]', 'p.yaml:8:5 spec.rules[0].form: unknown field "form" (did you mean "from"? expected one of: from, to, when)'],
    ['from entry', 'rules:\n- from: [{ sources: { principals: [a] } }]', 'p.yaml:8:14 spec.rules[0].from[0].sources: unknown field "sources" (did you mean "source"? expected one of: source)'],
    [
      'source',
      'rules:\n- from: [{ source: { principal: [a] } }]',
      'p.yaml:8:24 spec.rules[0].from[0].source.principal: unknown field "principal" (did you mean "principals"? expected one of: principals, notPrincipals, requestPrincipals, notRequestPrincipals, namespaces, notNamespaces, serviceAccounts, notServiceAccounts, trustDomains, notTrustDomains, ipBlocks, notIpBlocks, remoteIpBlocks, notRemoteIpBlocks)',
    ],
    ['operation', 'rules:\n- to: [{ operation: { method: [GET] } }]', 'p.yaml:8:25 spec.rules[0].to[0].operation.method: unknown field "method" (did you mean "methods"? expected one of: ports, notPorts, methods, notMethods, paths, notPaths, hosts, notHosts)'],
    ['condition', 'rules:\n- when: [{ key: source.ip, value: [10.0.0.1] }]', 'p.yaml:8:30 spec.rules[0].when[0].value: unknown field "value" (did you mean "values"? expected one of: key, values, notValues)'],
    ['selector', 'selector: { labels: { app: a } }', 'p.yaml:7:15 spec.selector.labels: unknown field "labels" (expected one of: matchLabels)'],
    ['targetRef', 'targetRefs: [{ kind: Service, name: a, grup: "" }]', 'p.yaml:7:42 spec.targetRefs[0].grup: unknown field "grup" (did you mean "group"? expected one of: group, kind, name, namespace)'],
  ])('%s', (_level, spec, error) => {
    // (a misspelt required field is also reported missing)
    expect(errorsOf(ap(spec))[0]).toBe(error);
  });

  it('refuses unknown top-level and metadata keys, and accepts ObjectMeta fields and status', () => {
    expect(errorsOf(`${ap('rules: [{}]', '\n  labelz: {}')}extra: 1\n`)).toEqual([
      'p.yaml:6:3 metadata.labelz: unknown field "labelz" (did you mean "labels"? expected one of: name, labels, annotations, namespace)',
      'p.yaml:9:1 extra: unknown field "extra" (expected one of: metadata, spec)',
    ]);
    const exported = `${ap('rules: [{}]', '\n  uid: 8d0c\n  resourceVersion: "12"\n  creationTimestamp: "2024-01-01T00:00:00Z"')}status: { conditions: [] }\n`;
    expect(only<AuthorizationPolicy>(exported).rules).toEqual([{ from: [], to: [], when: [] }]);
  });
});

describe('AuthorizationPolicy: Istio validation', () => {
  it('folds the deprecated targetRef into targetRefs, and refuses it with a selector or targetRefs', () => {
    const p = only<AuthorizationPolicy>(ap('targetRef: { kind: Service, group: "", name: cart }\nrules: [{}]'));
    expect(p.targetRefs).toEqual([{ group: '', kind: 'Service', name: 'cart' }]);
    expect(errorsOf(ap('targetRef: { kind: Service, name: cart }\nselector: { matchLabels: { app: a } }'))).toEqual([
      'p.yaml:7:14 spec.targetRef: only one of selector, targetRef or targetRefs can be set',
    ]);
  });

  it('accepts the target kinds Istio accepts, in the policy namespace only', () => {
    expect(only<AuthorizationPolicy>(ap('targetRefs: [{ kind: Gateway, group: gateway.networking.k8s.io, name: wp }, { kind: Service, group: core, name: a }]')).targetRefs).toHaveLength(2);
    expect(errorsOf(ap('targetRefs: [{ kind: Gateway, group: "", name: wp }]'))).toEqual([
      'p.yaml:7:24 spec.targetRefs[0].kind: expected a targetRef to one of core/Service, networking.istio.io/ServiceEntry, gateway.networking.k8s.io/Gateway, gateway.networking.k8s.io/GatewayClass, got core/Gateway',
    ]);
    expect(errorsOf(ap('targetRefs: [{ kind: Service, name: a, namespace: other }]'))).toEqual([
      'p.yaml:7:53 spec.targetRefs[0].namespace: targetRef namespace must not be set; cross namespace referencing is not supported',
    ]);
  });

  it('parses AUDIT, refuses CUSTOM and provider with a reason, and DENY without rules', () => {
    expect(only<AuthorizationPolicy>(ap('action: AUDIT\nrules: [{}]')).action).toBe('AUDIT');
    expect(errorsOf(ap('action: CUSTOM\nprovider: { name: ext }\nrules: [{}]'))).toEqual([
      'p.yaml:7:11 spec.action: action CUSTOM hands the decision to an ext_authz extension provider (meshConfig.extensionProviders), and this mesh has none, so the policy could not be enforced; use ALLOW or DENY',
    ]);
    expect(errorsOf(ap('action: ALLOW\nprovider: { name: ext }\nrules: [{}]'))).toEqual(['p.yaml:8:13 spec.provider: `provider` must only be used with action CUSTOM, found ALLOW']);
    expect(errorsOf(ap('action: DENY'))).toEqual([
      'p.yaml:7:11 spec.action: DENY action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it to be triggered for every request',
    ]);
  });

  it('reads istio.io/dry-run as Go booleans, for ALLOW and DENY only', () => {
    const meta = (v: string) => `\n  annotations: { istio.io/dry-run: "${v}" }`;
    expect(only<AuthorizationPolicy>(ap('action: DENY\nrules: [{}]', meta('true'))).dryRun).toBe(true);
    expect(only<AuthorizationPolicy>(ap('action: DENY\nrules: [{}]', meta('False'))).dryRun).toBe(false);
    expect(only<AuthorizationPolicy>(ap('rules: [{}]')).dryRun).toBe(false);
    expect(errorsOf(ap('rules: [{}]', meta('yes')))).toEqual(['p.yaml:6:36 metadata.annotations["istio.io/dry-run"]: expected true or false, got "yes"']);
    expect(errorsOf(ap('action: AUDIT\nrules: [{}]', meta('true')))).toEqual([
      'p.yaml:6:36 metadata.annotations["istio.io/dry-run"]: the annotation istio.io/dry-run only supports action ALLOW or DENY, found AUDIT',
    ]);
  });

  it('checks sources: not empty, serviceAccounts format and exclusivity, trust domain wildcards, IPs', () => {
    const src = (s: string) => ap(`rules:\n- from: [{ source: ${s} }]`);
    expect(only<AuthorizationPolicy>(src('{ serviceAccounts: ["other/web", "cart"], notRemoteIpBlocks: ["10.0.0.0/8"] }')).rules[0]!.from[0]!.source).toEqual({
      serviceAccounts: ['other/web', 'cart'],
      notRemoteIpBlocks: ['10.0.0.0/8'],
    });
    expect(errorsOf(src('{}'))).toEqual(['p.yaml:8:22 spec.rules[0].from[0].source: `source` must not be empty']);
    expect(errorsOf(src('{ serviceAccounts: ["a/b/c", "x*"] }'))).toEqual([
      "p.yaml:8:42 spec.rules[0].from[0].source.serviceAccounts[0]: expected format 'serviceAccount' or 'namespace/serviceAccount', got \"a/b/c\"",
      'p.yaml:8:51 spec.rules[0].from[0].source.serviceAccounts[1]: wildcard not allowed, got "x*"',
    ]);
    expect(errorsOf(src('{ serviceAccounts: [a], namespaces: [b] }'))).toEqual(['p.yaml:8:41 spec.rules[0].from[0].source.serviceAccounts: cannot set serviceAccounts with namespaces or principals']);
    expect(errorsOf(src('{ trustDomains: ["a*b", "x/y"] }'))).toEqual([
      'p.yaml:8:39 spec.rules[0].from[0].source.trustDomains[0]: wildcard is only allowed at the start or end, got "a*b"',
      "p.yaml:8:46 spec.rules[0].from[0].source.trustDomains[1]: trust domain must not contain '/', got \"x/y\"",
    ]);
    expect(errorsOf(src('{ principals: [""] }'))).toEqual(['p.yaml:8:37 spec.rules[0].from[0].source.principals[0]: expected a non-empty string, got ""']);
    expect(errorsOf(ap('rules:\n- from: []'))).toEqual(['p.yaml:8:11 spec.rules[0].from: `from` must not be empty (leave it out to match any source)']);
  });

  it('checks operations: not empty, ports 0-65535, path templates as Istio documents them', () => {
    const op = (o: string) => ap(`rules:\n- to: [{ operation: ${o} }]`);
    expect(only<AuthorizationPolicy>(op('{ ports: [0, "8080"], paths: ["/foo/{*}", "/foo/{*}/bar/{**}", "/foo/{**}/"] }')).rules[0]!.to[0]!.operation).toEqual({
      ports: ['0', '8080'],
      paths: ['/foo/{*}', '/foo/{*}/bar/{**}', '/foo/{**}/'],
    });
    expect(errorsOf(op('{}'))).toEqual(['p.yaml:8:23 spec.rules[0].to[0].operation: `operation` must not be empty']);
    expect(errorsOf(op('{ ports: [70000] }'))).toEqual(['p.yaml:8:33 spec.rules[0].to[0].operation.ports[0]: expected a port 0-65535, got 70000']);
    expect(errorsOf(op('{ paths: ["/*/baz/{*}", "/{**}/foo/{*}", "/foo/{*}.txt"] }'))).toEqual([
      'p.yaml:8:33 spec.rules[0].to[0].operation.paths[0]: invalid path template "/*/baz/{*}": segment "*" must be {*}, {**} or plain path characters',
      'p.yaml:8:47 spec.rules[0].to[0].operation.paths[1]: invalid path template "/{**}/foo/{*}": {**} must be the last operator',
      'p.yaml:8:64 spec.rules[0].to[0].operation.paths[2]: invalid path template "/foo/{*}.txt": segment "{*}.txt" must be {*}, {**} or plain path characters',
    ]);
  });

  it('checks conditions: documented keys only, values or notValues, typed values', () => {
    const when = (w: string) => ap(`rules:\n- when: [${w}]`);
    expect(only<AuthorizationPolicy>(when('{ key: "request.auth.claims[groups][admin]", values: [x] }, { key: connection.sni, notValues: [a.com] }')).rules[0]!.when).toHaveLength(2);
    expect(errorsOf(when('{ key: request.header, values: [a] }'))[0]).toMatch(/^p.yaml:8:19 spec.rules\[0\].when\[0\].key: unknown attribute: request.header \(expected one of source.ip, /);
    expect(errorsOf(when('{ key: "request.headers[]", values: [a] }'))).toEqual(['p.yaml:8:19 spec.rules[0].when[0].key: bad key (request.headers[]): should have format request.headers[<name>]']);
    expect(errorsOf(when('{ key: destination.namespace, values: [a] }'))).toEqual(['p.yaml:8:19 spec.rules[0].when[0].key: attribute destination.namespace is replaced by the metadata.namespace']);
    expect(errorsOf(when('{ key: "experimental.envoy.filters.a.b[c]", values: [a] }'))[0]).toMatch(/no proxy of this mesh produces; it is not supported$/);
    expect(errorsOf(when('{ key: source.ip }'))).toEqual(['p.yaml:8:19 spec.rules[0].when[0].key: at least one of `values` or `notValues` must be set for key source.ip']);
    expect(errorsOf(when('{ key: source.ip, values: [10.0.0.300] }, { key: destination.port, notValues: [http] }'))).toEqual([
      'p.yaml:8:39 spec.rules[0].when[0].values[0]: invalid value for key source.ip: bad IP address or CIDR range (10.0.0.300)',
      'p.yaml:8:91 spec.rules[0].when[1].notValues[0]: invalid value for key destination.port: bad port (http)',
    ]);
  });

  it('refuses wildcards in selectors', () => {
    expect(errorsOf(ap('selector: { matchLabels: { app: "web*" } }\nrules: [{}]'))).toEqual(['p.yaml:7:35 spec.selector.matchLabels.app: wildcard is not supported in selector: "app=web*"']);
  });
});

describe('PeerAuthentication', () => {
  const pa = (spec: string, meta = '') => doc('PeerAuthentication', 'pa', spec, meta);

  it('reads mtls.mode, portLevelMtls (number or string keys) and creationTimestamp', () => {
    const p = only<PeerAuthentication>(pa('selector: { matchLabels: { app: a } }\nmtls: { mode: STRICT }\nportLevelMtls:\n  8080: { mode: PERMISSIVE }\n  "9090": { mode: DISABLE }', '\n  creationTimestamp: "2024-05-01T00:00:00Z"'));
    expect(p).toMatchObject({ mtlsMode: 'STRICT', portLevelMtls: { 8080: 'PERMISSIVE', 9090: 'DISABLE' }, creationTimestamp: '2024-05-01T00:00:00Z' });
    expect(only<PeerAuthentication>(pa('mtls: {}'))).toMatchObject({ mtlsMode: 'UNSET', portLevelMtls: {} });
  });

  it('refuses unknown keys, portLevelMtls without a selector or empty, and bad ports', () => {
    expect(errorsOf(pa('mtls: { mod: STRICT }'))).toEqual(['p.yaml:7:11 spec.mtls.mod: unknown field "mod" (did you mean "mode"? expected one of: mode)']);
    expect(errorsOf(pa('mtls: { mode: STRICT }\nportLevelMtls: { 8080: { mode: PERMISSIVE } }'))).toEqual([
      'p.yaml:8:18 spec.portLevelMtls: mesh/namespace peer authentication cannot have port level mTLS (add a selector)',
    ]);
    expect(errorsOf(pa('selector: { matchLabels: { app: a } }\nportLevelMtls: {}'))).toEqual(['p.yaml:8:18 spec.portLevelMtls: port level mTLS, if defined, must have at least one element']);
    expect(errorsOf(pa('selector: { matchLabels: { app: a } }\nportLevelMtls: { http: { mode: STRICT }, 80: { mod: STRICT } }'))).toEqual([
      'p.yaml:8:20 spec.portLevelMtls[http]: expected a port 1-65535 as the key, got "http"',
      'p.yaml:8:50 spec.portLevelMtls[80].mod: unknown field "mod" (did you mean "mode"? expected one of: mode)',
    ]);
  });
});

describe('one bad document never takes the good documents of its file with it', () => {
  it('keeps the DENY policy next to a refused CUSTOM one, and names the refused one', () => {
    const text = `${ap('action: CUSTOM\nprovider: { name: ext }\nrules: [{}]')}---
${ap('action: DENY\nrules: [{ from: [{ source: { namespaces: [evil] } }] }]').replace('name: p', 'name: deny-evil')}`;
    const { resources, errors } = parseManifests(text, 'p.yaml');
    expect(resources.map((r) => r.name)).toEqual(['deny-evil']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ kind: 'AuthorizationPolicy', name: 'p', namespace: 'shop', path: 'spec.action' });
  });
});
