/**
 * The ADS subscription to istiod-lite: the types of the store's dialect (CDS, EDS, LDS, or
 * Address and Authorization), wired by @mesh/proxy-runtime's `startProxyXds` (delta by default,
 * `--xds-protocol sotw` for state of the world; NACK with the compiler's reason, the last good
 * model stays; reconnect with backoff while serving the model it has).
 */
import type * as grpc from '@grpc/grpc-js';
import type { XdsClient, XdsNode, XdsProtocol } from '@mesh/xds';
import { startProxyXds } from '@mesh/proxy-runtime';
import type { ModelStore } from './model-store.js';
import type { ProxyLogger as Logger } from '@mesh/log';
import { ZTUNNEL_VERSION } from '../version.js';

/**
 * The xDS Node a ztunnel presents: Istio's `ztunnel~<ip>~<name>~<ns>` id, the node name, its
 * version (ISTIO_VERSION, as Istio's proxies send it), and the
 * admin endpoint istiod-lite shows in /debug/syncz so meshctl can find this proxy's admin API
 * (@mesh/admin-access `adminEndpointMetadata`).
 */
export function ztunnelNode(nodeName: string, ip = '', adminMetadata: Readonly<Record<string, string>> = {}): XdsNode {
  return {
    id: `ztunnel~${ip}~ztunnel-${nodeName}~istio-system.svc.cluster.local`,
    metadata: { NODE_NAME: nodeName, ISTIO_VERSION: ZTUNNEL_VERSION, ...adminMetadata },
    user_agent_name: 'ztunnel-ts',
  };
}

export interface XdsWiring {
  target: string;
  /** Default delta. */
  protocol?: XdsProtocol;
  credentials: grpc.ChannelCredentials;
  nodeName: string;
  nodeIp?: string;
  /** Where the admin API is (@mesh/admin-access `adminEndpointMetadata`), advertised for meshctl. */
  adminMetadata?: Readonly<Record<string, string>>;
  store: ModelStore;
  logger: Logger;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Each time the stream to the control plane is (re)established (the CA is reachable again). */
  onConnected?: () => void;
}

export function startXds(w: XdsWiring): XdsClient {
  return startProxyXds({ ...w, node: ztunnelNode(w.nodeName, w.nodeIp, w.adminMetadata) });
}
