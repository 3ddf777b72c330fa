/**
 * What the ADS server lends its two protocols (`sotw-protocol.ts`, `delta-protocol.ts`): the
 * resource cache, subscriptions, the push queue and the per-proxy memory of rejected versions.
 */
import type { Logger } from '../log.js';
import type { ResourceCache } from './resource-cache.js';
import type { Connection, Subscription } from './subscription.js';

export interface ProtocolContext {
  readonly cache: ResourceCache;
  readonly logger: Logger;
  /** A new subscription of the connection's proxy to a type, or undefined (logged) if no generator serves it. */
  subscribe(connection: Connection, typeUrl: string): Subscription | undefined;
  /** Marks the subscription for the next push and queues the connection. */
  schedule(connection: Connection, subscription: Subscription): void;
  nextNonce(): string;
  /** State of the world: the version this proxy rejected last for a type, across its streams. */
  rejectedVersion(proxyId: string, typeUrl: string): string | undefined;
  rememberRejected(proxyId: string, typeUrl: string, version: string | undefined): void;
}
