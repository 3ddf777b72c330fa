/**
 * The waypoint's link to istiod-lite: mTLS with its node's bootstrap credential (the server
 * checked by its SPIFFE identity, @mesh/workload-identity), the ADS subscription (CDS, EDS, LDS,
 * RDS over delta xDS by default; each update compiled before the ACK, NACK with the reason
 * otherwise, and on delta the rest of the update applies). The node id
 * `waypoint~<ip>~<pod>~<ns>.svc.cluster.local` tells istiod-lite which Gateway's config to send.
 */
import type * as grpc from '@grpc/grpc-js';
import { XdsClient, shortTypeName, type XdsNack, type XdsNode, type XdsProtocol, type XdsResourcesUpdate } from '@mesh/xds';
import { SUPPORTED_TYPE_URLS, type ModelStore } from '../config/store.js';
import type { ProxyLogger as Logger } from '@mesh/log';
import { WAYPOINT_VERSION } from '../version.js';

/** `adminMetadata`: where its admin API is (@mesh/admin-access), shown in /debug/syncz for meshctl; ISTIO_VERSION its version, as Istio's proxies send it. */
export function waypointNode(podName: string, namespace: string, nodeName: string, ip = '', adminMetadata: Readonly<Record<string, string>> = {}): XdsNode {
  return { id: `waypoint~${ip}~${podName}~${namespace}.svc.cluster.local`, metadata: { NODE_NAME: nodeName, ISTIO_VERSION: WAYPOINT_VERSION, ...adminMetadata }, user_agent_name: 'waypoint-ts' };
}

export function startXds(options: {
  target: string;
  /** Default delta. */
  protocol?: XdsProtocol;
  credentials: grpc.ChannelCredentials;
  node: XdsNode;
  store: ModelStore;
  logger: Logger;
  onApplied: () => void;
}): XdsClient {
  const { store, logger } = options;
  const client = new XdsClient({
    target: options.target,
    protocol: options.protocol ?? 'delta',
    node: options.node,
    credentials: options.credentials,
    typeUrls: SUPPORTED_TYPE_URLS,
    validate: (update: XdsResourcesUpdate) => store.validate(update.typeUrl, update.resources),
  });
  client.on('resources', (update: XdsResourcesUpdate) => {
    store.commit(update.typeUrl);
    logger.log('xds', 'info', 'config applied', { type: shortTypeName(update.typeUrl), version: update.version, resources: update.resources.length });
    options.onApplied();
  });
  client.on('nack', (nack: XdsNack) => logger.log('xds', 'warn', 'config rejected (NACK)', { type: shortTypeName(nack.typeUrl), version: nack.version, reason: nack.message }));
  client.on('connected', () => logger.log('xds', 'info', 'connected to the control plane', { target: options.target }));
  client.on('disconnected', (err: Error) => logger.log('xds', 'warn', 'control plane stream lost; serving the last config', { error: err.message }));
  return client.start();
}
