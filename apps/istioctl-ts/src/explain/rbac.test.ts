import { describe, expect, it } from 'vitest';
import { evaluateRbac, type RbacFacts } from './rbac.js';

const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const PRODUCTPAGE = 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage';
const facts = (over: Partial<RbacFacts> = {}): RbacFacts => ({ peerIdentity: SLEEP, sourceIp: '10.77.1.10', destinationIp: '10.77.2.13', destinationPort: 9080, ...over });
const principal = (exact: string) => ({ authenticated: { principal_name: { exact } } });
const filter = (action: 'ALLOW' | 'DENY', policies: Record<string, unknown>) => ({ rules: { action, policies }, stat_prefix: 'tcp.' });

describe('evaluateRbac', () => {
  it.each([
    { name: 'no filters allow', filters: [], facts: facts(), allowed: true, policy: undefined },
    { name: 'DENY by principal', filters: [filter('DENY', { d: { permissions: [{ any: true }], principals: [principal(SLEEP)] } })], facts: facts(), allowed: false, policy: 'd' },
    { name: 'DENY for someone else allows', filters: [filter('DENY', { d: { permissions: [{ any: true }], principals: [principal(PRODUCTPAGE)] } })], facts: facts(), allowed: true, policy: undefined },
    {
      name: 'ALLOW by principal and port',
      filters: [filter('ALLOW', { a: { permissions: [{ destination_port: 9080 }], principals: [principal(PRODUCTPAGE)] } })],
      facts: facts({ peerIdentity: PRODUCTPAGE }),
      allowed: true,
      policy: 'a',
    },
    { name: 'ALLOW wrong port denies', filters: [filter('ALLOW', { a: { permissions: [{ destination_port: 9080 }], principals: [principal(PRODUCTPAGE)] } })], facts: facts({ peerIdentity: PRODUCTPAGE, destinationPort: 80 }), allowed: false, policy: undefined },
    { name: 'empty ALLOW denies everything', filters: [filter('ALLOW', {})], facts: facts(), allowed: false, policy: undefined },
    {
      name: 'DENY wins over ALLOW',
      filters: [filter('DENY', { d: { permissions: [{ any: true }], principals: [principal(SLEEP)] } }), filter('ALLOW', { a: { permissions: [{ any: true }], principals: [{ any: true }] } })],
      facts: facts(),
      allowed: false,
      policy: 'd',
    },
    {
      name: 'namespace regex, ip block and not_rule',
      filters: [
        filter('ALLOW', {
          a: {
            permissions: [{ and_rules: { rules: [{ destination_ip: { address_prefix: '10.77.2.0', prefix_len: 24 } }, { not_rule: { destination_port: 22 } }] } }],
            principals: [{ and_ids: { ids: [{ authenticated: { principal_name: { safe_regex: { regex: '.*/ns/default/.*' } } } }, { direct_remote_ip: { address_prefix: '10.77.1.0', prefix_len: 24 } }] } }],
          },
        }),
      ],
      facts: facts(),
      allowed: true,
      policy: 'a',
    },
    { name: 'plaintext peer fails an authenticated principal', filters: [filter('ALLOW', { a: { permissions: [{ any: true }], principals: [principal(SLEEP)] } })], facts: facts({ peerIdentity: undefined }), allowed: false, policy: undefined },
    { name: 'an unknown rule kind is not guessed', filters: [filter('DENY', { d: { permissions: [{ metadata: { filter: 'x' } }], principals: [{ any: true }] } })], facts: facts(), allowed: undefined, policy: 'd' },
  ])('$name', ({ filters, facts: f, allowed, policy }) => {
    const verdict = evaluateRbac(filters, f);
    expect(verdict.allowed).toBe(allowed);
    expect(verdict.policy).toBe(policy);
  });
});
