/**
 * The ADS wire pieces both sides need: the gRPC service definition of
 * `envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources` built from
 * the published protos, and plain TypeScript shapes for DiscoveryRequest/DiscoveryResponse.
 *
 * Responses carry resources as already-encoded Anys, so a server encodes each resource once and a
 * client decodes each one separately (a bad resource becomes a NACK, not a stream error).
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import type { Type } from 'protobufjs';
import { decodeMessage, encodeMessage } from './codec.js';
import type { EncodedAny, JsonObject } from './codec.js';
import { envoyProtoRoot } from './protos.js';

export const ADS_SERVICE_NAME = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
export const ADS_STREAM_METHOD_PATH = `/${ADS_SERVICE_NAME}/StreamAggregatedResources`;
const DISCOVERY_REQUEST = 'envoy.service.discovery.v3.DiscoveryRequest';
const DISCOVERY_RESPONSE = 'envoy.service.discovery.v3.DiscoveryResponse';

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

/** grpc-js service definition for `server.addService(...)` and `makeGenericClientConstructor(...)`. */
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
  } as ServiceDefinition;
}

/** The name a resource is known by in xDS: `name`, or `cluster_name` for a ClusterLoadAssignment. */
export function resourceNameOf(resource: JsonObject): string {
  const name = resource['name'] ?? resource['cluster_name'];
  return typeof name === 'string' ? name : '';
}
