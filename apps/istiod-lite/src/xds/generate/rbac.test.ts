import { describe, expect, it } from 'vitest';
import { parseManifests, type AuthorizationPolicy } from '@mesh/mesh-model';
import { encodeMessage } from '@mesh/xds';
import { parseRbacPolicyKey, rbacPolicyKey } from './names.js';
import { rbacFilters } from './rbac.js';

function policies(yaml: string): AuthorizationPolicy[] {
  const { resources, errors } = parseManifests(yaml, 'p.yaml');
  expect(errors).toEqual([]);
  return resources as AuthorizationPolicy[];
}

type Obj = Record<string, any>;

/** The RBAC config of each filter: { action, policies }. */
function rules(ps: AuthorizationPolicy[]): Obj[] {
  return rbacFilters(ps).map((f) => {
    const config = (f as Obj).typed_config;
    // Every filter must be a valid envoy.extensions.filters.network.rbac.v3.RBAC.
    const { '@type': _type, ...body } = config;
    expect(() => encodeMessage('envoy.extensions.filters.network.rbac.v3.RBAC', body)).not.toThrow();
    return config.rules;
  });
}

const policy = (name: string, action: string, rulesYaml: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ${name}, namespace: default }
spec:
  action: ${action}
  rules: ${rulesYaml}
---
`;

describe('AuthorizationPolicy → network RBAC', () => {
  it('puts DENY before ALLOW, one RBAC policy per rule, keyed so the policy is recoverable', () => {
    const out = rules(
      policies(
        policy('allow-a', 'ALLOW', '[{ from: [{ source: { principals: ["cluster.local/ns/default/sa/a"] } }] }, {}]') +
          policy('deny-b', 'DENY', '[{ from: [{ source: { namespaces: ["evil"] } }] }]'),
      ),
    );
    expect(out.map((r) => r.action)).toEqual(['DENY', 'ALLOW']);
    expect(Object.keys(out[1]!.policies)).toEqual(['ns[default]-policy[allow-a]-rule[0]', 'ns[default]-policy[allow-a]-rule[1]']);
    expect(out[0]!.policies['ns[default]-policy[deny-b]-rule[0]'].principals).toEqual([
      { authenticated: { principal_name: { safe_regex: { regex: '.*/ns/evil/.*' } } } },
    ]);
    // An empty rule matches everything.
    expect(out[1]!.policies['ns[default]-policy[allow-a]-rule[1]']).toEqual({ permissions: [{ any: true }], principals: [{ any: true }] });
    expect(parseRbacPolicyKey(rbacPolicyKey('default', 'allow-a', 1))).toEqual({ namespace: 'default', policy: 'allow-a', rule: 1 });
  });

  it('has no filter without policies, and an ALLOW policy without rules denies everything (a never-matching entry, as Istio)', () => {
    expect(rbacFilters([])).toEqual([]);
    const [allow] = rules(policies(policy('nothing', 'ALLOW', '[]')));
    expect(allow).toEqual({ action: 'ALLOW', policies: { 'ns[default]-policy[nothing]-rule[0]': { permissions: [{ not_rule: { any: true } }], principals: [{ not_id: { any: true } }] } } });
  });

  it('ANDs fields within a source, ORs sources, and negates not* fields', () => {
    const [r] = rules(
      policies(
        policy(
          'p',
          'ALLOW',
          `
    - from:
        - source: { principals: ["cluster.local/ns/default/sa/a", "cluster.local/ns/x/*"], notIpBlocks: ["10.0.0.0/8"] }
        - source: { ipBlocks: ["192.168.1.1"] }
      to:
        - operation: { ports: ["80", "443"] }
        - operation: { notPorts: ["22"] }`,
        ),
      ),
    );
    expect(r!.policies['ns[default]-policy[p]-rule[0]']).toEqual({
      principals: [
        {
          or_ids: {
            ids: [
              {
                and_ids: {
                  ids: [
                    {
                      or_ids: {
                        ids: [
                          { authenticated: { principal_name: { exact: 'spiffe://cluster.local/ns/default/sa/a' } } },
                          { authenticated: { principal_name: { prefix: 'spiffe://cluster.local/ns/x/' } } },
                        ],
                      },
                    },
                    { not_id: { direct_remote_ip: { address_prefix: '10.0.0.0', prefix_len: 8 } } },
                  ],
                },
              },
              { direct_remote_ip: { address_prefix: '192.168.1.1', prefix_len: 32 } },
            ],
          },
        },
      ],
      permissions: [
        {
          or_rules: {
            rules: [{ or_rules: { rules: [{ destination_port: 80 }, { destination_port: 443 }] } }, { not_rule: { destination_port: 22 } }],
          },
        },
      ],
    });
  });

  it('fails closed on L7 attributes: an ALLOW rule is left out, a DENY rule denies on its L4 part', () => {
    const l7 = `[{ from: [{ source: { principals: ["cluster.local/ns/default/sa/a"] } }], to: [{ operation: { methods: ["GET"], ports: ["80"] } }] }, {}]`;
    const [allow] = rules(policies(policy('a', 'ALLOW', l7)));
    expect(Object.keys(allow!.policies)).toEqual(['ns[default]-policy[a]-rule[1]']);
    const [deny] = rules(policies(policy('d', 'DENY', l7)));
    expect(deny!.policies['ns[default]-policy[d]-rule[0]'].permissions).toEqual([{ destination_port: 80 }]);
  });

  it('maps L4 `when` conditions; the others (request.*, remote.ip, connection.sni) leave an ALLOW rule out and are dropped from a DENY rule', () => {
    const [r] = rules(
      policies(
        policy('w', 'DENY', '[{ when: [{ key: source.namespace, values: [a] }, { key: destination.port, notValues: ["9090"] }, { key: "request.headers[x]", values: [y] }, { key: connection.sni, values: [a.com] }] }]'),
      ),
    );
    expect(r!.policies['ns[default]-policy[w]-rule[0]']).toEqual({
      permissions: [{ not_rule: { destination_port: 9090 } }],
      principals: [{ authenticated: { principal_name: { safe_regex: { regex: '.*/ns/a/.*' } } } }],
    });
    for (const key of ['"request.auth.claims[iss]"', 'remote.ip', 'connection.sni', 'source.serviceAccount']) {
      const [allow] = rules(policies(policy('w2', 'ALLOW', `[{ when: [{ key: ${key}, values: ["10.0.0.1"] }] }]`)));
      expect(allow, key).toEqual({ action: 'ALLOW' });
    }
  });

  it('leaves out of ALLOW rules the source fields ztunnel cannot see (remoteIpBlocks, requestPrincipals, trustDomains) and matches serviceAccounts', () => {
    for (const source of ['{ remoteIpBlocks: ["10.0.0.0/8"] }', '{ requestPrincipals: ["*"] }', '{ notTrustDomains: [evil.org] }']) {
      const [allow] = rules(policies(policy('s', 'ALLOW', `[{ from: [{ source: ${source} }] }]`)));
      expect(allow, source).toEqual({ action: 'ALLOW' });
    }
    const [sa] = rules(policies(policy('sa', 'ALLOW', '[{ from: [{ source: { serviceAccounts: ["sleep", "other/web"] } }] }]')));
    expect(sa!.policies['ns[default]-policy[sa]-rule[0]'].principals).toEqual([
      {
        or_ids: {
          ids: [
            { authenticated: { principal_name: { safe_regex: { regex: 'spiffe://.+/ns/default/(.+/|)sa/sleep(/.+)?' } } } },
            { authenticated: { principal_name: { safe_regex: { regex: 'spiffe://.+/ns/other/(.+/|)sa/web(/.+)?' } } } },
          ],
        },
      },
    ]);
  });

  it('puts dry-run policies in shadow rules (Istio prefixes) and sends no AUDIT policy to ztunnel', () => {
    const dryRun = policy('d', 'DENY', '[{}]').replace('metadata: { name: d, namespace: default }', 'metadata: { name: d, namespace: default, annotations: { istio.io/dry-run: "true" } }');
    const filters = rbacFilters(policies(dryRun + policy('e', 'DENY', '[{ from: [{ source: { namespaces: [x] } }] }]') + policy('a', 'AUDIT', '[{}]')));
    expect(filters.map((f) => Object.keys((f as Obj).typed_config).sort())).toEqual([['@type', 'rules', 'shadow_rules', 'shadow_rules_stat_prefix', 'stat_prefix']]);
    const config = (filters[0] as Obj).typed_config;
    expect(Object.keys(config.rules.policies)).toEqual(['ns[default]-policy[e]-rule[0]']);
    expect(config.shadow_rules).toEqual({ action: 'DENY', policies: { 'ns[default]-policy[d]-rule[0]': { permissions: [{ any: true }], principals: [{ any: true }] } } });
    expect(config.shadow_rules_stat_prefix).toBe('istio_dry_run_deny_');
  });
});
