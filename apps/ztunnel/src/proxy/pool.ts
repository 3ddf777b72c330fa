/**
 * The HBONE client pool of a ztunnel: connections keyed by source identity, destination and
 * expected server identities (hbone-core), with client certificates from the cert manager, so a
 * renewed certificate applies to new connections while open ones keep theirs.
 */
import { HbonePool } from '@mesh/hbone-core';
import type { CertManager } from '../identity/cert-manager.js';

export function createWorkloadPool(trustDomain: string, certs: CertManager): HbonePool {
  return new HbonePool({ trustDomain, secureContextFor: (identity) => certs.secureContext(identity) });
}

/**
 * `expectedIdentities` that admits any identity of the trust domain, for tunnels whose config
 * names no server identity (the seed's ORIGINAL_DST tunnel cluster validates the chain against
 * the mesh root only). The pool has already checked the peer is in the trust domain; the pool
 * key sees an empty list, so these tunnels share connections per destination.
 */
export function anyIdentityIn(trustDomain: string): readonly string[] {
  const prefix = `spiffe://${trustDomain}/`;
  return new (class extends Array<string> {
    override includes(identity: string): boolean {
      return typeof identity === 'string' && identity.startsWith(prefix);
    }
  })();
}
