import { describe, expect, it } from 'vitest';
import type { PeerCertificate } from 'node:tls';
import { nodeBootstrapUris, nodeNameFromPeerCertificate } from './node-identity.js';

const peer = (uris: string[]) => ({ subjectaltname: uris.map((uri) => `URI:${uri}`).join(', ') }) as PeerCertificate;

describe('node identity from a verified peer certificate', () => {
  it('reads the node from a bootstrap certificate', () => {
    expect(nodeBootstrapUris('cluster.local', 'node-a')).toEqual([
      'spiffe://cluster.local/ns/istio-system/sa/ztunnel',
      'spiffe://cluster.local/node/node-a',
    ]);
    expect(nodeNameFromPeerCertificate(peer(nodeBootstrapUris('cluster.local', 'node-a')), 'cluster.local')).toBe('node-a');
  });

  it.each([
    ['a workload certificate', ['spiffe://cluster.local/ns/default/sa/sleep']],
    ['a node URI without the ztunnel identity', ['spiffe://cluster.local/node/node-a']],
    ['two node URIs', [...nodeBootstrapUris('cluster.local', 'node-a'), 'spiffe://cluster.local/node/node-b']],
    ['another trust domain', nodeBootstrapUris('example.org', 'node-a')],
  ])('refuses %s', (_name, uris) => {
    expect(() => nodeNameFromPeerCertificate(peer(uris), 'cluster.local')).toThrow(expect.objectContaining({ code: 'ISTIOD_ERR_NOT_A_NODE' }));
  });

  it('refuses a connection without a certificate', () => {
    expect(() => nodeNameFromPeerCertificate(undefined, 'cluster.local')).toThrow(/not a node bootstrap certificate/);
  });

  it('refuses node names that are not DNS labels', () => {
    expect(() => nodeBootstrapUris('cluster.local', '../etc')).toThrow(expect.objectContaining({ code: 'ISTIOD_ERR_BAD_NODE' }));
  });
});
