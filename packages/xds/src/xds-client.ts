/**
 * A state-of-the-world ADS client over @grpc/grpc-js, used by ztunnel (and tests of istiod-lite).
 *
 * Invariants:
 * - One bidirectional stream at a time; on a stream failure it reconnects with exponential
 *   backoff (capped at `maxBackoffMs`, default 5 s) and re-subscribes every type, sending the last
 *   ACKed version so the server knows what the proxy runs.
 * - A response is ACKed (version_info = response version, response_nonce = its nonce) only when
 *   every resource decodes and the caller's validator accepts the whole set; otherwise it is
 *   NACKed with error_detail and the last ACKed resources stay in force (conventions §8).
 * - Nothing thrown while handling a response crosses the stream.
 * - `close()` (graceful) and `destroy(err?)` (abrupt) are idempotent; `start()` after either
 *   fails with `XDS_ERR_CLOSED`.
 *
 * Events: 'resources' (XdsResourcesUpdate, after the ACK is sent), 'nack' (XdsNack),
 * 'connected', 'disconnected' (Error), 'error' is never emitted.
 */
import { channel } from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { MeshError } from '@mesh/errors';
import {
  ADS_STREAM_METHOD_PATH,
  GRPC_CODE_INVALID_ARGUMENT,
  deserializeDiscoveryResponse,
  resourceNameOf,
  serializeDiscoveryRequest,
} from './ads.js';
import type { DiscoveryRequest, DiscoveryResponse, XdsNode } from './ads.js';
import { decodeResourceResult } from './codec.js';
import type { ResourceJson } from './codec.js';
import { TYPE_URL, shortTypeName } from './type-urls.js';

/**
 * diagnostics_channel names (libraries publish, apps log: conventions §10). Messages:
 * resources `{target, nodeId, typeUrl, version, count}`, nack `{target, nodeId, ...XdsNack}`,
 * disconnect `{target, nodeId, error}`.
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

/** Envoy's subscription order: clusters before endpoints before listeners. */
export const DEFAULT_XDS_TYPE_URLS: readonly string[] = [TYPE_URL.CLUSTER, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, TYPE_URL.LISTENER];

export interface XdsResourcesUpdate {
  typeUrl: string;
  version: string;
  /** The complete set for this type (state of the world), in the order the server sent them. */
  resources: ResourceJson[];
}

export interface XdsNack {
  typeUrl: string;
  version: string;
  nonce: string;
  message: string;
}

/** Returns a reason to reject an update (NACK), or undefined to accept it. Must not throw. */
export type XdsValidator = (update: XdsResourcesUpdate) => string | undefined;

export interface XdsClientOptions {
  /** `host:port` of the ADS server. */
  target: string;
  node: XdsNode;
  /** Defaults to insecure (the plaintext port 15010). */
  credentials?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
  typeUrls?: readonly string[];
  validate?: XdsValidator;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

/** What the client runs for one type: the last ACKed state. */
export interface XdsTypeState {
  version: string;
  /** ISO time of the last ACK. */
  lastUpdated: string;
  resources: ResourceJson[];
}

type Stream = grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;

export class XdsClient extends EventEmitter {
  readonly #options: XdsClientOptions;
  readonly #typeUrls: readonly string[];
  readonly #acked = new Map<string, XdsTypeState>();
  #grpcClient: grpc.Client | undefined;
  #stream: Stream | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #failedAttempts = 0;
  #closed = false;
  #started = false;

  constructor(options: XdsClientOptions) {
    super();
    this.#options = options;
    this.#typeUrls = options.typeUrls ?? DEFAULT_XDS_TYPE_URLS;
  }

  /** Opens the stream and subscribes. Returns this for chaining. */
  start(): this {
    if (this.#closed) throw new MeshError('XDS_ERR_CLOSED', 'XdsClient.start() after close()');
    if (this.#started) return this;
    this.#started = true;
    this.#grpcClient = new grpc.Client(
      this.#options.target,
      this.#options.credentials ?? grpc.credentials.createInsecure(),
      this.#options.channelOptions,
    );
    this.#openStream();
    return this;
  }

  /** The last ACKed state of a type, if any. */
  current(typeUrl: string): XdsTypeState | undefined {
    return this.#acked.get(typeUrl);
  }

  /** The last ACKed state of every type that has one. */
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
    const stream = client.makeBidiStreamRequest(ADS_STREAM_METHOD_PATH, serializeDiscoveryRequest, deserializeDiscoveryResponse);
    this.#stream = stream;
    let sawResponse = false;
    const onGone = (err: Error) => {
      if (this.#stream !== stream) return; // already replaced or closed
      this.#stream = undefined;
      if (this.#closed) return;
      if (sawResponse) this.#failedAttempts = 0;
      if (channels.disconnect.hasSubscribers) channels.disconnect.publish({ target: this.#options.target, nodeId: this.#options.node.id, error: err });
      this.emit('disconnected', err);
      this.#scheduleReconnect();
    };
    stream.on('data', (response: DiscoveryResponse) => {
      if (!sawResponse) {
        sawResponse = true;
        this.emit('connected');
      }
      this.#onResponse(stream, response);
    });
    stream.on('error', (err: Error) => onGone(err));
    stream.on('end', () => onGone(new MeshError('XDS_ERR_STREAM_ENDED', 'the xDS server ended the stream')));
    for (const typeUrl of this.#typeUrls) {
      stream.write({
        version_info: this.#acked.get(typeUrl)?.version ?? '',
        node: this.#options.node,
        resource_names: [],
        type_url: typeUrl,
        response_nonce: '',
      });
    }
  }

  #scheduleReconnect(): void {
    const initial = this.#options.initialBackoffMs ?? XDS_INITIAL_BACKOFF_MS;
    const max = this.#options.maxBackoffMs ?? XDS_MAX_BACKOFF_MS;
    const backoff = Math.min(max, initial * 2 ** this.#failedAttempts);
    this.#failedAttempts += 1;
    // Jitter (±20 %) so many proxies restarting with one istiod do not reconnect in lockstep.
    const delay = Math.round(backoff * (0.8 + Math.random() * 0.4));
    this.#reconnectTimer = setTimeout(() => this.#openStream(), Math.min(delay, max));
    this.#reconnectTimer.unref?.();
  }

  #onResponse(stream: Stream, response: DiscoveryResponse): void {
    const { type_url: typeUrl, version_info: version, nonce } = response;
    const rejection = this.#decodeAndValidate(response);
    if ('reason' in rejection) {
      const previous = this.#acked.get(typeUrl)?.version ?? '';
      stream.write({
        version_info: previous,
        node: this.#options.node,
        resource_names: [],
        type_url: typeUrl,
        response_nonce: nonce,
        error_detail: { code: GRPC_CODE_INVALID_ARGUMENT, message: rejection.reason },
      });
      const nack: XdsNack = { typeUrl, version, nonce, message: rejection.reason };
      if (channels.nack.hasSubscribers) channels.nack.publish({ target: this.#options.target, nodeId: this.#options.node.id, ...nack });
      this.emit('nack', nack);
      return;
    }
    this.#acked.set(typeUrl, { version, lastUpdated: new Date().toISOString(), resources: rejection.resources });
    stream.write({ version_info: version, node: this.#options.node, resource_names: [], type_url: typeUrl, response_nonce: nonce });
    if (channels.resources.hasSubscribers) {
      channels.resources.publish({ target: this.#options.target, nodeId: this.#options.node.id, typeUrl, version, count: rejection.resources.length });
    }
    this.emit('resources', { typeUrl, version, resources: rejection.resources } satisfies XdsResourcesUpdate);
  }

  #decodeAndValidate(response: DiscoveryResponse): { resources: ResourceJson[] } | { reason: string } {
    const resources: ResourceJson[] = [];
    const errors: string[] = [];
    for (const [index, any] of response.resources.entries()) {
      if (any.type_url !== response.type_url) {
        errors.push(`resource ${index} has type ${any.type_url}, expected ${response.type_url}`);
        continue;
      }
      const decoded = decodeResourceResult(any);
      if (decoded.error) errors.push(`resource ${index}: ${decoded.error.message}`);
      else resources.push(decoded.value);
    }
    if (errors.length > 0) return { reason: `${shortTypeName(response.type_url)} ${response.version_info}: ${errors.join('; ')}` };
    const validate = this.#options.validate;
    if (validate) {
      let reason: string | undefined;
      try {
        reason = validate({ typeUrl: response.type_url, version: response.version_info, resources });
      } catch (err) {
        reason = `validator failed: ${String(err)}`;
      }
      if (reason) return { reason };
    }
    return { resources };
  }
}

/** Index resources by their xDS name (Listener/Cluster name, ClusterLoadAssignment cluster_name). */
export function resourcesByName(resources: readonly ResourceJson[]): Map<string, ResourceJson> {
  return new Map(resources.map((resource) => [resourceNameOf(resource), resource]));
}
