/**
 * What the server knows about one stream: who the proxy is, and per type URL what it subscribed
 * to, what it was sent and what it answered. Both protocols (`sotw-protocol.ts`,
 * `delta-protocol.ts`) keep their state here, and the debug views read it.
 */
import type * as grpc from '@grpc/grpc-js';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse } from '@mesh/xds';
import type { WaypointRef } from '../ca/waypoint-identity.js';
import type { ProxyInfo, VerifiedServiceAccount } from './proxy-node.js';
import type { XdsGenerator } from './proxy-resources.js';
import type { Scope } from './resource-cache.js';

export type AdsProtocol = 'sotw' | 'delta';

export type SotwStream = grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>;
export type DeltaStream = grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;

export interface NackRecord {
  version: string;
  nonce: string;
  message: string;
  at: string;
}

/** Sync state of a type on a stream, the way `istioctl proxy-status` names it. */
export type SyncStatus = 'SYNCED' | 'STALE' | 'NOT SENT';

export interface Subscription {
  readonly typeUrl: string;
  readonly generator: XdsGenerator;
  readonly scope: Scope;
  /** Everything of the type (an empty first request, or `*`). */
  wildcard: boolean;
  /** Names subscribed explicitly (Envoy's EDS and RDS). */
  readonly names: Set<string>;
  /** Send even if nothing changed (a new subscription). */
  force: boolean;
  /** Queued for the next push. */
  dirty: boolean;
  sentVersion?: string;
  sentNonce?: string;
  sentAt?: string;
  ackedVersion?: string;
  ackedNonce?: string;
  ackedAt?: string;
  lastNack?: NackRecord;
  /** Delta: what the proxy has, name → version (what it was sent, or listed when it connected). */
  readonly known: Map<string, string>;
  /** Delta: the type's change counter that `known` fully reflects; undefined compares everything. */
  seq: number | undefined;
  /** Delta: explicitly subscribed names not yet answered (a missing one is reported as removed). */
  readonly newlySubscribed: Set<string>;
  /** Delta: responses not yet answered, nonce → the version and names they carried. */
  readonly inFlight: Map<string, { version: string; names: readonly string[] }>;
  /** Delta: resources the proxy rejected, name → the version it rejected (not re-sent). */
  readonly rejected: Map<string, string>;
  /** State of the world: resources in the last response. */
  sentCount?: number;
}

export interface Connection {
  readonly id: number;
  readonly protocol: AdsProtocol;
  readonly stream: SotwStream | DeltaStream;
  readonly peer: string;
  readonly secure: boolean;
  readonly verifiedNodeName: string | undefined;
  /** The service account a token proved (Kubernetes source), checked against the proxy it says it is. */
  readonly verifiedServiceAccount: VerifiedServiceAccount | undefined;
  /** The Gateway a waypoint credential proved (directory source): served only as that Gateway's waypoint. */
  readonly verifiedWaypoint: WaypointRef | undefined;
  readonly connectedAt: string;
  proxy: ProxyInfo | undefined;
  readonly subscriptions: Map<string, Subscription>;
  closed: boolean;
}

export function newSubscription(typeUrl: string, generator: XdsGenerator, scope: Scope): Subscription {
  return {
    typeUrl,
    generator,
    scope,
    wildcard: false,
    names: new Set(),
    force: true,
    dirty: true,
    known: new Map(),
    seq: undefined,
    newlySubscribed: new Set(),
    inFlight: new Map(),
    rejected: new Map(),
  };
}

export function isSubscribed(subscription: Subscription, name: string): boolean {
  return subscription.wildcard || subscription.names.has(name);
}

export function syncStatus(connection: Connection, subscription: Subscription): SyncStatus {
  if (subscription.sentNonce === undefined) return 'NOT SENT';
  if (connection.protocol === 'delta') return subscription.inFlight.size === 0 && subscription.rejected.size === 0 ? 'SYNCED' : 'STALE';
  return subscription.ackedNonce === subscription.sentNonce ? 'SYNCED' : 'STALE';
}
