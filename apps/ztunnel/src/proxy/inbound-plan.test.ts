import { describe, expect, it } from 'vitest';
import { planInboundPlaintext, planInboundTunnel, recheck } from '@mesh/ztunnel-plan';
import { BOOKINFO } from '../testing/bookinfo.js';
import { modelForNode } from '../testing/model.js';

const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const PRODUCTPAGE = 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage';

const DENY_SLEEP = {
  action: 'DENY',
  policies: { 'ns[default]-policy[deny-sleep]-rule[0]': { permissions: [{ any: true }], principals: [{ authenticated: { principal_name: { exact: SLEEP } } }] } },
};
const ALLOW_PRODUCTPAGE_9080 = {
  action: 'ALLOW',
  policies: {
    'ns[default]-policy[reviews-from-productpage]-rule[0]': {
      permissions: [{ and_rules: { rules: [{ or_rules: { rules: [{ destination_port: 9080 }] } }] } }],
      principals: [{ and_ids: { ids: [{ or_ids: { ids: [{ authenticated: { principal_name: { exact: PRODUCTPAGE } } }] } }] } }],
    },
  },
};
const mesh = { ...BOOKINFO, rbac: { 'ratings-v1': [DENY_SLEEP], 'reviews-v2': [ALLOW_PRODUCTPAGE_9080] } };
const tunnel = (localIp: string, authority: string, peerIdentity: string, header?: string) => ({
  localIp,
  authority,
  originalDstHeader: header,
  peerIdentity,
  sourceIp: '10.77.1.10',
});

describe('planInboundTunnel', () => {
  const model = modelForNode(mesh, 'node-b');
  it.each([
    ['a tunnel to a local pod', tunnel('10.77.2.12', '10.77.2.12:9080', SLEEP), { kind: 'accept', target: '10.77.2.12:9080', chain: 'inbound_10.77.2.12' }],
    ['x-envoy-original-dst-host wins over :authority (use_http_header)', tunnel('10.77.2.12', '10.77.2.12:1', SLEEP, '10.77.2.12:9080'), { kind: 'accept', target: '10.77.2.12:9080' }],
    ['an authority that is not a local pod', tunnel('10.77.2.12', '10.77.1.11:9080', SLEEP), { kind: 'reject', status: 400 }],
    ['a connection to an address that is not a local pod', tunnel('10.77.9.9', '10.77.9.9:9080', SLEEP), { kind: 'reject', status: 400 }],
    ['a malformed authority', tunnel('10.77.2.12', 'nonsense', SLEEP), { kind: 'reject', status: 400 }],
    ['DENY names the policy', tunnel('10.77.2.13', '10.77.2.13:9080', SLEEP), { kind: 'reject', status: 401, policy: 'ns[default]-policy[deny-sleep]-rule[0]' }],
    ['DENY does not hit other principals', tunnel('10.77.2.13', '10.77.2.13:9080', PRODUCTPAGE), { kind: 'accept' }],
    ['ALLOW by principal admits it', tunnel('10.77.2.10', '10.77.2.10:9080', PRODUCTPAGE), { kind: 'accept', decision: { allowed: true, policy: 'ns[default]-policy[reviews-from-productpage]-rule[0]' } }],
    ['ALLOW refuses other principals', tunnel('10.77.2.10', '10.77.2.10:9080', SLEEP), { kind: 'reject', status: 401, reason: 'allow policies exist, but none allowed' }],
    ['ALLOW refuses other ports', tunnel('10.77.2.10', '10.77.2.10:9081', PRODUCTPAGE), { kind: 'reject', status: 401 }],
  ])('%s', (_n, facts, expected) => {
    expect(planInboundTunnel(model, facts)).toMatchObject(expected);
  });
});

describe('planInboundPlaintext', () => {
  const plain = { src: { ip: '10.77.1.10', port: 5555 }, dst: { ip: '10.77.2.12', port: 9080 } };
  it('forwards plaintext to a local pod when PERMISSIVE', () => {
    expect(planInboundPlaintext(modelForNode(mesh, 'node-b'), plain)).toMatchObject({ kind: 'accept', target: '10.77.2.12:9080', identity: undefined });
  });
  it('refuses plaintext under STRICT and names why', () => {
    expect(planInboundPlaintext(modelForNode({ ...mesh, strict: true }, 'node-b'), plain)).toMatchObject({
      kind: 'reject',
      status: 401,
      policy: 'peer-authentication-strict-denies-plaintext',
    });
  });
});

describe('recheck (policy change on a live connection)', () => {
  it('denies a connection that a new DENY policy covers', () => {
    const live = { target: '10.77.2.12:9080', peerIdentity: SLEEP, sourceIp: '10.77.1.10', plaintext: false };
    expect(recheck(modelForNode(mesh, 'node-b'), live)).toMatchObject({ allowed: true });
    const after = modelForNode({ ...mesh, rbac: { 'details-v1': [DENY_SLEEP] } }, 'node-b');
    expect(recheck(after, live)).toMatchObject({ allowed: false, policy: 'ns[default]-policy[deny-sleep]-rule[0]' });
  });
});
