/**
 * AuthorizationPolicy → istio.security.Authorization, case by case, as istiod's ambient index
 * converts them (and where this project deviates, as docs/workload-api.md says). Every result
 * must also encode through the workload API protos unchanged.
 */
import { describe, expect, it } from 'vitest';
import { buildSnapshot, parseManifests } from '@mesh/mesh-model';
import { canonicalResource, type ResourceJson } from '@mesh/xds';
import { authorizationResources } from './authorization.js';

function convert(spec: string, meta = 'name: p\n  namespace: default'): Map<string, ResourceJson> {
  const { resources, errors } = parseManifests(`apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  ${meta}\nspec:\n${spec}`, 'policy.yaml');
  expect(errors).toEqual([]);
  const out = authorizationResources(buildSnapshot(resources));
  for (const r of out.values()) expect(canonicalResource(r)).toEqual(r);
  return out;
}
const only = (spec: string, meta?: string) => [...convert(spec, meta).values()][0];

describe('AuthorizationPolicy → Authorization', () => {
  it('scope: a selector lists it on workloads; none is its namespace; none in the root namespace is global (enum zero, off the wire)', () => {
    expect(only('  selector:\n    matchLabels: {app: ratings}\n  action: DENY\n  rules: [{}]')).toMatchObject({ scope: 'WORKLOAD_SELECTOR', action: 'DENY', groups: [{}] });
    expect(only('  rules: [{}]')).toEqual({ '@type': 'type.googleapis.com/istio.security.Authorization', name: 'p', namespace: 'default', scope: 'NAMESPACE', groups: [{}] });
    expect(only('  {}', 'name: p\n  namespace: istio-system')).toEqual({ '@type': 'type.googleapis.com/istio.security.Authorization', name: 'p', namespace: 'istio-system' });
  });

  it('policies ztunnel does not enforce are not sent: targetRefs (a waypoint binds them), AUDIT', () => {
    expect(convert('  targetRefs:\n    - kind: Service\n      group: ""\n      name: echo\n  rules: [{}]').size).toBe(0);
    expect(convert('  action: AUDIT\n  rules: [{}]').size).toBe(0);
  });

  it('sources: principals and namespaces as patterns, service accounts by namespace, IP blocks as CIDRs', () => {
    const p = only(`  rules:
    - from:
        - source:
            principals: ["cluster.local/ns/default/sa/sleep", "*"]
            notNamespaces: ["*-test", "prod*"]
            ipBlocks: ["10.0.0.0/8", "10.77.1.10"]
        - source:
            serviceAccounts: ["sleep", "other/api"]`);
    expect(p?.['groups']).toEqual([
      {
        rules: [
          {
            matches: [
              {
                source_ips: [{ address: 'CgAAAA==', length: 8 }, { address: 'Ck0BCg==', length: 32 }],
                not_namespaces: [{ suffix: '-test' }, { prefix: 'prod' }],
                principals: [{ exact: 'cluster.local/ns/default/sa/sleep' }, { presence: {} }],
              },
              { service_accounts: [{ namespace: 'default', serviceAccount: 'sleep' }, { namespace: 'other', serviceAccount: 'api' }] },
            ],
          },
        ],
      },
    ]);
  });

  it('to and when: one Rules entry for the operations, one per L4 condition', () => {
    const p = only(`  rules:
    - to:
        - operation: {ports: ["9080"]}
        - operation: {notPorts: ["15021"]}
      when:
        - key: destination.port
          values: ["9080"]
        - key: source.ip
          notValues: ["10.77.1.10"]`);
    expect(p?.['groups']).toEqual([
      {
        rules: [
          { matches: [{ destination_ports: [9080] }, { not_destination_ports: [15021] }] },
          { matches: [{ destination_ports: [9080] }] },
          { matches: [{ not_source_ips: [{ address: 'Ck0BCg==', length: 32 }] }] },
        ],
      },
    ]);
  });

  it('HTTP attributes: an ALLOW rule with them is dropped; a DENY rule is enforced on its L4 part alone', () => {
    const allow = only(`  rules:
    - to: [{operation: {methods: ["GET"]}}]
    - from: [{source: {requestPrincipals: ["iss/sub"]}}]
    - to: [{operation: {ports: ["80"]}}]`);
    expect(allow?.['groups']).toEqual([{ rules: [{ matches: [{ destination_ports: [80] }] }] }]);
    const deny = only(`  action: DENY
  rules:
    - to: [{operation: {methods: ["POST"]}}]
    - from: [{source: {namespaces: ["legacy"]}}]
      to: [{operation: {paths: ["/admin"], ports: ["8080"]}}]
      when:
        - key: "request.headers[x-debug]"
          values: ["1"]`);
    // Rule 0 has no L4 attribute: it denies everything (more restrictive, as Istio documents).
    expect(deny?.['groups']).toEqual([{}, { rules: [{ matches: [{ destination_ports: [8080] }] }, { matches: [{ namespaces: [{ exact: 'legacy' }] }] }] }]);
  });

  it('dry-run: sent with dry_run, enforced by nobody', () => {
    expect(only('  action: DENY\n  rules: [{}]', 'name: p\n  namespace: default\n  annotations:\n    istio.io/dry-run: "true"')).toMatchObject({ action: 'DENY', dry_run: true });
  });
});
