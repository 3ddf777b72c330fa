/**
 * A proxy's ADS subscription: the store's types over delta xDS by default (only what changed is
 * sent; state of the world if asked). Each update is compiled by the store before the ACK;
 * what the proxy cannot run is NACKed with the compiler's reason and the last good model stays
 * (on delta, per resource: the rest applies). The client reconnects with backoff and the proxy
 * keeps serving the model it has while the control plane is away.
 */
import type * as grpc from '@grpc/grpc-js';
import type { ProxyLogger } from '@mesh/log';
import { XdsClient, shortTypeName, type XdsNack, type XdsNode, type XdsProtocol, type XdsResourcesUpdate } from '@mesh/xds';
import type { XdsModelStore } from './model-store.js';

export interface ProxyXdsOptions {
  target: string;
  /** Default delta. */
  protocol?: XdsProtocol | undefined;
  credentials: grpc.ChannelCredentials;
  node: XdsNode;
  store: XdsModelStore;
  logger: ProxyLogger;
  /** After each update is in force. */
  onApplied?: () => void;
  /** Each time the stream to the control plane is (re)established. */
  onConnected?: () => void;
  initialBackoffMs?: number | undefined;
  maxBackoffMs?: number | undefined;
}

export function startProxyXds(o: ProxyXdsOptions): XdsClient {
  const { store, logger } = o;
  const client = new XdsClient({
    target: o.target,
    protocol: o.protocol ?? 'delta',
    node: o.node,
    credentials: o.credentials,
    typeUrls: store.typeUrls,
    validate: (update: XdsResourcesUpdate) => store.validate(update.typeUrl, update.version, update.resources),
    ...(o.initialBackoffMs !== undefined ? { initialBackoffMs: o.initialBackoffMs } : {}),
    ...(o.maxBackoffMs !== undefined ? { maxBackoffMs: o.maxBackoffMs } : {}),
  });
  client.on('resources', (update: XdsResourcesUpdate) => {
    store.commit(update.typeUrl);
    logger.log('xds', 'info', 'config applied', { type: shortTypeName(update.typeUrl), version: update.version, resources: update.resources.length });
    o.onApplied?.();
  });
  client.on('nack', (nack: XdsNack) =>
    logger.log('xds', 'warn', 'config rejected (NACK)', { type: shortTypeName(nack.typeUrl), version: nack.version, reason: nack.message, ...(nack.rejected ? { rejected: nack.rejected } : {}) }),
  );
  client.on('connected', () => {
    logger.log('xds', 'info', 'connected to the control plane', { target: o.target });
    o.onConnected?.();
  });
  client.on('disconnected', (err: Error, retryInMs?: number) =>
    logger.log('xds', 'warn', 'control plane stream lost; serving the last config and reconnecting', { target: o.target, error: err.message, retryInMs }),
  );
  return client.start();
}
