/**
 * The ADS server: `envoy.service.discovery.v3.AggregatedDiscoveryService` with both methods,
 * `StreamAggregatedResources` (state of the world, `sotw-protocol.ts`) and
 * `DeltaAggregatedResources` (incremental, `delta-protocol.ts`), over the resources of
 * `resource-cache.ts`. This file holds what is common: accepting streams and identifying the
 * proxy, subscriptions through the generator registry, one push queue, and forgetting proxies.
 *
 * Invariants:
 * - Nothing a proxy sends can throw out of a handler: bad nodes end that stream with a status.
 * - One push queue: a snapshot change marks every subscription and queues every stream; the
 *   queue brings each scope to the current snapshot (once per scope, however many streams share
 *   it) and pushes what each stream lacks, one stream per event-loop turn, in Envoy's order
 *   (clusters, endpoints, listeners, routes, then other types). It waits for a stream that has
 *   too much unsent to drain (up to `DRAIN_WAIT_MS`), so a large mesh is not buffered for every
 *   stream at once. A request during a cycle queues its stream again.
 * - A generator or encoding failure keeps every affected proxy's previous config (logged).
 * - When a proxy's last stream ends, its cache entries and remembered rejections are dropped
 *   after `idleTtlMs` (a proxy that reconnects sooner finds them).
 */
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { hasCode, isMeshError } from '@mesh/errors';
import { TYPE_URL, shortTypeName } from '@mesh/xds';
import type { DeltaDiscoveryRequest, DiscoveryRequest } from '@mesh/xds';
import type { ConfigSource } from '../config-source/config-source.js';
import type { Logger } from '../log.js';
import { onDeltaRequest, pushDelta } from './delta-protocol.js';
import { configDumpOf, synczOf } from './debug-views.js';
import type { SynczEntry } from './debug-views.js';
import type { ProtocolContext } from './protocol-context.js';
import type { WaypointRef } from '../ca/waypoint-identity.js';
import { checkNodeCredentialProxy, checkProxyAllowed, proxyFromNode, waypointProxyFromNode } from './proxy-node.js';
import type { ProxyInfo, VerifiedServiceAccount } from './proxy-node.js';
import type { GeneratorRegistry } from './proxy-resources.js';
import { DEFAULT_IDLE_SCOPE_TTL_MS, ResourceCache } from './resource-cache.js';
import { onSotwRequest, pushSotw } from './sotw-protocol.js';
import { newSubscription } from './subscription.js';
import type { AdsProtocol, Connection, DeltaStream, SotwStream, Subscription } from './subscription.js';

/** Push order, as Envoy wants it: clusters before their endpoints, listeners after both; other types after. */
export const PUSH_ORDER: readonly string[] = [TYPE_URL.CLUSTER, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, TYPE_URL.LISTENER, TYPE_URL.ROUTE_CONFIGURATION];

/** How long the push queue waits for one stream to drain before moving on. */
export const DRAIN_WAIT_MS = 5_000;

export interface AdsServerOptions {
  source: ConfigSource;
  generators: GeneratorRegistry;
  logger: Logger;
  /** How long a disconnected proxy's cache entries are kept (default 60 s). */
  idleTtlMs?: number;
  /** Scopes above this many encoded bytes keep only versions (resource-cache.ts). */
  retainBytesLimit?: number;
  /** This instance's name in syncz (istioctl's ISTIOD column); default `istiod-lite`. */
  id?: string;
  /**
   * Waypoints have credentials of their own (the directory source): a node bootstrap credential
   * may not connect as a waypoint (proxy-node.ts `checkNodeCredentialProxy`).
   */
  waypointCredentials?: boolean;
}

/** What the transport proved of a stream's caller: its node, the service account of a token, or the Gateway of a waypoint credential. */
export interface VerifiedPeer {
  readonly nodeName?: string;
  readonly serviceAccount?: VerifiedServiceAccount;
  readonly waypoint?: WaypointRef;
}

interface ProxyRecord {
  streams: number;
  idleSince: number | undefined;
  /** State of the world: per type, the version this proxy rejected last. */
  readonly rejected: Map<string, string>;
}

export class AdsServer {
  readonly #source: ConfigSource;
  readonly #generators: GeneratorRegistry;
  readonly #logger: Logger;
  readonly #cache: ResourceCache;
  readonly #idleTtlMs: number;
  readonly #id: string;
  readonly #connections = new Set<Connection>();
  readonly #proxies = new Map<string, ProxyRecord>();
  readonly #queue = new Set<Connection>();
  readonly #onSnapshot = () => this.pushAll();
  readonly #pruneTimer: NodeJS.Timeout;
  readonly #context: ProtocolContext;
  readonly #waypointCredentials: boolean;
  #working = false;
  #nonce = 0;
  #connectionCounter = 0;
  #closed = false;

  constructor(options: AdsServerOptions) {
    this.#source = options.source;
    this.#generators = options.generators;
    this.#logger = options.logger;
    this.#idleTtlMs = options.idleTtlMs ?? DEFAULT_IDLE_SCOPE_TTL_MS;
    this.#id = options.id ?? 'istiod-lite';
    this.#waypointCredentials = options.waypointCredentials ?? false;
    this.#cache = new ResourceCache({
      idleTtlMs: this.#idleTtlMs,
      ...(options.retainBytesLimit !== undefined ? { retainBytesLimit: options.retainBytesLimit } : {}),
      onError: (scope, err) =>
        // A generator or encoding bug must not take the proxies' config away: they keep the last good one.
        this.#logger.error('xDS generation failed; the proxy keeps its previous config', {
          generator: scope.generator.name,
          scope: scope.key,
          node: scope.proxy.nodeName,
          generation: scope.generation,
          error: isMeshError(err) ? err.message : String(err),
        }),
    });
    this.#source.on('snapshot', this.#onSnapshot);
    this.#pruneTimer = setInterval(() => this.prune(), Math.max(1_000, Math.min(this.#idleTtlMs, 30_000)));
    this.#pruneTimer.unref();
    this.#context = {
      cache: this.#cache,
      logger: this.#logger,
      subscribe: (connection, typeUrl) => this.#subscribe(connection, typeUrl),
      schedule: (connection, subscription) => {
        subscription.dirty = true;
        this.#enqueue(connection);
      },
      nextNonce: () => String(++this.#nonce),
      rejectedVersion: (proxyId, typeUrl) => this.#proxies.get(proxyId)?.rejected.get(typeUrl),
      rememberRejected: (proxyId, typeUrl, version) => {
        const rejected = this.#proxies.get(proxyId)?.rejected;
        if (version === undefined) rejected?.delete(typeUrl);
        else rejected?.set(typeUrl, version);
      },
    };
  }

  /**
   * grpc-js handlers for `server.addService(aggregatedDiscoveryServiceDefinition(), ...)`: both ADS
   * methods. `authenticate` (the mTLS port) proves who the caller is before its first request is
   * read (requests wait in the stream meanwhile); a failure ends the stream with the status
   * `statusOf` gives (UNAUTHENTICATED when it does not say).
   */
  handlers(options: { secure: boolean; authenticate?: (stream: SotwStream | DeltaStream) => Promise<VerifiedPeer>; statusOf?: (err: unknown) => grpc.status }): grpc.UntypedServiceImplementation {
    const accept = (protocol: AdsProtocol, stream: SotwStream | DeltaStream) => {
      if (!options.authenticate) {
        this.#accept(protocol, stream, options.secure, {});
        return;
      }
      options.authenticate(stream).then(
        (peer) => {
          // The proxy may have gone while the API server was asked.
          if (stream.cancelled || stream.destroyed) return;
          this.#accept(protocol, stream, options.secure, peer);
        },
        (err: unknown) => {
          const code = options.statusOf?.(err) ?? grpc.status.UNAUTHENTICATED;
          const message = isMeshError(err) ? err.message : String(err);
          this.#logger.warn('xDS stream refused', { peer: stream.getPeer(), code: grpc.status[code], reason: 'not authenticated', error: message });
          endWithStatus(stream, code, message);
        },
      );
    };
    return {
      StreamAggregatedResources: (stream: SotwStream) => accept('sotw', stream),
      DeltaAggregatedResources: (stream: DeltaStream) => accept('delta', stream),
    };
  }

  /** Queues every stream for a push of whatever changed (called on every new snapshot). */
  pushAll(): void {
    if (this.#closed) return;
    for (const connection of this.#connections) {
      for (const subscription of connection.subscriptions.values()) subscription.dirty = true;
      this.#enqueue(connection);
    }
  }

  /** One row per connected proxy stream: /debug/syncz. */
  syncz(): SynczEntry[] {
    return synczOf(this.#connections, this.#id);
  }

  /** Envoy ConfigDump of what a connected proxy should run now, or undefined if it is not connected. */
  configDump(proxyId: string, includeEds = true): { configs: Array<Record<string, unknown>> } | undefined {
    const connection = [...this.#connections].find((c) => c.proxy?.id === proxyId && c.subscriptions.size > 0);
    if (!connection) return undefined;
    try {
      for (const subscription of connection.subscriptions.values()) this.#refresh(subscription);
      return configDumpOf(connection, includeEds);
    } finally {
      this.#cache.releaseMaterialized();
    }
  }

  /** Drops cache entries and remembered rejections of proxies gone longer than the idle TTL. */
  prune(): { scopes: number; proxies: number } {
    const cutoff = Date.now() - this.#idleTtlMs;
    let proxies = 0;
    for (const [id, record] of this.#proxies) {
      if (record.streams === 0 && record.idleSince !== undefined && record.idleSince <= cutoff) {
        this.#proxies.delete(id);
        proxies += 1;
      }
    }
    return { scopes: this.#cache.prune(), proxies };
  }

  /** What the server holds: streams, proxies it remembers, cached scopes. */
  stats(): { connections: number; proxies: number; scopes: number } {
    return { connections: this.#connections.size, proxies: this.#proxies.size, scopes: this.#cache.size };
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Ends every stream (proxies reconnect elsewhere) and stops listening to the source. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#pruneTimer);
    this.#source.off('snapshot', this.#onSnapshot);
    for (const connection of [...this.#connections]) {
      endWithStatus(connection.stream, grpc.status.UNAVAILABLE, 'istiod-lite is shutting down');
      this.#forget(connection);
    }
    this.#queue.clear();
  }

  #accept(protocol: AdsProtocol, stream: SotwStream | DeltaStream, secure: boolean, verified: VerifiedPeer): void {
    if (this.#closed) {
      endWithStatus(stream, grpc.status.UNAVAILABLE, 'istiod-lite is shutting down');
      return;
    }
    const connection: Connection = {
      id: ++this.#connectionCounter,
      protocol,
      stream,
      peer: stream.getPeer(),
      secure,
      verifiedNodeName: verified.nodeName,
      verifiedServiceAccount: verified.serviceAccount,
      verifiedWaypoint: verified.waypoint,
      connectedAt: new Date().toISOString(),
      proxy: undefined,
      subscriptions: new Map(),
      closed: false,
    };
    this.#connections.add(connection);
    const forget = () => this.#forget(connection);
    stream.on('data', (request: DiscoveryRequest | DeltaDiscoveryRequest) => {
      try {
        this.#onRequest(connection, request);
      } catch (err) {
        this.#logger.error('xDS request handling failed', { peer: connection.peer, error: String(err) });
      }
    });
    stream.on('error', forget); // CANCELLED when the proxy goes away
    stream.on('end', () => {
      forget();
      stream.end();
    });
    stream.on('close', forget);
  }

  #forget(connection: Connection): void {
    if (connection.closed) return;
    connection.closed = true;
    this.#connections.delete(connection);
    this.#queue.delete(connection);
    for (const subscription of connection.subscriptions.values()) this.#cache.release(subscription.scope);
    const proxy = connection.proxy;
    if (!proxy) return;
    const record = this.#proxies.get(proxy.id);
    if (record) {
      record.streams -= 1;
      if (record.streams === 0) record.idleSince = Date.now();
    }
    this.#logger.info('proxy disconnected', { proxy: proxy.id, node: proxy.nodeName, protocol: connection.protocol });
  }

  #onRequest(connection: Connection, request: DiscoveryRequest | DeltaDiscoveryRequest): void {
    if (connection.closed) return;
    if (!connection.proxy) {
      try {
        connection.proxy = this.#identify(connection, request);
      } catch (err) {
        const code = hasCode(err, 'ISTIOD_ERR_NODE_MISMATCH', 'ISTIOD_ERR_CALLER_NOT_ALLOWED') ? grpc.status.PERMISSION_DENIED : grpc.status.INVALID_ARGUMENT;
        const account = connection.verifiedServiceAccount;
        const waypoint = connection.verifiedWaypoint;
        this.#logger.warn('xDS stream refused', {
          peer: connection.peer,
          ...(account ? { serviceAccount: `${account.namespace}/${account.name}` } : {}),
          ...(waypoint ? { waypoint: `${waypoint.namespace}/${waypoint.gateway}` } : {}),
          code: grpc.status[code],
          reason: 'not allowed',
          error: String(isMeshError(err) ? err.message : err),
        });
        this.#forget(connection);
        endWithStatus(connection.stream, code, isMeshError(err) ? err.message : String(err));
        return;
      }
      const record = this.#proxies.get(connection.proxy.id) ?? { streams: 0, idleSince: undefined, rejected: new Map<string, string>() };
      record.streams += 1;
      record.idleSince = undefined;
      this.#proxies.set(connection.proxy.id, record);
      this.#logger.info('proxy connected', {
        proxy: connection.proxy.id,
        node: connection.proxy.nodeName,
        verified: connection.proxy.verified,
        peer: connection.peer,
        protocol: connection.protocol,
      });
    }
    if (connection.protocol === 'delta') onDeltaRequest(this.#context, connection, request as DeltaDiscoveryRequest);
    else onSotwRequest(this.#context, connection, request as DiscoveryRequest);
  }

  /** Who the first request says it is, checked against what the transport proved. Throws a MeshError. */
  #identify(connection: Connection, request: DiscoveryRequest | DeltaDiscoveryRequest): ProxyInfo {
    const waypoint = connection.verifiedWaypoint;
    if (waypoint) return waypointProxyFromNode(request.node, waypoint, this.#source.current());
    const account = connection.verifiedServiceAccount;
    const proxy = proxyFromNode(request.node, connection.verifiedNodeName, account ? 'token' : 'certificate');
    if (account) checkProxyAllowed(proxy, account);
    else if (this.#waypointCredentials && connection.verifiedNodeName !== undefined) checkNodeCredentialProxy(proxy);
    return proxy;
  }

  #subscribe(connection: Connection, typeUrl: string): Subscription | undefined {
    const proxy = connection.proxy;
    if (!proxy) return undefined;
    const generator = this.#generators.generatorFor(proxy, typeUrl);
    if (!generator) {
      this.#logger.warn('unsupported xDS type requested', { proxy: proxy.id, typeUrl, served: this.#generators.typeUrlsFor(proxy).map(shortTypeName) });
      return undefined;
    }
    const scope = this.#cache.scopeFor(generator, proxy);
    this.#cache.acquire(scope);
    const subscription = newSubscription(typeUrl, generator, scope);
    connection.subscriptions.set(typeUrl, subscription);
    return subscription;
  }

  /** Brings a subscription's scope to the current snapshot (generated once per scope and snapshot). */
  #refresh(subscription: Subscription): void {
    this.#cache.update(subscription.scope, this.#source.current(), this.#source.generation());
  }

  #enqueue(connection: Connection): void {
    if (this.#closed || connection.closed) return;
    this.#queue.add(connection);
    if (!this.#working) void this.#work();
  }

  async #work(): Promise<void> {
    this.#working = true;
    try {
      while (this.#queue.size > 0 && !this.#closed) {
        const connection = this.#queue.values().next().value as Connection;
        this.#queue.delete(connection);
        if (connection.closed) continue;
        try {
          for (const subscription of inPushOrder(connection)) {
            if (!subscription.dirty) continue;
            subscription.dirty = false;
            this.#refresh(subscription);
            if (connection.protocol === 'delta') pushDelta(this.#context, connection, subscription);
            else pushSotw(this.#context, connection, subscription);
          }
        } catch (err) {
          this.#logger.error('xDS push failed; the proxy keeps its previous config', { proxy: connection.proxy?.id, error: String(err) });
        } finally {
          this.#cache.releaseMaterialized();
        }
        await drained(connection);
      }
    } finally {
      this.#working = false;
    }
  }
}

function inPushOrder(connection: Connection): Subscription[] {
  const rank = (typeUrl: string) => {
    const index = PUSH_ORDER.indexOf(typeUrl);
    return index === -1 ? PUSH_ORDER.length : index;
  };
  return [...connection.subscriptions.values()].sort((a, b) => rank(a.typeUrl) - rank(b.typeUrl));
}

/** Yields a turn; when the stream has much unsent, waits for it to drain (or close, or DRAIN_WAIT_MS). */
async function drained(connection: Connection): Promise<void> {
  const stream = connection.stream as SotwStream & { writableNeedDrain?: boolean };
  if (!connection.closed && stream.writableNeedDrain) {
    const timeout = AbortSignal.timeout(DRAIN_WAIT_MS);
    await Promise.race([once(stream, 'drain', { signal: timeout }), once(stream, 'close', { signal: timeout })]).catch(() => undefined);
  }
  await new Promise((resolve) => setImmediate(resolve));
}

/** grpc-js turns an 'error' on a server stream into the call's status and ends it. */
function endWithStatus(stream: SotwStream | DeltaStream, code: grpc.status, details: string): void {
  stream.emit('error', { code, details });
}
