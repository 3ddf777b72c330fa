/**
 * The HBONE client pool of a ztunnel: connections keyed by source identity, destination and
 * expected server identities (hbone-core), with client certificates from the cert manager, so a
 * renewed certificate applies to new connections while open ones keep theirs.
 */
import { HbonePool } from '@mesh/hbone-core';
import type { CertManager } from '@mesh/workload-identity';

export function createWorkloadPool(trustDomain: string, certs: CertManager): HbonePool {
  return new HbonePool({ trustDomain, secureContextFor: (identity) => certs.secureContext(identity) });
}
