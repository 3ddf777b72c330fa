/**
 * The ADS wire pieces both sides need: the gRPC service definition of
 * `envoy.service.discovery.v3.AggregatedDiscoveryService` with both of its methods,
 * `StreamAggregatedResources` (state of the world) and `DeltaAggregatedResources` (incremental),
 * built from the published protos, and plain TypeScript shapes for their messages.
 *
 * Responses carry resources as already-encoded Anys, so a server encodes each resource once and a
 * client decodes each one separately (a bad resource becomes a NACK, not a stream error).
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import type { Type } from 'protobufjs';
import { decodeMessage, encodeMessage } from './codec.js';
import type { EncodedAny, JsonObject } from './codec.js';
import { ProtoWriter } from './proto-writer.js';
import { envoyProtoRoot } from './protos.js';

export const ADS_SERVICE_NAME = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
export const ADS_STREAM_METHOD_PATH = `/${ADS_SERVICE_NAME}/StreamAggregatedResources`;
export const ADS_DELTA_METHOD_PATH = `/${ADS_SERVICE_NAME}/DeltaAggregatedResources`;
const DISCOVERY_REQUEST = 'envoy.service.discovery.v3.DiscoveryRequest';
const DISCOVERY_RESPONSE = 'envoy.service.discovery.v3.DiscoveryResponse';
const DELTA_DISCOVERY_REQUEST = 'envoy.service.discovery.v3.DeltaDiscoveryRequest';
const DELTA_DISCOVERY_RESPONSE = 'envoy.service.discovery.v3.DeltaDiscoveryResponse';

/** The resource name that stands for "everything of this type" in a subscription (xDS wildcard). */
export const WILDCARD_RESOURCE_NAME = '*';

/** google.rpc.Code values used in NACKs and stream errors. */
export const GRPC_CODE_INVALID_ARGUMENT = 3;

/** The subset of envoy.config.core.v3.Node we use; metadata is a Struct in plain JSON. */
export interface XdsNode {
  id: string;
  cluster?: string;
  metadata?: JsonObject;
  user_agent_name?: string;
}

export interface DiscoveryRequest {
  version_info: string;
  node?: XdsNode;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  /** Set on a NACK: why the last response was rejected. */
  error_detail?: { code: number; message: string };
}

export interface DiscoveryResponse {
  version_info: string;
  resources: EncodedAny[];
  type_url: string;
  nonce: string;
}

export function serializeDiscoveryRequest(request: DiscoveryRequest): Buffer {
  return Buffer.from(encodeMessage(DISCOVERY_REQUEST, request as unknown as JsonObject));
}

export function deserializeDiscoveryRequest(bytes: Buffer): DiscoveryRequest {
  const json = decodeMessage(DISCOVERY_REQUEST, bytes) as Partial<DiscoveryRequest>;
  return {
    version_info: json.version_info ?? '',
    resource_names: json.resource_names ?? [],
    type_url: json.type_url ?? '',
    response_nonce: json.response_nonce ?? '',
    ...(json.node ? { node: json.node } : {}),
    ...(json.error_detail ? { error_detail: { code: json.error_detail.code ?? 0, message: json.error_detail.message ?? '' } } : {}),
  };
}

let responseType: Type | undefined;
function discoveryResponseType(): Type {
  responseType ??= envoyProtoRoot().lookupType(DISCOVERY_RESPONSE);
  return responseType;
}

export function serializeDiscoveryResponse(response: DiscoveryResponse): Buffer {
  const type = discoveryResponseType();
  return Buffer.from(type.encode(type.fromObject(response as unknown as JsonObject)).finish());
}

export function deserializeDiscoveryResponse(bytes: Buffer): DiscoveryResponse {
  const message = discoveryResponseType().decode(bytes) as unknown as Partial<DiscoveryResponse>;
  return {
    version_info: message.version_info ?? '',
    type_url: message.type_url ?? '',
    nonce: message.nonce ?? '',
    resources: (message.resources ?? []).map((any) => ({ type_url: any.type_url ?? '', value: any.value ?? new Uint8Array() })),
  };
}

// ---------------------------------------------------------------------------------------------
// Incremental (delta) xDS

/**
 * envoy.service.discovery.v3.DeltaDiscoveryRequest. The first request of a type on a stream
 * subscribes (an empty `resource_names_subscribe` there means wildcard, the legacy form; `*` is
 * the explicit one) and may list what the client already has in `initial_resource_versions`;
 * later ones ACK (`response_nonce`) or NACK (`error_detail` too) a response and may change the
 * subscription.
 */
export interface DeltaDiscoveryRequest {
  node?: XdsNode;
  type_url: string;
  resource_names_subscribe: string[];
  resource_names_unsubscribe: string[];
  /** name → version the client has, on the first request of a type on a new stream. */
  initial_resource_versions: Record<string, string>;
  response_nonce: string;
  error_detail?: { code: number; message: string };
}

/** envoy.service.discovery.v3.Resource: one named, versioned resource of a delta response. */
export interface DeltaResource {
  name: string;
  version: string;
  /** Absent only in a malformed response; a client rejects that resource. */
  resource?: EncodedAny;
}

/** envoy.service.discovery.v3.DeltaDiscoveryResponse: what changed, and the names removed. */
export interface DeltaDiscoveryResponse {
  system_version_info: string;
  type_url: string;
  resources: DeltaResource[];
  removed_resources: string[];
  nonce: string;
}

export function serializeDeltaDiscoveryRequest(request: DeltaDiscoveryRequest): Buffer {
  return Buffer.from(encodeMessage(DELTA_DISCOVERY_REQUEST, request as unknown as JsonObject));
}

export function deserializeDeltaDiscoveryRequest(bytes: Buffer): DeltaDiscoveryRequest {
  const json = decodeMessage(DELTA_DISCOVERY_REQUEST, bytes) as Partial<DeltaDiscoveryRequest>;
  return {
    type_url: json.type_url ?? '',
    resource_names_subscribe: json.resource_names_subscribe ?? [],
    resource_names_unsubscribe: json.resource_names_unsubscribe ?? [],
    initial_resource_versions: json.initial_resource_versions ?? {},
    response_nonce: json.response_nonce ?? '',
    ...(json.node ? { node: json.node } : {}),
    ...(json.error_detail ? { error_detail: { code: json.error_detail.code ?? 0, message: json.error_detail.message ?? '' } } : {}),
  };
}

/**
 * Written field by field (DeltaDiscoveryResponse 1, 2, 4, 5, 6; Resource 1, 2, 3; Any 1, 2) with
 * lengths computed up front: a response can carry tens of thousands of resources, some of them
 * megabytes, and this copies each Any's bytes exactly once.
 */
export function serializeDeltaDiscoveryResponse(response: DeltaDiscoveryResponse): Buffer {
  const writer = new ProtoWriter();
  if (response.system_version_info) writer.uint32(tag(1)).string(response.system_version_info);
  for (const resource of response.resources) {
    const any = resource.resource;
    const anyLength = any ? stringFieldLength(any.type_url) + bytesFieldLength(any.value.byteLength) : 0;
    const resourceLength =
      (resource.version ? stringFieldLength(resource.version) : 0) + (any ? bytesFieldLength(anyLength) : 0) + stringFieldLength(resource.name);
    writer.uint32(tag(2)).uint32(resourceLength);
    if (resource.version) writer.uint32(tag(1)).string(resource.version);
    if (any) {
      writer.uint32(tag(2)).uint32(anyLength);
      writer.uint32(tag(1)).string(any.type_url);
      writer.uint32(tag(2)).bytes(any.value);
    }
    writer.uint32(tag(3)).string(resource.name);
  }
  writer.uint32(tag(4)).string(response.type_url);
  if (response.nonce) writer.uint32(tag(5)).string(response.nonce);
  for (const name of response.removed_resources) writer.uint32(tag(6)).string(name);
  const bytes = writer.finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Length-delimited field tag (every field written above is a string, bytes or a message; ids < 16). */
function tag(fieldId: number): number {
  return (fieldId << 3) | 2;
}

/** Bytes of a length-delimited field with a one-byte tag and a body of `length` bytes. */
function bytesFieldLength(length: number): number {
  return 1 + varintLength(length) + length;
}

function stringFieldLength(text: string): number {
  return bytesFieldLength(Buffer.byteLength(text, 'utf8'));
}

function varintLength(value: number): number {
  let length = 1;
  for (let v = value >>> 7; v > 0; v >>>= 7) length += 1;
  return length;
}

let deltaResponseType: Type | undefined;

export function deserializeDeltaDiscoveryResponse(bytes: Buffer): DeltaDiscoveryResponse {
  deltaResponseType ??= envoyProtoRoot().lookupType(DELTA_DISCOVERY_RESPONSE);
  const message = deltaResponseType.decode(bytes) as unknown as {
    system_version_info?: string;
    type_url?: string;
    nonce?: string;
    removed_resources?: string[];
    resources?: Array<{ name?: string; version?: string; resource?: { type_url?: string; value?: Uint8Array } }>;
  };
  return {
    system_version_info: message.system_version_info ?? '',
    type_url: message.type_url ?? '',
    nonce: message.nonce ?? '',
    removed_resources: message.removed_resources ?? [],
    resources: (message.resources ?? []).map((resource) => ({
      name: resource.name ?? '',
      version: resource.version ?? '',
      ...(resource.resource ? { resource: { type_url: resource.resource.type_url ?? '', value: resource.resource.value ?? new Uint8Array() } } : {}),
    })),
  };
}

/** grpc-js service definition for `server.addService(...)`: both ADS methods. */
export function aggregatedDiscoveryServiceDefinition(): ServiceDefinition {
  return {
    StreamAggregatedResources: {
      path: ADS_STREAM_METHOD_PATH,
      requestStream: true,
      responseStream: true,
      requestSerialize: serializeDiscoveryRequest,
      requestDeserialize: deserializeDiscoveryRequest,
      responseSerialize: serializeDiscoveryResponse,
      responseDeserialize: deserializeDiscoveryResponse,
      originalName: 'streamAggregatedResources',
    },
    DeltaAggregatedResources: {
      path: ADS_DELTA_METHOD_PATH,
      requestStream: true,
      responseStream: true,
      requestSerialize: serializeDeltaDiscoveryRequest,
      requestDeserialize: deserializeDeltaDiscoveryRequest,
      responseSerialize: serializeDeltaDiscoveryResponse,
      responseDeserialize: deserializeDeltaDiscoveryResponse,
      originalName: 'deltaAggregatedResources',
    },
  } as ServiceDefinition;
}

/** The name a resource is known by in xDS: `name`, or `cluster_name` for a ClusterLoadAssignment. */
export function resourceNameOf(resource: JsonObject): string {
  const name = resource['name'] ?? resource['cluster_name'];
  return typeof name === 'string' ? name : '';
}
