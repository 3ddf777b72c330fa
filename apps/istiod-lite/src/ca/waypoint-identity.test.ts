import { describe, expect, it } from 'vitest';
import type { PeerCertificate } from 'node:tls';
import { parseSpiffeUri } from '@mesh/pki';
import { nodeBootstrapUris } from './node-identity.js';
import { waypointFromPeerCertificate, waypointUri, waypointWorkloadIdentity } from './waypoint-identity.js';

const peer = (uris: string[]) => ({ subjectaltname: uris.map((uri) => `URI:${uri}`).join(', ') }) as PeerCertificate;
const ECHO_WAYPOINT = { namespace: 'echo', gateway: 'waypoint' };

describe('waypoint identity from a verified peer certificate', () => {
  it('reads the Gateway from a waypoint credential, whose one identity is its service account', () => {
    expect(waypointUri('cluster.local', ECHO_WAYPOINT)).toBe('spiffe://cluster.local/waypoint/echo/waypoint');
    expect(waypointFromPeerCertificate(peer([waypointUri('cluster.local', ECHO_WAYPOINT)]), 'cluster.local')).toEqual(ECHO_WAYPOINT);
    expect(waypointWorkloadIdentity('cluster.local', ECHO_WAYPOINT)).toBe('spiffe://cluster.local/ns/echo/sa/waypoint');
  });

  it('names no Gateway for a node or workload certificate (they are judged as before)', () => {
    expect(waypointFromPeerCertificate(peer(nodeBootstrapUris('cluster.local', 'node-b')), 'cluster.local')).toBeUndefined();
    expect(waypointFromPeerCertificate(peer(['spiffe://cluster.local/ns/echo/sa/waypoint']), 'cluster.local')).toBeUndefined();
    expect(waypointFromPeerCertificate(undefined, 'cluster.local')).toBeUndefined();
  });

  it.each([
    ['a waypoint URI beside a node identity', [...nodeBootstrapUris('cluster.local', 'node-b'), 'spiffe://cluster.local/waypoint/echo/waypoint']],
    ['two waypoint URIs', ['spiffe://cluster.local/waypoint/echo/waypoint', 'spiffe://cluster.local/waypoint/echo/other']],
    ['a waypoint URI with more path', ['spiffe://cluster.local/waypoint/echo/waypoint/x']],
    ['a waypoint URI without a Gateway', ['spiffe://cluster.local/waypoint/echo']],
    ['a path-like name', ['spiffe://cluster.local/waypoint/../waypoint']],
  ])('refuses %s', (_name, uris) => {
    expect(() => waypointFromPeerCertificate(peer(uris), 'cluster.local')).toThrow(expect.objectContaining({ code: 'ISTIOD_ERR_NOT_A_WAYPOINT' }));
  });

  it('is not a workload identity: the CA can never issue it to a workload, nor can it serve as an HBONE certificate', () => {
    // The CA parses the identity asked for with parseSpiffeUri (INVALID_ARGUMENT otherwise), and
    // HBONE peers check the same ns/…/sa/… form.
    expect(() => parseSpiffeUri(waypointUri('cluster.local', ECHO_WAYPOINT))).toThrow(expect.objectContaining({ code: 'PKI_ERR_BAD_SPIFFE_ID' }));
  });

  it('refuses Gateway names that are not Kubernetes names (they become directories)', () => {
    expect(() => waypointUri('cluster.local', { namespace: 'echo', gateway: '../nodes' })).toThrow(expect.objectContaining({ code: 'ISTIOD_ERR_BAD_WAYPOINT' }));
    expect(() => waypointUri('cluster.local', { namespace: 'echo', gateway: 'a..b' })).toThrow(expect.objectContaining({ code: 'ISTIOD_ERR_BAD_WAYPOINT' }));
  });
});
