import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyzePolicies, buildSnapshot, parseManifestFiles, parseManifests, unevaluableAttributes, type MeshResource, type PolicyFinding } from './index.js';

const EXAMPLES = join(import.meta.dirname, '../../../examples');

function load(...dirs: string[]): MeshResource[] {
  const files = dirs.flatMap((dir) =>
    readdirSync(join(EXAMPLES, dir))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => ({ path: `${dir}/${f}`, text: readFileSync(join(EXAMPLES, dir, f), 'utf8') })),
  );
  const { resources, errors } = parseManifestFiles(files);
  expect(errors).toEqual([]);
  return resources;
}

/** Findings for `policies` added to the sample mesh (bookinfo + the echo waypoint), as `code name path`. */
function findings(policies: string): string[] {
  const extra = parseManifests(policies, 'p.yaml');
  expect(extra.errors).toEqual([]);
  return analyzePolicies(buildSnapshot([...load('bookinfo', 'waypoint'), ...extra.resources]))
    .filter((f) => f.source?.file === 'p.yaml')
    .map((f: PolicyFinding) => `${f.level} ${f.code} ${f.name} ${f.path}`);
}

const ap = (name: string, namespace: string, spec: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ${name}, namespace: ${namespace} }
spec: ${spec}
---
`;
const pa = (name: string, namespace: string, spec: string, created = '') => `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: ${name}, namespace: ${namespace}${created ? `, creationTimestamp: "${created}"` : ''} }
spec: ${spec}
---
`;

describe('analyzePolicies: what no proxy enforces as written', () => {
  it('finds nothing to say about the sample policies at ztunnel', () => {
    const all = analyzePolicies(buildSnapshot(load('bookinfo', 'policies')));
    expect(all).toEqual([]);
  });

  it('names policies that reach no proxy', () => {
    expect(
      findings(
        ap('no-waypoint', 'default', '{ targetRefs: [{ kind: Service, group: "", name: ratings }], rules: [{}] }') +
          ap('no-service', 'echo', '{ targetRefs: [{ kind: Service, group: "", name: nope }], rules: [{}] }') +
          ap('no-pods', 'default', '{ selector: { matchLabels: { app: nope } } }') +
          ap('service-entry', 'echo', '{ targetRefs: [{ kind: ServiceEntry, group: networking.istio.io, name: ext }], rules: [{}] }') +
          ap('class-not-root', 'echo', '{ targetRefs: [{ kind: GatewayClass, group: gateway.networking.k8s.io, name: istio-waypoint }], rules: [{}] }'),
      ),
    ).toEqual([
      'error AUTHZ_NO_WORKLOAD no-pods spec.selector',
      'error AUTHZ_NO_WAYPOINT no-waypoint spec.targetRefs[0]',
      'error AUTHZ_NO_TARGET class-not-root spec.targetRefs[0]',
      'error AUTHZ_NO_TARGET no-service spec.targetRefs[0]',
      'error AUTHZ_NO_TARGET service-entry spec.targetRefs[0]',
    ]);
  });

  it('says what ztunnel does with attributes it cannot see, and with AUDIT', () => {
    expect(
      findings(
        ap('allow-get', 'default', '{ selector: { matchLabels: { app: ratings } }, rules: [{ to: [{ operation: { methods: [GET] } }] }] }') +
          ap('deny-admin', 'default', '{ selector: { matchLabels: { app: ratings } }, action: DENY, rules: [{ to: [{ operation: { paths: [/admin] } }] }] }') +
          ap('deny-mixed', 'default', '{ selector: { matchLabels: { app: ratings } }, action: DENY, rules: [{ from: [{ source: { namespaces: [x], remoteIpBlocks: [10.0.0.0/8] } }] }] }') +
          ap('audit', 'default', '{ action: AUDIT, rules: [{}] }'),
      ),
    ).toEqual([
      'warning AUTHZ_L7_AT_ZTUNNEL allow-get spec.rules[0].to[0].operation.methods',
      'warning AUTHZ_ALLOWS_NOTHING allow-get spec.rules',
      'warning AUTHZ_AUDIT_AT_ZTUNNEL audit spec.action',
      'warning AUTHZ_L7_AT_ZTUNNEL deny-admin spec.rules[0].to[0].operation.paths',
      'warning AUTHZ_L7_AT_ZTUNNEL deny-mixed spec.rules[0].from[0].source.remoteIpBlocks',
    ]);
  });

  it('says what a waypoint does with JWT attributes, SNI and non-HTTP traffic, and flags dry-run', () => {
    const target = 'targetRefs: [{ kind: Service, group: "", name: echo }]';
    const out = findings(
      ap('jwt', 'echo', `{ ${target}, rules: [{ from: [{ source: { requestPrincipals: ["*"] } }], when: [{ key: connection.sni, values: [a] }] }] }`).replace(
        'metadata: { name: jwt, namespace: echo }',
        'metadata: { name: jwt, namespace: echo, annotations: { istio.io/dry-run: "true" } }',
      ) + ap('deny-path', 'echo', `{ ${target}, action: DENY, rules: [{ to: [{ operation: { paths: [/x] } }] }] }`),
    );
    expect(out).toEqual([
      'info AUTHZ_L7_ON_TCP deny-path spec.rules[0].to[0].operation.paths',
      'info AUTHZ_DRY_RUN jwt metadata.annotations',
      'warning AUTHZ_NO_JWT jwt spec.rules[0].from[0].source',
      'info AUTHZ_NO_SNI jwt spec.rules[0].when[0]',
      'info AUTHZ_L7_ON_TCP jwt spec.rules[0].from[0].source.requestPrincipals',
    ]);
  });

  it('names PeerAuthentications Istio ignores or that lose to an older one, and DISABLE under ambient', () => {
    expect(
      findings(
        pa('root-selector', 'istio-system', '{ selector: { matchLabels: { app: ratings } }, mtls: { mode: STRICT } }') +
          pa('older', 'default', '{ mtls: { mode: STRICT } }', '2024-01-01T00:00:00Z') +
          pa('newer', 'default', '{ mtls: { mode: DISABLE } }', '2024-06-01T00:00:00Z'),
      ),
    ).toEqual(['warning PEERAUTHN_CONFLICT newer metadata.name', 'info PEERAUTHN_DISABLE_AMBIENT newer spec.mtls.mode', 'error PEERAUTHN_IGNORED root-selector spec.selector']);
  });
});

describe('unevaluableAttributes', () => {
  it('names what a place cannot see, once each, sorted, from every rule', () => {
    const { resources, errors } = parseManifests(
      ap('p', 'echo', '{ rules: [{ to: [{ operation: { paths: [/a], ports: ["80"] } }] }, { from: [{ source: { remoteIpBlocks: [1.2.3.4], notPrincipals: [x] } }], when: [{ key: connection.sni, values: [a] }, { key: "request.headers[x]", values: [a] }] }, { to: [{ operation: { paths: [/b] } }] }] }'),
      'p.yaml',
    );
    expect(errors).toEqual([]);
    const policy = resources[0] as Parameters<typeof unevaluableAttributes>[0];
    expect(unevaluableAttributes(policy, 'ztunnel')).toEqual(['connection.sni', 'paths', 'remoteIpBlocks', 'request.headers[x]']);
    expect(unevaluableAttributes(policy, 'waypointTcp')).toEqual(['paths', 'request.headers[x]']);
    expect(unevaluableAttributes(policy, 'waypointHttp')).toEqual([]);
  });
});
