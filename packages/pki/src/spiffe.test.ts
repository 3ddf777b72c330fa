import { hasCode } from '@mesh/errors';
import { describe, expect, it } from 'vitest';
import { parseSpiffeUri, spiffeUri } from './spiffe.js';

describe('spiffeUri / parseSpiffeUri', () => {
  it('renders and parses Istio workload identities', () => {
    const id = { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'sleep' };
    expect(spiffeUri(id)).toBe('spiffe://cluster.local/ns/default/sa/sleep');
    expect(parseSpiffeUri('spiffe://cluster.local/ns/default/sa/sleep')).toEqual(id);
  });

  it.each([
    'https://cluster.local/ns/default/sa/sleep',
    'spiffe://Cluster.Local/ns/default/sa/sleep',
    'spiffe://cluster.local/ns/default/sa/',
    'spiffe://cluster.local/ns/default/sa/sleep/extra',
    'spiffe://cluster.local/namespace/default/sa/sleep',
    'spiffe://cluster.local/ns/../sa/sleep',
    'spiffe://cluster.local:443/ns/default/sa/sleep',
    'spiffe://cluster.local/ns/default/sa/sleep?x=1',
    'spiffe://cluster.local',
  ])('refuses %s with PKI_ERR_BAD_SPIFFE_ID', (uri) => {
    expect(() => parseSpiffeUri(uri)).toThrow(expect.objectContaining({ code: 'PKI_ERR_BAD_SPIFFE_ID' }));
  });

  it('refuses to render an identity with a slash in a component', () => {
    let caught: unknown;
    try {
      spiffeUri({ trustDomain: 'cluster.local', namespace: 'a/sa/b', serviceAccount: 'c' });
    } catch (err) {
      caught = err;
    }
    expect(hasCode(caught, 'PKI_ERR_BAD_SPIFFE_ID')).toBe(true);
  });
});
