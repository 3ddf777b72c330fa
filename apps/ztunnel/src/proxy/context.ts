import type { Socket } from 'node:net';
import type { HbonePool } from '@mesh/hbone-core';
import type { RuntimeModel } from '../config/model.js';
import type { CertManager } from '../identity/cert-manager.js';
import type { Logger } from '../log.js';
import type { ConnectionTracker } from './connections.js';

/** What the proxy handlers share; built once by the Ztunnel and passed down. */
export interface ProxyContext {
  readonly trustDomain: string;
  /** The model in force now (swapped atomically on each ACKed update). */
  model(): RuntimeModel;
  readonly pool: HbonePool;
  readonly certs: CertManager;
  readonly tracker: ConnectionTracker;
  readonly logger: Logger;
  /** Opens plain TCP upstream (passthrough, and inbound to the pod), half-open allowed. */
  connectTcp(host: string, port: number): Socket;
}

/**
 * `expectedIdentities` that admits any identity of the trust domain, for tunnels whose config
 * names no server identity (the seed's ORIGINAL_DST tunnel cluster validates the chain against
 * the mesh root only). The pool has already checked the peer is in the trust domain.
 */
export function anyIdentityIn(trustDomain: string): readonly string[] {
  const prefix = `spiffe://${trustDomain}/`;
  const list = new (class extends Array<string> {
    override includes(identity: string): boolean {
      return typeof identity === 'string' && identity.startsWith(prefix);
    }
  })();
  return list;
}
