/**
 * An ADS client over @grpc/grpc-js, used by ztunnel, the waypoint and tests of istiod-lite. It
 * speaks either protocol of `envoy.service.discovery.v3.AggregatedDiscoveryService`:
 *
 * - `delta` (`DeltaAggregatedResources`): the server sends only what changed (resources by name,
 *   each with its own version) and the names removed. Each resource is decoded and checked on its
 *   own: one that fails is rejected (NACK naming it) while the rest of the response applies, and
 *   the last good version of the rejected one stays in force, as Istio's ztunnel does. A
 *   reconnect sends every resource's version in `initial_resource_versions`, so the server
 *   re-sends nothing unchanged.
 * - `sotw` (`StreamAggregatedResources`): every response is a type's complete set, ACKed or
 *   NACKed as a whole.
 *
 * Invariants:
 * - One bidirectional stream at a time; on a stream failure it reconnects with exponential
 *   backoff (capped at `maxBackoffMs`, default 5 s) and re-subscribes every type (wildcard), saying
 *   what it runs (state of the world: the last ACKed version; delta: every resource's version).
 * - What the client runs changes only through a response it accepts (wholly, or per resource on
 *   delta); anything rejected leaves the last good state in force and is NACKed with the reason
 *   in `error_detail` (bad input never takes working config away).
 * - Nothing thrown while handling a response crosses the stream.
 * - `close()` (graceful) and `destroy(err?)` (abrupt) are idempotent; `start()` after either
 *   fails with `XDS_ERR_CLOSED`.
 *
 * Events: 'resources' (XdsResourcesUpdate, after the ACK is sent), 'nack' (XdsNack),
 * 'connected', 'disconnected' (Error, and the delay in ms before the next attempt; none after
 * destroy(err)), 'error' is never emitted.
 */
import { channel } from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { MeshError } from '@mesh/errors';
import {
  ADS_DELTA_METHOD_PATH,
  ADS_STREAM_METHOD_PATH,
  GRPC_CODE_INVALID_ARGUMENT,
  deserializeDeltaDiscoveryResponse,
  deserializeDiscoveryResponse,
  serializeDeltaDiscoveryRequest,
  serializeDiscoveryRequest,
} from './ads.js';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse, XdsNode } from './ads.js';
import { decodeResourceResult } from './codec.js';
import type { EncodedAny, ResourceJson } from './codec.js';
import { TYPE_URL, shortTypeName } from './type-urls.js';

/**
 * diagnostics_channel names (libraries publish, apps log). Messages: resources `{target, nodeId,
 * typeUrl, version, count}`, nack `{target, nodeId, ...XdsNack}`, disconnect `{target, nodeId, error}`.
 */
export const XDS_CLIENT_CHANNELS = {
  resources: 'mesh:xds:client:resources',
  nack: 'mesh:xds:client:nack',
  disconnect: 'mesh:xds:client:disconnect',
} as const;
const channels = {
  resources: channel(XDS_CLIENT_CHANNELS.resources),
  nack: channel(XDS_CLIENT_CHANNELS.nack),
  disconnect: channel(XDS_CLIENT_CHANNELS.disconnect),
};

export const XDS_INITIAL_BACKOFF_MS = 100;
export const XDS_MAX_BACKOFF_MS = 5_000;

/**
 * gRPC channel options of every control-plane client (the xDS stream and the CA). grpc-js's own
 * reconnect backoff, under the stream's, grows to 120 s by default: after a half-minute outage a
 * channel could wait that long before its next connection attempt, with workload certificates
 * expiring meanwhile. Capped like the stream's (XDS_MAX_BACKOFF_MS).
 */
export const CONTROL_PLANE_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 1_000,
  'grpc.max_reconnect_backoff_ms': XDS_MAX_BACKOFF_MS,
};
/**
 * Largest response accepted (grpc-js defaults to 4 MiB). A state-of-the-world response, or one
 * resource, can be far larger: a node's outbound listener in a 10,000-pod mesh of the per-node Envoy shape
 * is ~90 MB. Istio's ztunnel allows 200 MiB.
 */
export const XDS_MAX_RECEIVE_MESSAGE_BYTES = 256 * 1024 * 1024;

/** Envoy's subscription order: clusters before endpoints before listeners. */
export const DEFAULT_XDS_TYPE_URLS: readonly string[] = [TYPE_URL.CLUSTER, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, TYPE_URL.LISTENER];

/** Which ADS method the client speaks. */
export type XdsProtocol = 'delta' | 'sotw';

export interface XdsResourcesUpdate {
  typeUrl: string;
  /** The response's version (delta: its `system_version_info`). */
  version: string;
  /** The complete set for this type as it now stands, in name order on delta, server order on state of the world. */
  resources: ResourceJson[];
  /** Delta only: the names this response added or changed, and removed. */
  changed?: string[];
  removed?: string[];
}

export interface XdsNack {
  typeUrl: string;
  version: string;
  nonce: string;
  message: string;
  /** Delta only: the resources rejected (their last good versions stay in force). */
  rejected?: string[];
}

/** Returns a reason to reject an update (NACK), or undefined to accept it. Must not throw. */
export type XdsValidator = (update: XdsResourcesUpdate) => string | undefined;

export interface XdsClientOptions {
  /** `host:port` of the ADS server. */
  target: string;
  node: XdsNode;
  /** Default `sotw` (what every ADS server speaks); ztunnel and the waypoint choose `delta` by flag. */
  protocol?: XdsProtocol;
  /** Defaults to insecure (the plaintext port 15010). */
  credentials?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
  typeUrls?: readonly string[];
  /**
   * Checks a type's complete candidate set. State of the world: a reason rejects the response.
   * Delta: the client finds which of the changed resources the reason is about (see
   * `#acceptValid`), rejects those and applies the rest.
   */
  validate?: XdsValidator;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

/** What the client runs for one type: the last accepted state. */
export interface XdsTypeState {
  version: string;
  /** ISO time of the last ACK. */
  lastUpdated: string;
  resources: ResourceJson[];
  /** Delta only: each resource's version, by name. */
  versions?: ReadonlyMap<string, string>;
}

interface DeltaEntry {
  version: string;
  resource: ResourceJson;
}

type SotwStream = grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
type DeltaStream = grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;
type AnyStream = SotwStream | DeltaStream;

export class XdsClient extends EventEmitter {
  readonly #options: XdsClientOptions;
  readonly #typeUrls: readonly string[];
  readonly #protocol: XdsProtocol;
  readonly #acked = new Map<string, XdsTypeState>();
  /** Delta: what runs, per type and name. */
  readonly #delta = new Map<string, Map<string, DeltaEntry>>();
  #grpcClient: grpc.Client | undefined;
  #stream: AnyStream | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #failedAttempts = 0;
  #closed = false;
  #started = false;

  constructor(options: XdsClientOptions) {
    super();
    this.#options = options;
    this.#typeUrls = options.typeUrls ?? DEFAULT_XDS_TYPE_URLS;
    this.#protocol = options.protocol ?? 'sotw';
  }

  /** Opens the stream and subscribes. Returns this for chaining. */
  start(): this {
    if (this.#closed) throw new MeshError('XDS_ERR_CLOSED', 'XdsClient.start() after close()');
    if (this.#started) return this;
    this.#started = true;
    this.#grpcClient = new grpc.Client(this.#options.target, this.#options.credentials ?? grpc.credentials.createInsecure(), {
      ...CONTROL_PLANE_CHANNEL_OPTIONS,
      'grpc.max_receive_message_length': XDS_MAX_RECEIVE_MESSAGE_BYTES,
      ...this.#options.channelOptions,
    });
    this.#openStream();
    return this;
  }

  get protocol(): XdsProtocol {
    return this.#protocol;
  }

  /** The last accepted state of a type, if any. */
  current(typeUrl: string): XdsTypeState | undefined {
    return this.#acked.get(typeUrl);
  }

  /** The last accepted state of every type that has one. */
  currentAll(): ReadonlyMap<string, XdsTypeState> {
    return this.#acked;
  }

  get connected(): boolean {
    return this.#stream !== undefined;
  }

  /** Graceful: half-closes the stream and the channel. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.end();
    stream?.cancel();
    this.#grpcClient?.close();
  }

  /** Abrupt: cancels the stream at once. Idempotent. */
  destroy(err?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.cancel();
    this.#grpcClient?.close();
    if (err) this.emit('disconnected', err);
  }

  #openStream(): void {
    const client = this.#grpcClient;
    if (!client || this.#closed) return;
    const stream: AnyStream =
      this.#protocol === 'delta'
        ? client.makeBidiStreamRequest(ADS_DELTA_METHOD_PATH, serializeDeltaDiscoveryRequest, deserializeDeltaDiscoveryResponse)
        : client.makeBidiStreamRequest(ADS_STREAM_METHOD_PATH, serializeDiscoveryRequest, deserializeDiscoveryResponse);
    this.#stream = stream;
    let sawResponse = false;
    const onGone = (err: Error) => {
      if (this.#stream !== stream) return; // already replaced or closed
      this.#stream = undefined;
      if (this.#closed) return;
      if (sawResponse) this.#failedAttempts = 0;
      if (channels.disconnect.hasSubscribers) channels.disconnect.publish({ target: this.#options.target, nodeId: this.#options.node.id, error: err });
      const retryInMs = this.#scheduleReconnect();
      this.emit('disconnected', err, retryInMs);
    };
    stream.on('data', (response: DiscoveryResponse | DeltaDiscoveryResponse) => {
      if (!sawResponse) {
        sawResponse = true;
        this.emit('connected');
      }
      if (this.#protocol === 'delta') this.#onDeltaResponse(stream as DeltaStream, response as DeltaDiscoveryResponse);
      else this.#onSotwResponse(stream as SotwStream, response as DiscoveryResponse);
    });
    stream.on('error', (err: Error) => onGone(err));
    stream.on('end', () => onGone(new MeshError('XDS_ERR_STREAM_ENDED', 'the xDS server ended the stream')));
    for (const typeUrl of this.#typeUrls) {
      if (this.#protocol === 'delta') {
        const known = this.#delta.get(typeUrl) ?? new Map<string, DeltaEntry>();
        (stream as DeltaStream).write({
          node: this.#options.node,
          type_url: typeUrl,
          // Empty on the first request of a type: a wildcard subscription (everything for this proxy).
          resource_names_subscribe: [],
          resource_names_unsubscribe: [],
          initial_resource_versions: Object.fromEntries([...known].map(([name, entry]) => [name, entry.version])),
          response_nonce: '',
        });
      } else {
        (stream as SotwStream).write({
          version_info: this.#acked.get(typeUrl)?.version ?? '',
          node: this.#options.node,
          resource_names: [],
          type_url: typeUrl,
          response_nonce: '',
        });
      }
    }
  }

  /** Schedules the next attempt; returns its delay in ms. */
  #scheduleReconnect(): number {
    const initial = this.#options.initialBackoffMs ?? XDS_INITIAL_BACKOFF_MS;
    const max = this.#options.maxBackoffMs ?? XDS_MAX_BACKOFF_MS;
    const backoff = Math.min(max, initial * 2 ** this.#failedAttempts);
    this.#failedAttempts += 1;
    // Jitter (±20 %) so many proxies restarting with one istiod do not reconnect in lockstep.
    const delay = Math.round(backoff * (0.8 + Math.random() * 0.4));
    const retryInMs = Math.min(delay, max);
    this.#reconnectTimer = setTimeout(() => this.#openStream(), retryInMs);
    this.#reconnectTimer.unref?.();
    return retryInMs;
  }

  // -------------------------------------------------------------------------------------------
  // State of the world

  #onSotwResponse(stream: SotwStream, response: DiscoveryResponse): void {
    const { type_url: typeUrl, version_info: version, nonce } = response;
    const outcome = this.#decodeAndValidate(response);
    if ('reason' in outcome) {
      stream.write({
        version_info: this.#acked.get(typeUrl)?.version ?? '',
        node: this.#options.node,
        resource_names: [],
        type_url: typeUrl,
        response_nonce: nonce,
        error_detail: { code: GRPC_CODE_INVALID_ARGUMENT, message: outcome.reason },
      });
      this.#emitNack({ typeUrl, version, nonce, message: outcome.reason });
      return;
    }
    this.#acked.set(typeUrl, { version, lastUpdated: new Date().toISOString(), resources: outcome.resources });
    stream.write({ version_info: version, node: this.#options.node, resource_names: [], type_url: typeUrl, response_nonce: nonce });
    this.#emitResources({ typeUrl, version, resources: outcome.resources });
  }

  #decodeAndValidate(response: DiscoveryResponse): { resources: ResourceJson[] } | { reason: string } {
    const resources: ResourceJson[] = [];
    const errors: string[] = [];
    for (const [index, any] of response.resources.entries()) {
      const decoded = decodeAny(any, response.type_url);
      if ('error' in decoded) errors.push(`resource ${index}: ${decoded.error}`);
      else resources.push(decoded.value);
    }
    if (errors.length > 0) return { reason: `${shortTypeName(response.type_url)} ${response.version_info}: ${errors.join('; ')}` };
    const reason = this.#validateSet({ typeUrl: response.type_url, version: response.version_info, resources });
    return reason ? { reason } : { resources };
  }

  // -------------------------------------------------------------------------------------------
  // Delta

  #onDeltaResponse(stream: DeltaStream, response: DeltaDiscoveryResponse): void {
    const { type_url: typeUrl, system_version_info: version, nonce } = response;
    const running = this.#delta.get(typeUrl) ?? new Map<string, DeltaEntry>();
    const rejects: Array<{ name: string; reason: string }> = [];
    const upserts: Array<[string, DeltaEntry]> = [];
    for (const item of response.resources) {
      const decoded = item.resource ? decodeAny(item.resource, typeUrl) : { error: 'the response carries no resource for this name' };
      if ('error' in decoded) rejects.push({ name: item.name, reason: decoded.error });
      else upserts.push([item.name, { version: item.version, resource: decoded.value }]);
    }
    const removed = response.removed_resources.filter((name) => running.has(name));
    // Something to apply: a change, or the first (clean) answer for this type, even an empty one,
    // which tells the proxy that the type is in sync.
    const changes = upserts.length > 0 || removed.length > 0 || (!this.#acked.has(typeUrl) && rejects.length === 0);
    let applied: { entries: Map<string, DeltaEntry>; update: XdsResourcesUpdate } | undefined;
    let wholeReason: string | undefined;
    if (changes) {
      const base = new Map(running);
      for (const name of removed) base.delete(name);
      const outcome = this.#acceptValid(typeUrl, version, base, upserts, removed);
      if ('reason' in outcome) wholeReason = outcome.reason;
      else {
        rejects.push(...outcome.rejects);
        // Everything rejected and nothing removed: what runs did not change (nor does its version).
        const nothingNew = outcome.update.changed?.length === 0 && removed.length === 0 && this.#acked.has(typeUrl);
        if (!nothingNew) applied = outcome;
      }
    }
    const messages = rejects.map((reject) => `${reject.name}: ${reject.reason}`);
    if (wholeReason) messages.push(wholeReason);
    const nack = messages.length > 0 ? { code: GRPC_CODE_INVALID_ARGUMENT, message: messages.join('; ') } : undefined;
    if (applied) {
      this.#delta.set(typeUrl, applied.entries);
      this.#acked.set(typeUrl, {
        version,
        lastUpdated: new Date().toISOString(),
        resources: applied.update.resources,
        versions: new Map([...applied.entries].map(([name, entry]) => [name, entry.version])),
      });
    }
    stream.write({
      type_url: typeUrl,
      resource_names_subscribe: [],
      resource_names_unsubscribe: [],
      initial_resource_versions: {},
      response_nonce: nonce,
      ...(nack ? { error_detail: nack } : {}),
    });
    if (nack) {
      const rejected = wholeReason ? response.resources.map((r) => r.name) : rejects.map((r) => r.name);
      this.#emitNack({ typeUrl, version, nonce, message: nack.message, rejected });
    }
    if (applied) this.#emitResources(applied.update);
  }

  /**
   * The largest set of `upserts` the validator accepts on top of `base`, found by halving: all of
   * them when they pass together (one check, the common case), else each half on its own, down to
   * single resources, which are rejected with the validator's reason (a few checks per bad
   * resource). The set applied is always the one last validated, so a validator that keeps what
   * it compiled (ztunnel's model store) keeps exactly what is applied. A `reason` means not even
   * `base` (the removals) passes: the whole response is rejected.
   */
  #acceptValid(
    typeUrl: string,
    version: string,
    base: Map<string, DeltaEntry>,
    upserts: Array<[string, DeltaEntry]>,
    removed: string[],
  ): { entries: Map<string, DeltaEntry>; update: XdsResourcesUpdate; rejects: Array<{ name: string; reason: string }> } | { reason: string } {
    const accepted = new Map(base);
    const acceptedNames: string[] = [];
    const rejects: Array<{ name: string; reason: string }> = [];
    let lastValid: XdsResourcesUpdate | undefined;
    const check = (batch: Array<[string, DeltaEntry]>): boolean => {
      const candidate = new Map(accepted);
      for (const [name, entry] of batch) candidate.set(name, entry);
      const update = { typeUrl, version, resources: resourcesInNameOrder(candidate), changed: [...acceptedNames, ...batch.map(([name]) => name)], removed };
      const reason = this.#validateSet(update);
      if (reason !== undefined) {
        if (batch.length === 1) rejects.push({ name: batch[0]![0], reason });
        return false;
      }
      for (const [name, entry] of batch) accepted.set(name, entry);
      acceptedNames.push(...batch.map(([name]) => name));
      lastValid = update;
      return true;
    };
    const bisect = (batch: Array<[string, DeltaEntry]>): void => {
      if (check(batch) || batch.length === 1) return;
      const half = Math.ceil(batch.length / 2);
      bisect(batch.slice(0, half));
      bisect(batch.slice(half));
    };
    if (upserts.length === 0 || !check(upserts)) {
      if (upserts.length > 1) {
        const half = Math.ceil(upserts.length / 2);
        bisect(upserts.slice(0, half));
        bisect(upserts.slice(half));
      }
      if (!lastValid) {
        // Nothing passed: what is applied (the removals alone) must still be validated last.
        const update = { typeUrl, version, resources: resourcesInNameOrder(accepted), changed: acceptedNames, removed };
        const reason = this.#validateSet(update);
        if (reason !== undefined) return { reason: rejects.length > 0 ? `even without the resources rejected: ${reason}` : reason };
        lastValid = update;
      }
    }
    return { entries: accepted, update: lastValid as XdsResourcesUpdate, rejects };
  }

  // -------------------------------------------------------------------------------------------

  #validateSet(update: XdsResourcesUpdate): string | undefined {
    const validate = this.#options.validate;
    if (!validate) return undefined;
    try {
      return validate(update);
    } catch (err) {
      return `validator failed: ${String(err)}`;
    }
  }

  #emitNack(nack: XdsNack): void {
    if (channels.nack.hasSubscribers) channels.nack.publish({ target: this.#options.target, nodeId: this.#options.node.id, ...nack });
    this.emit('nack', nack);
  }

  #emitResources(update: XdsResourcesUpdate): void {
    if (channels.resources.hasSubscribers) {
      channels.resources.publish({ target: this.#options.target, nodeId: this.#options.node.id, typeUrl: update.typeUrl, version: update.version, count: update.resources.length });
    }
    this.emit('resources', update);
  }
}

/** Decodes one Any of a response of `typeUrl`; the error text names what is wrong. */
function decodeAny(any: EncodedAny, typeUrl: string): { value: ResourceJson } | { error: string } {
  if (any.type_url !== typeUrl) return { error: `has type ${any.type_url}, expected ${typeUrl}` };
  const decoded = decodeResourceResult(any);
  return decoded.error ? { error: decoded.error.message } : { value: decoded.value };
}

function resourcesInNameOrder(entries: ReadonlyMap<string, DeltaEntry>): ResourceJson[] {
  return [...entries.keys()].sort().map((name) => (entries.get(name) as DeltaEntry).resource);
}
