/**
 * An in-process fake ADS control plane for tests: serves whatever resources a test sets, over
 * both ADS methods (state of the world and delta), records every request (so ACKs and NACKs can
 * be asserted), and can drop all streams to exercise reconnects.
 *
 * A test sets a type's complete set; a delta stream receives the difference from what it has
 * (each resource versioned by a digest of its bytes), a state-of-the-world stream the whole set.
 */
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { aggregatedDiscoveryServiceDefinition, resourceNameOf } from '../ads.js';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DeltaResource, DiscoveryRequest, DiscoveryResponse } from '../ads.js';
import { decodeResourceResult, encodeResource } from '../codec.js';
import type { EncodedAny, ResourceJson } from '../codec.js';

type ServerStream = grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>;
type DeltaServerStream = grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;

interface TypeState {
  version: string;
  resources: EncodedAny[];
  /** name → {version, any}, for delta streams. */
  byName: Map<string, { version: string; any: EncodedAny }>;
}

interface DeltaStreamState {
  stream: DeltaServerStream;
  /** Per subscribed type: name → version the client has. */
  known: Map<string, Map<string, string>>;
}

export class FakeAdsServer {
  /** State-of-the-world requests, in arrival order. */
  readonly requests: DiscoveryRequest[] = [];
  /** Delta requests, in arrival order. */
  readonly deltaRequests: DeltaDiscoveryRequest[] = [];
  readonly #server = new grpc.Server();
  readonly #streams = new Set<ServerStream>();
  readonly #deltaStreams = new Set<DeltaStreamState>();
  readonly #state = new Map<string, TypeState>();
  /** Delta responses sent: nonce → the version they carried. */
  readonly #deltaVersions = new Map<string, string>();
  #nonce = 0;
  port = 0;

  static async start(): Promise<FakeAdsServer> {
    const fake = new FakeAdsServer();
    fake.#server.addService(aggregatedDiscoveryServiceDefinition(), {
      StreamAggregatedResources: (stream: ServerStream) => fake.#onStream(stream),
      DeltaAggregatedResources: (stream: DeltaServerStream) => fake.#onDeltaStream(stream),
    });
    fake.port = await new Promise<number>((resolve, reject) =>
      fake.#server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    return fake;
  }

  get target(): string {
    return `127.0.0.1:${this.port}`;
  }

  get streamCount(): number {
    return this.#streams.size + this.#deltaStreams.size;
  }

  /** Every NACK received on either protocol: type, the rejected nonce and the message. */
  get nacks(): Array<{ type_url: string; response_nonce: string; message: string }> {
    return [...this.requests, ...this.deltaRequests]
      .filter((request) => request.error_detail)
      .map((request) => ({ type_url: request.type_url, response_nonce: request.response_nonce, message: request.error_detail?.message ?? '' }));
  }

  /** Whether a client ACKed `version` of a type (either protocol): it runs that version. */
  acked(typeUrl: string, version: string): boolean {
    return (
      this.requests.some((r) => r.type_url === typeUrl && r.version_info === version && !r.error_detail) ||
      this.deltaRequests.some((r) => r.type_url === typeUrl && !r.error_detail && r.response_nonce !== '' && this.#deltaVersions.get(r.response_nonce) === version)
    );
  }

  /**
   * Sets the state of the world for a type and pushes it to every connected stream. `names` name
   * resources whose JSON carries no `name` (Istio's Address and Authorization are named apart).
   */
  setResources(typeUrl: string, version: string, resources: ResourceJson[], names: readonly string[] = []): void {
    this.setEncodedResources(
      typeUrl,
      version,
      resources.map((resource) => encodeResource(resource)),
      names,
    );
  }

  /**
   * Like setResources with pre-encoded Anys, so a test can send bytes a proxy must reject. On
   * delta, a resource is named `names[i]`, else by its decoded name, else `resource-<i>`.
   */
  setEncodedResources(typeUrl: string, version: string, resources: EncodedAny[], names: readonly string[] = []): void {
    const byName = new Map<string, { version: string; any: EncodedAny }>();
    resources.forEach((any, i) => {
      const decoded = decodeResourceResult(any);
      const name = names[i] || (decoded.value ? resourceNameOf(decoded.value) : '') || `resource-${i}`;
      byName.set(name, { version: createHash('sha256').update(any.value).digest('base64url').slice(0, 16), any });
    });
    this.#state.set(typeUrl, { version, resources, byName });
    for (const stream of this.#streams) this.#send(stream, typeUrl);
    for (const delta of this.#deltaStreams) if (delta.known.has(typeUrl)) this.#sendDelta(delta, typeUrl);
  }

  /** Ends every stream with UNAVAILABLE, as a restarting control plane would. */
  dropStreams(): void {
    // grpc-js turns an 'error' on a server stream into the call's status and ends it.
    const unavailable = { code: grpc.status.UNAVAILABLE, details: 'fake server dropped the stream' };
    for (const stream of this.#streams) stream.emit('error', unavailable);
    for (const { stream } of this.#deltaStreams) stream.emit('error', unavailable);
    this.#streams.clear();
    this.#deltaStreams.clear();
  }

  async close(): Promise<void> {
    this.dropStreams();
    this.#server.forceShutdown();
  }

  #onStream(stream: ServerStream): void {
    this.#streams.add(stream);
    const subscribed = new Set<string>();
    stream.on('data', (request: DiscoveryRequest) => {
      this.requests.push(request);
      if (!subscribed.has(request.type_url)) {
        subscribed.add(request.type_url);
        this.#send(stream, request.type_url);
      }
    });
    stream.on('error', () => this.#streams.delete(stream));
    stream.on('end', () => {
      this.#streams.delete(stream);
      stream.end();
    });
  }

  #send(stream: ServerStream, typeUrl: string): void {
    const state = this.#state.get(typeUrl);
    if (!state) return;
    this.#nonce += 1;
    stream.write({
      version_info: state.version,
      type_url: typeUrl,
      nonce: String(this.#nonce),
      resources: state.resources,
    });
  }

  /** Wildcard subscriptions only: every type a stream asks for gets everything of that type. */
  #onDeltaStream(stream: DeltaServerStream): void {
    const delta: DeltaStreamState = { stream, known: new Map() };
    this.#deltaStreams.add(delta);
    stream.on('data', (request: DeltaDiscoveryRequest) => {
      this.deltaRequests.push(request);
      if (!delta.known.has(request.type_url)) {
        delta.known.set(request.type_url, new Map(Object.entries(request.initial_resource_versions)));
        this.#sendDelta(delta, request.type_url);
      }
    });
    stream.on('error', () => this.#deltaStreams.delete(delta));
    stream.on('end', () => {
      this.#deltaStreams.delete(delta);
      stream.end();
    });
  }

  #sendDelta(delta: DeltaStreamState, typeUrl: string): void {
    const state = this.#state.get(typeUrl);
    const known = delta.known.get(typeUrl);
    if (!state || !known) return;
    const resources: DeltaResource[] = [];
    for (const [name, { version, any }] of state.byName) {
      if (known.get(name) === version) continue;
      resources.push({ name, version, resource: any });
      known.set(name, version);
    }
    const removed = [...known.keys()].filter((name) => !state.byName.has(name));
    for (const name of removed) known.delete(name);
    this.#nonce += 1;
    this.#deltaVersions.set(String(this.#nonce), state.version);
    delta.stream.write({ system_version_info: state.version, type_url: typeUrl, resources, removed_resources: removed, nonce: String(this.#nonce) });
  }
}
