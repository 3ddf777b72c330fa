/**
 * The ADS subscription to istiod-lite: the types of the store's dialect (CDS, EDS, LDS, or
 * Address and Authorization), over delta xDS by default (only what changed is sent;
 * `--xds-protocol sotw` for state of the world). Each update is compiled by the model store
 * before the ACK; anything ztunnel cannot run is NACKed with the compiler's reason and the last
 * good model stays (on delta, per resource: the rest applies). The client reconnects with backoff
 * and ztunnel keeps serving with the model it has while istiod-lite is down.
 */
import type * as grpc from '@grpc/grpc-js';
import { XdsClient, shortTypeName, type XdsNack, type XdsNode, type XdsProtocol, type XdsResourcesUpdate } from '@mesh/xds';
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
}

export function startXds(w: XdsWiring): XdsClient {
  const client = new XdsClient({
    target: w.target,
    protocol: w.protocol ?? 'delta',
    node: ztunnelNode(w.nodeName, w.nodeIp, w.adminMetadata),
    credentials: w.credentials,
    typeUrls: w.store.typeUrls,
    validate: (update: XdsResourcesUpdate) => w.store.validate(update.typeUrl, update.version, update.resources),
    ...(w.initialBackoffMs !== undefined ? { initialBackoffMs: w.initialBackoffMs } : {}),
    ...(w.maxBackoffMs !== undefined ? { maxBackoffMs: w.maxBackoffMs } : {}),
  });
  client.on('resources', (update: XdsResourcesUpdate) => {
    w.store.commit(update.typeUrl);
    w.logger.log('xds', 'info', 'config applied', { type: shortTypeName(update.typeUrl), version: update.version, resources: update.resources.length });
  });
  client.on('nack', (nack: XdsNack) =>
    w.logger.log('xds', 'warn', 'config rejected (NACK)', { type: shortTypeName(nack.typeUrl), version: nack.version, reason: nack.message, ...(nack.rejected ? { rejected: nack.rejected } : {}) }),
  );
  client.on('connected', () => w.logger.log('xds', 'info', 'connected to the control plane', { target: w.target }));
  client.on('disconnected', (err: Error, retryInMs?: number) =>
    w.logger.log('xds', 'warn', 'control plane stream lost; serving the last config and reconnecting', { target: w.target, error: err.message, retryInMs }),
  );
  return client.start();
}
