/**
 * An in-process fake ADS control plane for tests (conventions §15): serves whatever resources a
 * test sets, records every DiscoveryRequest (so ACKs and NACKs can be asserted), and can drop
 * all streams to exercise reconnects.
 */
import * as grpc from '@grpc/grpc-js';
import { aggregatedDiscoveryServiceDefinition } from '../ads.js';
import type { DiscoveryRequest, DiscoveryResponse } from '../ads.js';
import { encodeResource } from '../codec.js';
import type { EncodedAny, ResourceJson } from '../codec.js';

type ServerStream = grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>;

export class FakeAdsServer {
  readonly requests: DiscoveryRequest[] = [];
  readonly #server = new grpc.Server();
  readonly #streams = new Set<ServerStream>();
  readonly #state = new Map<string, { version: string; resources: EncodedAny[] }>();
  #nonce = 0;
  port = 0;

  static async start(): Promise<FakeAdsServer> {
    const fake = new FakeAdsServer();
    fake.#server.addService(aggregatedDiscoveryServiceDefinition(), {
      StreamAggregatedResources: (stream: ServerStream) => fake.#onStream(stream),
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
    return this.#streams.size;
  }

  /** Sets the state of the world for a type and pushes it to every connected stream. */
  setResources(typeUrl: string, version: string, resources: ResourceJson[]): void {
    this.setEncodedResources(typeUrl, version, resources.map((resource) => encodeResource(resource)));
  }

  /** Like setResources with pre-encoded Anys, so a test can send bytes a proxy must reject. */
  setEncodedResources(typeUrl: string, version: string, resources: EncodedAny[]): void {
    this.#state.set(typeUrl, { version, resources });
    for (const stream of this.#streams) this.#send(stream, typeUrl);
  }

  /** Ends every stream with UNAVAILABLE, as a restarting control plane would. */
  dropStreams(): void {
    // grpc-js turns an 'error' on a server stream into the call's status and ends it.
    for (const stream of this.#streams) stream.emit('error', { code: grpc.status.UNAVAILABLE, details: 'fake server dropped the stream' });
    this.#streams.clear();
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
}
