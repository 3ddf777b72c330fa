/**
 * The HBONE client pool of a ztunnel: connections keyed by source identity, source address,
 * destination and expected server identities (hbone-core), opened from the source pod's address
 * (source-bind.ts), with client certificates from the cert manager, so a renewed certificate
 * applies to new connections while open ones keep theirs.
 */
import { HbonePool } from '@mesh/hbone-core';
import type { CertManager } from '@mesh/workload-identity';
import type { SourceBinding } from './source-bind.js';

export function createWorkloadPool(trustDomain: string, certs: CertManager, binding: SourceBinding): HbonePool {
  return new HbonePool({ trustDomain, secureContextFor: (identity) => certs.secureContext(identity), createSocket: (target) => binding.createSocket(target) });
}
