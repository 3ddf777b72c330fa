/**
 * The ADS subscription to istiod-lite: CDS, EDS, LDS state of the world. Each response is
 * compiled by the model store before the ACK; anything ztunnel cannot run is NACKed with the
 * compiler's reason and the last good model stays (conventions §8). The client reconnects with
 * backoff and ztunnel keeps serving with the model it has while istiod-lite is down.
 */
import type * as grpc from '@grpc/grpc-js';
import { XdsClient, shortTypeName, type XdsNack, type XdsNode, type XdsResourcesUpdate } from '@mesh/xds';
import { SUPPORTED_TYPE_URLS, type ModelStore } from './model-store.js';
import type { Logger } from '../log.js';

/** Istio's sidecar-style node id, which istiod-lite reads (`ztunnel~<ip>~<name>~<ns>.svc.cluster.local`). */
/**
 * The xDS Node a ztunnel presents: Istio's `ztunnel~<ip>~<name>~<ns>` id, the node name, and the
 * admin address istiod-lite shows in /debug/syncz so meshctl can find this proxy's admin API.
 */
export function ztunnelNode(nodeName: string, ip = '', adminAddress?: string): XdsNode {
  return {
    id: `ztunnel~${ip}~ztunnel-${nodeName}~istio-system.svc.cluster.local`,
    metadata: { NODE_NAME: nodeName, ...(adminAddress ? { ADMIN_ADDRESS: adminAddress } : {}) },
    user_agent_name: 'ztunnel-ts',
  };
}

export interface XdsWiring {
  target: string;
  credentials: grpc.ChannelCredentials;
  nodeName: string;
  nodeIp?: string;
  /** `host:port` of the admin API, advertised to istiod-lite for meshctl. */
  adminAddress?: string;
  store: ModelStore;
  logger: Logger;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export function startXds(w: XdsWiring): XdsClient {
  const client = new XdsClient({
    target: w.target,
    node: ztunnelNode(w.nodeName, w.nodeIp, w.adminAddress),
    credentials: w.credentials,
    typeUrls: SUPPORTED_TYPE_URLS,
    validate: (update: XdsResourcesUpdate) => w.store.validate(update.typeUrl, update.version, update.resources),
    ...(w.initialBackoffMs !== undefined ? { initialBackoffMs: w.initialBackoffMs } : {}),
    ...(w.maxBackoffMs !== undefined ? { maxBackoffMs: w.maxBackoffMs } : {}),
  });
  client.on('resources', (update: XdsResourcesUpdate) => {
    w.store.commit(update.typeUrl);
    w.logger.log('xds', 'info', 'config applied', { type: shortTypeName(update.typeUrl), version: update.version, resources: update.resources.length });
  });
  client.on('nack', (nack: XdsNack) => w.logger.log('xds', 'warn', 'config rejected (NACK)', { type: shortTypeName(nack.typeUrl), version: nack.version, reason: nack.message }));
  client.on('connected', () => w.logger.log('xds', 'info', 'connected to the control plane', { target: w.target }));
  client.on('disconnected', (err: Error) =>
    w.logger.log('xds', 'warn', 'control plane stream lost; serving the last config and reconnecting', { target: w.target, error: err.message }),
  );
  return client.start();
}
