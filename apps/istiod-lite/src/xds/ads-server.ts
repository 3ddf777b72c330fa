/**
 * The ADS server: state of the world per type URL over
 * `envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources`.
 *
 * Invariants:
 * - Resources for a proxy are generated and encoded once per (snapshot generation, proxy type,
 *   node, pod) and shared by every stream of that proxy; a type's version changes only when its
 *   encoded bytes change (sha256 over the Anys), so a snapshot that does not change what a proxy
 *   runs pushes nothing to it.
 * - A response is pushed for a type only when its version differs from what this stream was last
 *   sent, and never when it equals the version this proxy NACKed last (remembered per proxy id,
 *   across reconnects), so a rejected config is not resent in a loop. Exception: a new stream
 *   whose proxy reports running nothing for that type gets the current state once.
 * - ACK/NACK follow the xDS protocol: a request whose response_nonce is not the last one sent for
 *   its type is stale and ignored; error_detail marks a NACK, which is logged with its detail and
 *   leaves the ACKed version unchanged.
 * - A new stream (first request of a type with an empty nonce) always gets the current state.
 * - Nothing a proxy sends can throw out of a handler: bad nodes end that stream with a status.
 */
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { hasCode, isMeshError } from '@mesh/errors';
import type { MeshSnapshot } from '@mesh/mesh-model';
import { TYPE_URL, buildConfigDump, encodeResource, shortTypeName } from '@mesh/xds';
import type { ConfigDumpTypeState, DiscoveryRequest, DiscoveryResponse, EncodedAny, ResourceJson } from '@mesh/xds';
import type { ConfigSource } from '../config-source/config-source.js';
import type { Logger } from '../log.js';
import { ADMIN_ADDRESS_METADATA_KEY, proxyFromNode } from './proxy-node.js';
import type { ProxyInfo } from './proxy-node.js';
import type { GeneratedResources, ProxyResourceGenerator } from './proxy-resources.js';

/** Push order, as Envoy wants it: clusters before their endpoints, listeners after both. */
export const PUSH_ORDER: readonly string[] = [TYPE_URL.CLUSTER, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, TYPE_URL.LISTENER, TYPE_URL.ROUTE_CONFIGURATION];

/** Resources whose JSON is longer than this bypass the encode cache (see #encodeCached). */
export const MAX_CACHED_RESOURCE_JSON_CHARS = 64 * 1024;

export type AdsStream = grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>;

interface PreparedType {
  version: string;
  hash: string;
  anys: EncodedAny[];
  resources: ResourceJson[];
  preparedAt: string;
}

interface PreparedProxy {
  generation: number;
  types: Map<string, PreparedType>;
}

export interface NackRecord {
  version: string;
  nonce: string;
  message: string;
  at: string;
}

interface TypeSyncState {
  subscribed: boolean;
  sentVersion?: string;
  sentNonce?: string;
  sentAt?: string;
  ackedVersion?: string;
  ackedAt?: string;
  lastNack?: NackRecord;
}

interface ProxyConnection {
  connectionId: number;
  stream: AdsStream;
  peer: string;
  secure: boolean;
  verifiedNodeName: string | undefined;
  connectedAt: string;
  proxy: ProxyInfo | undefined;
  types: Map<string, TypeSyncState>;
}

/** One row of /debug/syncz. */
export interface SynczEntry {
  proxyId: string;
  nodeName: string;
  proxyType: string;
  ip: string | undefined;
  verified: boolean;
  secure: boolean;
  peer: string;
  connectedAt: string;
  /** The proxy's admin API (node metadata ADMIN_ADDRESS), for meshctl. */
  adminAddress?: string;
  /** node.metadata as the proxy sent it. */
  metadata: Record<string, unknown>;
  types: Record<string, { typeUrl: string; sentVersion?: string; sentNonce?: string; sentAt?: string; ackedVersion?: string; ackedAt?: string; lastNack?: NackRecord }>;
}

export interface AdsServerOptions {
  source: ConfigSource;
  generate: ProxyResourceGenerator;
  logger: Logger;
}

export class AdsServer {
  readonly #source: ConfigSource;
  readonly #generate: ProxyResourceGenerator;
  readonly #logger: Logger;
  readonly #connections = new Set<ProxyConnection>();
  /** Per cache key (type|node|namespace|pod): the resources of the current generation. */
  readonly #prepared = new Map<string, PreparedProxy>();
  /** Per cache key and type: last hash → version, so unchanged content keeps its version. */
  readonly #versions = new Map<string, Map<string, { hash: string; version: string }>>();
  /** Per proxy id and type: the version it NACKed last (cleared when it ACKs something). */
  readonly #rejected = new Map<string, Map<string, string>>();
  /**
   * Encoded resources by a digest of their JSON text, for the current and the previous generation:
   * unchanged resources (and resources shared by many nodes) are encoded once. Stringify + digest
   * is several times cheaper than encoding. Bounded: entries unused for a generation are dropped.
   */
  #encodeCache = { generation: 0, current: new Map<string, EncodedAny>(), previous: new Map<string, EncodedAny>() };
  readonly #onSnapshot = () => this.pushAll();
  #pushRequested = false;
  #pushing = false;
  #nonce = 0;
  #versionCounter = 0;
  #connectionCounter = 0;
  #closed = false;

  constructor(options: AdsServerOptions) {
    this.#source = options.source;
    this.#generate = options.generate;
    this.#logger = options.logger;
    this.#source.on('snapshot', this.#onSnapshot);
  }

  /** grpc-js handlers for `server.addService(aggregatedDiscoveryServiceDefinition(), ...)`. */
  handlers(options: { secure: boolean; nodeNameOf?: (stream: AdsStream) => string }): grpc.UntypedServiceImplementation {
    return {
      StreamAggregatedResources: (stream: AdsStream) => {
        let verifiedNodeName: string | undefined;
        if (options.nodeNameOf) {
          try {
            verifiedNodeName = options.nodeNameOf(stream);
          } catch (err) {
            this.#logger.warn('xDS stream refused: client certificate does not name a node', { peer: stream.getPeer(), error: String(err) });
            endWithStatus(stream, grpc.status.UNAUTHENTICATED, String(isMeshError(err) ? err.message : err));
            return;
          }
        }
        this.#accept(stream, options.secure, verifiedNodeName);
      },
    };
  }

  /**
   * Recomputes every connected proxy's resources and pushes the types that changed. Proxies are
   * handled one per event-loop turn, so each push is flushed as soon as it is ready and the CA and
   * debug endpoints stay responsive during a large push; a request during a cycle queues one more.
   */
  pushAll(): void {
    if (this.#closed) return;
    this.#pushRequested = true;
    if (!this.#pushing) void this.#runPushCycles();
  }

  async #runPushCycles(): Promise<void> {
    this.#pushing = true;
    try {
      while (this.#pushRequested && !this.#closed) {
        this.#pushRequested = false;
        for (const connection of [...this.#connections]) {
          if (!this.#connections.has(connection) || !connection.proxy) continue;
          for (const typeUrl of PUSH_ORDER) {
            if (connection.types.get(typeUrl)?.subscribed) this.#push(connection, typeUrl, false);
          }
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    } finally {
      this.#pushing = false;
    }
  }

  syncz(): SynczEntry[] {
    return [...this.#connections]
      .filter((c): c is ProxyConnection & { proxy: ProxyInfo } => c.proxy !== undefined)
      .map((c) => ({
        proxyId: c.proxy.id,
        nodeName: c.proxy.nodeName,
        proxyType: c.proxy.type,
        ip: c.proxy.ip,
        verified: c.proxy.verified,
        secure: c.secure,
        peer: c.peer,
        connectedAt: c.connectedAt,
        ...(typeof c.proxy.metadata[ADMIN_ADDRESS_METADATA_KEY] === 'string' ? { adminAddress: c.proxy.metadata[ADMIN_ADDRESS_METADATA_KEY] as string } : {}),
        metadata: c.proxy.metadata,
        types: Object.fromEntries(
          PUSH_ORDER.filter((typeUrl) => c.types.has(typeUrl)).map((typeUrl) => {
            const { subscribed: _subscribed, ...state } = c.types.get(typeUrl)!;
            return [shortTypeName(typeUrl), { typeUrl, ...state }];
          }),
        ),
      }))
      .sort((a, b) => a.proxyId.localeCompare(b.proxyId));
  }

  /** Envoy ConfigDump of what a connected proxy should run now, or undefined if it is not connected. */
  configDump(proxyId: string, includeEds = true): { configs: ResourceJson[] } | undefined {
    const connection = [...this.#connections].find((c) => c.proxy?.id === proxyId);
    if (!connection?.proxy) return undefined;
    const prepared = this.#prepare(connection.proxy);
    const state = (typeUrl: string): ConfigDumpTypeState | undefined => {
      const type = prepared?.types.get(typeUrl);
      return type ? { version: type.version, lastUpdated: type.preparedAt, resources: type.resources } : undefined;
    };
    const routes = state(TYPE_URL.ROUTE_CONFIGURATION);
    return buildConfigDump({
      includeEds,
      ...optional('clusters', state(TYPE_URL.CLUSTER)),
      ...optional('listeners', state(TYPE_URL.LISTENER)),
      ...optional('endpoints', state(TYPE_URL.CLUSTER_LOAD_ASSIGNMENT)),
      ...(routes && routes.resources.length > 0 ? { routes } : {}),
    });
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Ends every stream (proxies reconnect elsewhere) and stops listening to the source. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#source.off('snapshot', this.#onSnapshot);
    for (const connection of this.#connections) endWithStatus(connection.stream, grpc.status.UNAVAILABLE, 'istiod-lite is shutting down');
    this.#connections.clear();
  }

  #accept(stream: AdsStream, secure: boolean, verifiedNodeName: string | undefined): void {
    if (this.#closed) {
      endWithStatus(stream, grpc.status.UNAVAILABLE, 'istiod-lite is shutting down');
      return;
    }
    const connection: ProxyConnection = {
      connectionId: ++this.#connectionCounter,
      stream,
      peer: stream.getPeer(),
      secure,
      verifiedNodeName,
      connectedAt: new Date().toISOString(),
      proxy: undefined,
      types: new Map(),
    };
    this.#connections.add(connection);
    const forget = () => {
      if (!this.#connections.delete(connection)) return;
      if (connection.proxy) this.#logger.info('proxy disconnected', { proxy: connection.proxy.id, node: connection.proxy.nodeName });
    };
    stream.on('data', (request: DiscoveryRequest) => this.#onRequest(connection, request));
    stream.on('error', forget); // CANCELLED when the proxy goes away
    stream.on('end', () => {
      forget();
      stream.end();
    });
    stream.on('close', forget);
  }

  #onRequest(connection: ProxyConnection, request: DiscoveryRequest): void {
    if (!connection.proxy) {
      try {
        connection.proxy = proxyFromNode(request.node, connection.verifiedNodeName);
      } catch (err) {
        const code = hasCode(err, 'ISTIOD_ERR_NODE_MISMATCH') ? grpc.status.PERMISSION_DENIED : grpc.status.INVALID_ARGUMENT;
        this.#logger.warn('xDS stream refused', { peer: connection.peer, error: String(isMeshError(err) ? err.message : err) });
        this.#connections.delete(connection);
        endWithStatus(connection.stream, code, isMeshError(err) ? err.message : String(err));
        return;
      }
      this.#logger.info('proxy connected', {
        proxy: connection.proxy.id,
        node: connection.proxy.nodeName,
        verified: connection.proxy.verified,
        peer: connection.peer,
      });
    }
    const proxy = connection.proxy;
    const typeUrl = request.type_url;
    if (!PUSH_ORDER.includes(typeUrl)) {
      this.#logger.warn('unsupported xDS type requested', { proxy: proxy.id, typeUrl });
      return;
    }
    let state = connection.types.get(typeUrl);
    if (!state) {
      state = { subscribed: false };
      connection.types.set(typeUrl, state);
    }
    if (request.response_nonce === '') {
      // A (re)subscription: the proxy reports in version_info what it already runs.
      state.subscribed = true;
      if (request.version_info) state.ackedVersion = request.version_info;
      this.#push(connection, typeUrl, true);
      return;
    }
    if (request.response_nonce !== state.sentNonce) return; // stale: answers a response we superseded
    const now = new Date().toISOString();
    if (request.error_detail) {
      const nack: NackRecord = { version: state.sentVersion ?? '', nonce: request.response_nonce, message: request.error_detail.message, at: now };
      state.lastNack = nack;
      this.#rejectedOf(proxy.id).set(typeUrl, nack.version);
      this.#logger.warn('proxy rejected config (NACK)', {
        proxy: proxy.id,
        node: proxy.nodeName,
        type: shortTypeName(typeUrl),
        rejectedVersion: nack.version,
        runningVersion: request.version_info,
        error_detail: request.error_detail,
      });
      return;
    }
    state.ackedVersion = request.version_info;
    state.ackedAt = now;
    if (this.#rejected.get(proxy.id)?.get(typeUrl) !== request.version_info) this.#rejected.get(proxy.id)?.delete(typeUrl);
  }

  #push(connection: ProxyConnection, typeUrl: string, initial: boolean): void {
    const proxy = connection.proxy;
    if (!proxy) return;
    const state = connection.types.get(typeUrl);
    const prepared = this.#prepare(proxy)?.types.get(typeUrl);
    if (!state || !prepared) return;
    if (!initial && prepared.version === state.sentVersion) return;
    // A proxy that reports running nothing (a restarted process) gets the current state even if
    // it rejected it before: once per stream is not a loop, and it has no last good config.
    const proxyRunsNothing = initial && !state.ackedVersion;
    if (this.#rejected.get(proxy.id)?.get(typeUrl) === prepared.version && !proxyRunsNothing) {
      this.#logger.info('not re-sending a version the proxy rejected', { proxy: proxy.id, type: shortTypeName(typeUrl), version: prepared.version });
      return;
    }
    const nonce = String(++this.#nonce);
    state.sentVersion = prepared.version;
    state.sentNonce = nonce;
    state.sentAt = new Date().toISOString();
    connection.stream.write({ version_info: prepared.version, resources: prepared.anys, type_url: typeUrl, nonce });
  }

  /** The current resources for a proxy, generated once per generation and cache key. */
  #prepare(proxy: ProxyInfo): PreparedProxy | undefined {
    // Everything a generator may read from the proxy: a waypoint's config depends on its pod.
    const key = [proxy.type, proxy.nodeName, proxy.namespace ?? '', proxy.podName ?? ''].join('|');
    const generation = this.#source.generation();
    const cached = this.#prepared.get(key);
    if (cached?.generation === generation) return cached;
    let generated: GeneratedResources;
    let encoded: Map<string, { anys: EncodedAny[]; resources: ResourceJson[] }>;
    try {
      generated = this.#generate(this.#source.current() as MeshSnapshot, proxy);
      const encodeAll = (resources: readonly ResourceJson[], cached: boolean) => ({
        anys: resources.map((resource) => (cached ? this.#encodeCached(resource, generation) : encodeResource(resource))),
        resources: [...resources],
      });
      // Listeners are not cached: they are per node (local pod IPs) and the big outbound listener
      // changes with every service edit, so a cache key (its JSON, megabytes in a large mesh)
      // would cost more than it saves. Clusters, endpoints and routes mostly repeat.
      encoded = new Map([
        [TYPE_URL.CLUSTER, encodeAll(generated.clusters, true)],
        [TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, encodeAll(generated.endpoints, true)],
        [TYPE_URL.LISTENER, encodeAll(generated.listeners, false)],
        [TYPE_URL.ROUTE_CONFIGURATION, encodeAll(generated.routes ?? [], true)],
      ]);
    } catch (err) {
      // A generator or encoding bug must not take the proxy's config away: keep the last good one.
      this.#logger.error('xDS generation failed; the proxy keeps its previous config', {
        node: proxy.nodeName,
        generation,
        error: String(isMeshError(err) ? err.message : err),
      });
      if (cached) this.#prepared.set(key, { ...cached, generation });
      return cached;
    }
    const versions = this.#versions.get(key) ?? new Map<string, { hash: string; version: string }>();
    this.#versions.set(key, versions);
    const types = new Map<string, PreparedType>();
    const preparedAt = new Date().toISOString();
    for (const [typeUrl, { anys, resources }] of encoded) {
      const hash = hashAnys(anys);
      const previous = versions.get(typeUrl);
      const previousPrepared = cached?.types.get(typeUrl);
      if (previous?.hash === hash && previousPrepared) {
        types.set(typeUrl, previousPrepared);
        continue;
      }
      const version = previous?.hash === hash ? previous.version : `${preparedAt.replace(/\.\d+Z$/, 'Z')}/${++this.#versionCounter}`;
      versions.set(typeUrl, { hash, version });
      types.set(typeUrl, { version, hash, anys, resources, preparedAt });
    }
    const prepared = { generation, types };
    this.#prepared.set(key, prepared);
    return prepared;
  }

  #encodeCached(resource: ResourceJson, generation: number): EncodedAny {
    const cache = this.#encodeCache;
    if (cache.generation !== generation) {
      cache.previous = cache.generation === generation - 1 ? cache.current : new Map();
      cache.current = new Map();
      cache.generation = generation;
    }
    const json = JSON.stringify(resource);
    // Huge resources are unique per node and change often: caching them costs more than it saves.
    if (json.length > MAX_CACHED_RESOURCE_JSON_CHARS) return encodeResource(resource);
    // Keyed by a digest, not the JSON itself: retaining megabytes of key strings per node for two
    // generations made garbage collection the largest cost of a push.
    const key = createHash('sha256').update(json).digest('base64');
    let any = cache.current.get(key) ?? cache.previous.get(key);
    if (!any) any = encodeResource(resource);
    cache.current.set(key, any);
    return any;
  }

  #rejectedOf(proxyId: string): Map<string, string> {
    let rejected = this.#rejected.get(proxyId);
    if (!rejected) {
      rejected = new Map();
      this.#rejected.set(proxyId, rejected);
    }
    return rejected;
  }
}

function hashAnys(anys: readonly EncodedAny[]): string {
  const hash = createHash('sha256');
  for (const any of anys) {
    hash.update(any.type_url);
    hash.update(String(any.value.byteLength));
    hash.update(any.value);
  }
  return hash.digest('hex');
}

/** grpc-js turns an 'error' on a server stream into the call's status and ends it. */
function endWithStatus(stream: AdsStream, code: grpc.status, details: string): void {
  stream.emit('error', { code, details });
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}
