/**
 * The CA service both istiod-lite (server) and ztunnel (client) speak: our own small proto in
 * the shape of Istio's `istio.v1.auth.IstioCertificateService/CreateCertificate`
 * (`proto/istio/v1/auth/ca.proto`), loaded with @grpc/proto-loader.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import type { ServiceDefinition } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { MeshError } from '@mesh/errors';
import type { JsonObject } from './codec.js';
import { CONTROL_PLANE_CHANNEL_OPTIONS } from './xds-client.js';

/** The metadata key Istio's ztunnel uses to name the identity it asks for on a workload's behalf. */
export const IMPERSONATED_IDENTITY_KEY = 'ImpersonatedIdentity';

/** The proto file, resolved from src/ or dist/ (both one level below the package root). */
const CA_PROTO_PATH = fileURLToPath(new URL('../proto/istio/v1/auth/ca.proto', import.meta.url));

export interface IstioCertificateRequest {
  csr: string;
  /** Seconds, as a decimal string (int64); '0' for the CA default. */
  validity_duration: string;
  /** google.protobuf.Struct in protobufjs form; use `structFromJson` / `jsonFromStruct`. */
  metadata?: { fields?: Record<string, unknown> } | null;
}

export interface IstioCertificateResponse {
  cert_chain: string[];
}

let cachedDefinition: ServiceDefinition | undefined;

/** grpc-js service definition of IstioCertificateService (loaded once). */
export function caServiceDefinition(): ServiceDefinition {
  if (!cachedDefinition) {
    const packageDefinition = protoLoader.loadSync(CA_PROTO_PATH, { keepCase: true, longs: String, enums: String, defaults: true });
    const loaded = grpc.loadPackageDefinition(packageDefinition) as unknown as {
      istio: { v1: { auth: { IstioCertificateService: grpc.ServiceClientConstructor } } };
    };
    cachedDefinition = loaded.istio.v1.auth.IstioCertificateService.service;
  }
  return cachedDefinition;
}

/**
 * Reads a string entry of a Struct as proto-loader decodes it. protobufjs's bundled struct.proto
 * names Value's fields in lowerCamel (`stringValue`) even with keepCase.
 */
export function structStringField(struct: IstioCertificateRequest['metadata'], key: string): string | undefined {
  const value = struct?.fields?.[key] as { stringValue?: string } | undefined;
  return typeof value?.stringValue === 'string' && value.stringValue !== '' ? value.stringValue : undefined;
}

export interface CreateCertificateOptions {
  csrPem: string;
  validitySeconds?: number;
  /** SPIFFE ID asked for on a workload's behalf (sent as metadata ImpersonatedIdentity). */
  impersonatedIdentity?: string;
  deadlineMs?: number;
}

/**
 * A small client for CreateCertificate (ztunnel's CA client uses it). Lifecycle: `close()` and
 * `destroy()` are idempotent; calls after them fail with `CA_ERR_CLOSED`.
 */
export class CaClient {
  readonly #client: grpc.Client;
  #closed = false;

  constructor(target: string, credentials: grpc.ChannelCredentials, channelOptions?: grpc.ChannelOptions) {
    const Constructor = grpc.makeGenericClientConstructor(caServiceDefinition(), 'IstioCertificateService');
    this.#client = new Constructor(target, credentials, { ...CONTROL_PLANE_CHANNEL_OPTIONS, ...channelOptions });
  }

  /** Returns the PEM chain (leaf first, root last). Rejects with the gRPC error (code, details). */
  createCertificate(options: CreateCertificateOptions): Promise<string[]> {
    if (this.#closed) return Promise.reject(new MeshError('CA_ERR_CLOSED', 'CaClient used after close()'));
    const metadataFields: JsonObject = {};
    if (options.impersonatedIdentity) metadataFields[IMPERSONATED_IDENTITY_KEY] = { stringValue: options.impersonatedIdentity };
    const request: IstioCertificateRequest = {
      csr: options.csrPem,
      validity_duration: String(options.validitySeconds ?? 0),
      ...(options.impersonatedIdentity ? { metadata: { fields: metadataFields } } : {}),
    };
    const deadline = new Date(Date.now() + (options.deadlineMs ?? 10_000));
    return new Promise((resolve, reject) => {
      const call = (this.#client as unknown as Record<string, Function>)['CreateCertificate']!.bind(this.#client);
      call(request, { deadline }, (err: grpc.ServiceError | null, response?: IstioCertificateResponse) => {
        if (err) reject(err);
        else resolve(response?.cert_chain ?? []);
      });
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.close();
  }

  destroy(): void {
    this.close();
  }
}
