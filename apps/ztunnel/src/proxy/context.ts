import type { Socket } from 'node:net';
import type { RbacShadowStats } from '@mesh/envoy-config';
import type { HbonePool } from '@mesh/hbone-core';
import type { EndpointPicker, RuntimeModel } from '@mesh/ztunnel-plan';
import type { CertManager } from '@mesh/workload-identity';
import type { ProxyLogger as Logger } from '@mesh/log';
import type { ConnectionTracker } from './connections.js';
import type { SourceBinding } from './source-bind.js';

/** What the proxy handlers share; built once by the Ztunnel and passed down. */
export interface ProxyContext {
  readonly trustDomain: string;
  /** The model in force now (swapped atomically on each ACKed update). */
  model(): RuntimeModel;
  /**
   * Chooses an EDS cluster's endpoint (one RoundRobin for the Ztunnel's life): the cursors live
   * here, not in the model, so a model swap (an EDS update) goes on where the last pick was.
   */
  readonly endpoints: EndpointPicker;
  readonly pool: HbonePool;
  readonly certs: CertManager;
  readonly tracker: ConnectionTracker;
  readonly logger: Logger;
  /** Dry-run authorization results (`envoy_tcp_rbac{authz_dry_run_action, authz_dry_run_result}`). */
  readonly rbacStats: RbacShadowStats;
  /** Opens plain TCP upstream (passthrough), half-open allowed. */
  connectTcp(host: string, port: number): Socket;
  /**
   * Opens the connection to a local pod for an inbound tunnel. In transparent mode it comes
   * from the original client's IP when that client is on another node (IP_TRANSPARENT bind;
   * the capture plan's socket-match rule brings the pod's replies back), so the pod sees who
   * called it, as with Istio's ztunnel.
   */
  connectToPod(host: string, port: number, sourceIp: string | undefined): Socket;
  /** Where outbound tunnels of a pod are opened from (source-bind.ts). */
  readonly sourceBinding: SourceBinding;
}
