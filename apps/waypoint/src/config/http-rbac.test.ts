import { describe, expect, it } from 'vitest';
import { compileListeners } from './model.js';
import { goldenWaypointConfig } from '../testing/golden.js';
import { compileRbacFilter, evaluateRbac, type RbacFilter, type RbacRequest } from '@mesh/envoy-config';

const DEFAULT_SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const OTHER = 'spiffe://cluster.local/ns/other/sa/client';
const request = (over: Partial<RbacRequest> = {}): RbacRequest => ({
  peerIdentity: DEFAULT_SLEEP,
  sourceIp: '10.77.1.10',
  destinationPort: 80,
  method: 'GET',
  path: '/',
  authority: '10.77.100.20:80',
  headers: {},
  ...over,
});

const filter = (action: 'ALLOW' | 'DENY', policies: Record<string, unknown>): RbacFilter =>
  compileRbacFilter({ rules: { action, policies } }, 'rbac', 'http') as RbacFilter;
const anyPrincipal = [{ any: true }];

describe('evaluateRbac: Istio order (DENY first, then ALLOW if any)', () => {
  const denyAdmin = filter('DENY', {
    'ns[echo]-policy[deny-admin]-rule[0]': { permissions: [{ or_rules: { rules: [{ url_path: { path: { exact: '/admin' } } }, { url_path: { path: { prefix: '/admin/' } } }] } }], principals: anyPrincipal },
  });
  const allowGetFromDefault = filter('ALLOW', {
    'ns[echo]-policy[allow]-rule[0]': {
      permissions: [{ header: { name: ':method', string_match: { exact: 'GET' } } }],
      principals: [{ authenticated: { principal_name: { safe_regex: { regex: '.*/ns/default/.*' } } } }],
    },
  });
  const cases: Array<[string, RbacFilter[], Partial<RbacRequest>, boolean, string | undefined]> = [
    ['no filters: allowed', [], {}, true, undefined],
    ['deny by exact path', [denyAdmin], { path: '/admin' }, false, 'ns[echo]-policy[deny-admin]-rule[0]'],
    ['deny by path prefix, query ignored', [denyAdmin], { path: '/admin/users?x=1' }, false, 'ns[echo]-policy[deny-admin]-rule[0]'],
    ['other paths pass the DENY', [denyAdmin], { path: '/administrator' }, true, undefined],
    ['DENY wins over ALLOW', [denyAdmin, allowGetFromDefault], { path: '/admin' }, false, 'ns[echo]-policy[deny-admin]-rule[0]'],
    ['ALLOW matches method and namespace', [denyAdmin, allowGetFromDefault], { path: '/ok' }, true, 'ns[echo]-policy[allow]-rule[0]'],
    ['ALLOW present but method differs: denied', [allowGetFromDefault], { method: 'DELETE' }, false, undefined],
    ['ALLOW present but namespace differs: denied', [allowGetFromDefault], { peerIdentity: OTHER }, false, undefined],
    ['an ALLOW filter without policies denies all', [filter('ALLOW', {})], {}, false, undefined],
  ];
  it.each(cases)('%s', (_why, filters, over, allowed, policy) => {
    const decision = evaluateRbac(filters, request(over));
    expect(decision.allowed).toBe(allowed);
    expect(decision.policy).toBe(policy);
  });

  it.each([
    ['header principal', { header: { name: 'x-user', string_match: { exact: 'a' } } }, { headers: { 'x-user': 'a' } }, true],
    ['not_id', { not_id: { authenticated: { principal_name: { exact: DEFAULT_SLEEP } } } }, {}, false],
    ['source CIDR', { direct_remote_ip: { address_prefix: '10.77.1.0', prefix_len: 24 } }, {}, true],
    ['source CIDR outside', { direct_remote_ip: { address_prefix: '10.77.2.0', prefix_len: 24 } }, {}, false],
  ])('principal kinds: %s', (_why, principal, over, matches) => {
    const f = filter('DENY', { p: { permissions: [{ any: true }], principals: [principal] } });
    expect(evaluateRbac([f], request(over as Partial<RbacRequest>)).allowed).toBe(!matches);
  });

  it('refuses permission kinds it cannot evaluate (NACK reason names the path)', () => {
    expect(() => filter('DENY', { p: { permissions: [{ metadata: { filter: 'x' } }], principals: anyPrincipal } })).toThrow(/permission metadata is not supported/);
  });
});

const golden = goldenWaypointConfig('waypoint-echo-policy');
describe.skipIf(!golden)("istiod-lite's golden L7 policy (examples/waypoint/l7-policy.yaml)", () => {
  const listeners = compileListeners(golden!.listeners);
  const chain = listeners.chains.get('inbound-vip|80|http|echo.echo.svc.cluster.local');
  const rbac = chain?.kind === 'http' ? chain.rbac : [];
  it.each([
    ['GET / from default', {}, true, 'ns[echo]-policy[allow-default-reads]-rule[0]'],
    ['GET /admin is denied by deny-admin', { path: '/admin' }, false, 'ns[echo]-policy[deny-admin]-rule[0]'],
    ['GET /admin/x is denied by deny-admin', { path: '/admin/x' }, false, 'ns[echo]-policy[deny-admin]-rule[0]'],
    ['DELETE / is not allowed', { method: 'DELETE' }, false, undefined],
    ['GET / from another namespace is not allowed', { peerIdentity: OTHER }, false, undefined],
  ])('%s', (_why, over, allowed, policy) => {
    const decision = evaluateRbac(rbac, request(over));
    expect(decision.allowed).toBe(allowed);
    expect(decision.policy).toBe(policy);
  });
});
