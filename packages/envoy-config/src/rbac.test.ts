import { describe, expect, it } from 'vitest';
import { compileRbacFilter, evaluateRbac, type RbacRequest } from './rbac.js';

const req = (over: Partial<RbacRequest> = {}): RbacRequest => ({
  peerIdentity: 'spiffe://cluster.local/ns/default/sa/sleep',
  sourceIp: '10.77.1.10',
  destinationIp: '10.77.2.13',
  destinationPort: 9080,
  ...over,
});
const filter = (action: string, policies: Record<string, unknown>) => {
  const f = compileRbacFilter({ rules: { action, policies } }, 'rbac');
  if (!f) throw new Error('no filter');
  return f;
};
const policy = (principals: unknown[], permissions: unknown[] = [{ any: true }]) => ({ permissions, principals });

describe('evaluateRbac', () => {
  it('allows when there are no policies', () => {
    expect(evaluateRbac([], req())).toEqual({ allowed: true });
  });
  it('DENY is checked before ALLOW', () => {
    const filters = [filter('ALLOW', { allow: policy([{ any: true }]) }), filter('DENY', { deny: policy([{ any: true }]) })];
    expect(evaluateRbac(filters, req())).toMatchObject({ allowed: false, policy: 'deny' });
  });
  it('an ALLOW filter with no policies allows nothing', () => {
    expect(evaluateRbac([filter('ALLOW', {})], req())).toMatchObject({ allowed: false });
  });
  it.each([
    ['namespaces (safe_regex)', [{ authenticated: { principal_name: { safe_regex: { regex: '.*/ns/default/.*' } } } }], req(), true],
    ['namespaces, other namespace', [{ authenticated: { principal_name: { safe_regex: { regex: '.*/ns/prod/.*' } } } }], req(), false],
    ['ipBlocks', [{ direct_remote_ip: { address_prefix: '10.77.1.0', prefix_len: 24 } }], req(), true],
    ['ipBlocks, outside', [{ direct_remote_ip: { address_prefix: '10.77.2.0', prefix_len: 24 } }], req(), false],
    ['notPrincipals', [{ not_id: { authenticated: { principal_name: { exact: 'spiffe://cluster.local/ns/default/sa/sleep' } } } }], req(), false],
    ['authenticated needs mTLS', [{ authenticated: {} }], req({ peerIdentity: undefined }), false],
    ['principal prefix', [{ authenticated: { principal_name: { prefix: 'spiffe://cluster.local/' } } }], req(), true],
  ])('principal: %s', (_n, principals, request, allowed) => {
    expect(evaluateRbac([filter('ALLOW', { p: policy(principals) })], request).allowed).toBe(allowed);
  });
  it.each([
    ['port', [{ destination_port: 9080 }], true],
    ['other port', [{ destination_port: 80 }], false],
    ['port range', [{ destination_port_range: { start: 9000, end: 9100 } }], true],
    ['not port', [{ not_rule: { destination_port: 9080 } }], false],
    ['destination ip', [{ destination_ip: { address_prefix: '10.77.2.13', prefix_len: 32 } }], true],
  ])('permission: %s', (_n, permissions, allowed) => {
    expect(evaluateRbac([filter('ALLOW', { p: policy([{ any: true }], permissions) })], req()).allowed).toBe(allowed);
  });
  it('refuses what it cannot evaluate at L4 (NACK)', () => {
    expect(() => compileRbacFilter({ rules: { policies: { p: policy([{ header: { name: 'x' } }]) } } }, 'f')).toThrow(/f.rules.policies\["p"\].principals\[0\].header: principal header is not supported at L4/);
    expect(() => compileRbacFilter({ rules: { policies: { p: policy([{ any: true }], [{ url_path: {} }]) } } }, 'f')).toThrow(/permission url_path/);
  });
});
