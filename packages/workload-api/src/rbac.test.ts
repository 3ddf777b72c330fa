/**
 * ztunnel's L4 authorization semantics (istio/ztunnel src/rbac.rs and its tests, restated), in
 * the RbacFilter form `@mesh/envoy-config` evaluates.
 */
import { describe, expect, it } from 'vitest';
import { evaluateRbac, type RbacRequest } from '@mesh/envoy-config';
import type { ZtunnelPolicy, ZtunnelPolicyMatch } from './dump.js';
import { policiesFor, policyRbacPolicies, workloadRbacFilters } from './rbac.js';

const policy = (rules: ZtunnelPolicyMatch[][][], over: Partial<ZtunnelPolicy> = {}): ZtunnelPolicy => ({
  name: 'p',
  namespace: 'ns',
  scope: 'Global',
  action: 'Allow',
  rules,
  dryRun: false,
  ...over,
});
const matches = (p: ZtunnelPolicy, r: RbacRequest) => policyRbacPolicies(p).some((g) => g.matches(r));

const plaintext: RbacRequest = { peerIdentity: undefined, sourceIp: '127.0.0.1', destinationIp: '127.0.0.2', destinationPort: 8080 };
const tls: RbacRequest = { ...plaintext, peerIdentity: 'spiffe://td/ns/namespace/sa/account' };
const tlsAlt: RbacRequest = { peerIdentity: 'spiffe://td-alt/ns/ns-alt/sa/sa-alt', sourceIp: '127.0.0.3', destinationIp: '127.0.0.4', destinationPort: 9090 };

describe("ztunnel's Authorization semantics", () => {
  it('empty shapes: no groups never matches, an empty group or rule always does, an empty match never does', () => {
    expect(matches(policy([]), plaintext)).toBe(false);
    expect(matches(policy([[]]), plaintext)).toBe(true);
    expect(matches(policy([[[]]]), plaintext)).toBe(true);
    expect(matches(policy([[[{}]]]), plaintext)).toBe(false);
  });

  it.each<[string, ZtunnelPolicyMatch, [boolean, boolean, boolean]]>([
    ['namespaces', { namespaces: [{ Exact: 'namespace' }] }, [false, true, false]],
    ['notNamespaces', { notNamespaces: [{ Exact: 'namespace' }] }, [true, false, true]],
    ['serviceAccounts', { serviceAccounts: [{ namespace: 'namespace', serviceAccount: 'account' }] }, [false, true, false]],
    ['notServiceAccounts', { notServiceAccounts: [{ namespace: 'namespace', serviceAccount: 'account' }] }, [true, false, true]],
    ['principals', { principals: [{ Exact: 'td/ns/namespace/sa/account' }] }, [false, true, false]],
    ['notPrincipals', { notPrincipals: [{ Exact: 'td/ns/namespace/sa/account' }] }, [true, false, true]],
    ['presence of a principal', { principals: [{ Presence: [] }] }, [false, true, true]],
    ['sourceIps', { sourceIps: ['127.0.0.1/32'] }, [true, true, false]],
    ['notSourceIps', { notSourceIps: ['127.0.0.1/32'] }, [false, false, true]],
    ['destinationIps', { destinationIps: ['127.0.0.2/32'] }, [true, true, false]],
    ['notDestinationIps', { notDestinationIps: ['127.0.0.2/32'] }, [false, false, true]],
    ['a destination CIDR', { destinationIps: ['127.0.0.1/24'] }, [true, true, true]],
    ['destinationPorts', { destinationPorts: [8080] }, [true, true, false]],
    ['notDestinationPorts', { notDestinationPorts: [8080] }, [false, false, true]],
  ])('%s (plaintext, tls, tls-alt)', (_name, m, expected) => {
    const p = policy([[[m]]]);
    expect([matches(p, plaintext), matches(p, tls), matches(p, tlsAlt)]).toEqual(expected);
  });

  it('string matches: prefix and suffix, on the principal without spiffe://', () => {
    expect(matches(policy([[[{ principals: [{ Prefix: 'td/ns/namespace/' }] }]]]), tls)).toBe(true);
    expect(matches(policy([[[{ principals: [{ Suffix: '/sa/account' }] }]]]), tls)).toBe(true);
    expect(matches(policy([[[{ principals: [{ Prefix: 'spiffe://' }] }]]]), tls)).toBe(false);
  });

  it('nesting: matches OR within a rule, rules AND within a group, groups OR', () => {
    const nested = policy([[[{ namespaces: [{ Exact: 'a' }] }, { namespaces: [{ Exact: 'b' }] }], [{ destinationPorts: [80] }]]]);
    const from = (ns: string, port: number): RbacRequest => ({ peerIdentity: `spiffe://td/ns/${ns}/sa/x`, sourceIp: '10.0.0.1', destinationPort: port });
    expect(matches(nested, from('a', 80))).toBe(true);
    expect(matches(nested, from('b', 80))).toBe(true);
    expect(matches(nested, from('bad', 80))).toBe(false);
    expect(matches(nested, from('b', 81))).toBe(false);
    const multi = policy([[[{ namespaces: [{ Exact: 'a' }] }]], [[{ namespaces: [{ Exact: 'b' }] }]]]);
    expect(policyRbacPolicies(multi).map((g) => g.name)).toEqual(['ns[ns]-policy[p]-rule[0]', 'ns[ns]-policy[p]-rule[1]']);
    expect(matches(multi, from('b', 1))).toBe(true);
  });

  it('which policies apply: global, own namespace, and the selector ones a workload lists', () => {
    const global = policy([], { name: 'g', namespace: 'istio-system', scope: 'Global' });
    const ns = policy([], { name: 'n', namespace: 'default', scope: 'Namespace' });
    const other = policy([], { name: 'o', namespace: 'other', scope: 'Namespace' });
    const selected = policy([], { name: 's', namespace: 'default', scope: 'WorkloadSelector' });
    const unlisted = policy([], { name: 'u', namespace: 'default', scope: 'WorkloadSelector' });
    const byKey = new Map([global, ns, other, selected, unlisted].map((p) => [`${p.namespace}/${p.name}`, p]));
    expect(policiesFor({ namespace: 'default', authorizationPolicies: ['default/s', 'default/missing'] }, byKey).map((p) => p.name)).toEqual(['g', 'n', 's']);
  });

  it('DENY first; an ALLOW policy without groups allows nothing; dry-run policies are not enforced', () => {
    const deny = policy([[[{ principals: [{ Exact: 'td/ns/namespace/sa/account' }] }]]], { name: 'deny', action: 'Deny' });
    const allowAll = policy([[]], { name: 'allow-all' });
    expect(evaluateRbac(workloadRbacFilters([deny, allowAll]), tls)).toEqual({ allowed: false, policy: 'ns[ns]-policy[deny]-rule[0]', reason: 'denied by policy ns[ns]-policy[deny]-rule[0]' });
    expect(evaluateRbac(workloadRbacFilters([deny, allowAll]), tlsAlt)).toEqual({ allowed: true, policy: 'ns[ns]-policy[allow-all]-rule[0]' });
    expect(evaluateRbac(workloadRbacFilters([policy([], { name: 'nothing' })]), tls).allowed).toBe(false);
    expect(evaluateRbac(workloadRbacFilters([{ ...deny, dryRun: true }]), tls)).toEqual({
      allowed: true,
      shadow: [{ action: 'DENY', statPrefix: 'istio_dry_run_deny_', result: 'denied', policy: 'ns[ns]-policy[deny]-rule[0]' }],
    });
    expect(evaluateRbac(workloadRbacFilters([]), plaintext)).toEqual({ allowed: true });
  });
});
