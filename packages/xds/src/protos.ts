/**
 * Loads the published Envoy v3 protos bundled with `@grpc/grpc-js-xds` (its `deps/` folders)
 * into one protobufjs Root, together with Istio's workload API (`proto/istio/workload`,
 * `proto/istio/security`: written for this project with Istio's names and field numbers, see
 * docs/workload-api.md). We never hand-write or copy Envoy protos: the package ships the
 * upstream envoy-api, cncf/xds, googleapis and protoc-gen-validate trees.
 *
 * Invariants: the Root is built lazily (importing this module does no I/O) and only from
 * ENVOY_PROTO_FILES, ISTIO_WORKLOAD_PROTO_FILES and their imports, in two steps: first the ADS
 * service and the workload API (CORE_PROTO_FILES: all a ztunnel of the workload dialect
 * decodes), then, on the first lookup of a type they do not define, the Envoy configuration
 * types; a ztunnel on Istio's workload API so never holds the Envoy listener, cluster and route
 * protos (≈ 10 MiB RSS; docs/performance.md). Field names keep proto case (snake_case), matching
 * Envoy's config_dump JSON.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { Root, Type } from 'protobufjs';
import { MeshError } from '@mesh/errors';

/** Entry files we need; their imports are loaded transitively. */
export const ENVOY_PROTO_FILES: readonly string[] = [
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  // The waypoint's per-route CORS policies (HTTPRoute CORS filter).
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  // AuthorizationPolicy paths with {*} / {**} become RBAC uri_template permissions.
  'envoy/extensions/path/match/uri_template/v3/uri_template_match.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/listener/original_src/v3/original_src.proto',
  // The waypoint sniffs HTTP vs. TCP inside a tunnel (http_inspector + ApplicationProtocolInput).
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/transport_sockets/internal_upstream/v3/internal_upstream.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/bootstrap/internal_listener/v3/internal_listener.proto',
  'xds/type/matcher/v3/matcher.proto',
  'envoy/config/common/matcher/v3/matcher.proto',
  'envoy/extensions/matching/common_inputs/network/v3/network_inputs.proto',
  'xds/type/v3/typed_struct.proto',
  'google/protobuf/wrappers.proto',
  'envoy/admin/v3/config_dump.proto',
  'envoy/service/discovery/v3/ads.proto',
];

/**
 * Istio's workload API: `istio.workload.Address` and `istio.security.Authorization` (ztunnel's
 * own xDS types), resolved from this package's `proto/` folder.
 */
export const ISTIO_WORKLOAD_PROTO_FILES: readonly string[] = ['istio/workload/workload.proto', 'istio/security/authorization.proto'];

/** Loaded first: the ADS service (its requests and responses) and Istio's workload API. */
const CORE_PROTO_FILES: readonly string[] = ['envoy/service/discovery/v3/ads.proto', ...ISTIO_WORKLOAD_PROTO_FILES];

/** This package's own protos, from src/ or dist/ (both one level below the package root). */
const OWN_PROTO_DIR = fileURLToPath(new URL('../proto', import.meta.url));

const INCLUDE_DIRS = ['deps/envoy-api', 'deps/xds', 'deps/googleapis', 'deps/protoc-gen-validate'];

let cachedRoot: Root | undefined;
let envoyTypesLoaded = false;
let loadTimeMs = 0;

function protoIncludeDirs(): string[] {
  const require = createRequire(import.meta.url);
  const packageDir = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  // protobufjs ships google/protobuf/descriptor.proto (imported by validate.proto) in its own dir.
  const protobufjsDir = path.dirname(require.resolve('protobufjs/package.json'));
  return [...INCLUDE_DIRS.map((dir) => path.join(packageDir, dir)), OWN_PROTO_DIR, protobufjsDir];
}

/** Adds `files` (and their imports) to `root`; protobufjs skips the files it holds already. */
function loadInto(root: Root, files: readonly string[], includeDirs: readonly string[]): void {
  const startedAt = performance.now();
  try {
    root.loadSync([...files], { keepCase: true });
    root.resolveAll();
  } catch (cause) {
    throw new MeshError('XDS_ERR_PROTO_LOAD', `could not load the Envoy protos from @grpc/grpc-js-xds: ${String(cause)}`, {
      cause,
      context: { includeDirs },
      hint: 'reinstall dependencies (pnpm install); the protos ship in @grpc/grpc-js-xds/deps',
    });
  }
  loadTimeMs += performance.now() - startedAt;
}

/**
 * The shared protobufjs Root, with the ADS service and the Istio workload types (loaded on first
 * call); the Envoy configuration types join it on the first `lookupMessageType` that needs them.
 */
export function envoyProtoRoot(): Root {
  if (cachedRoot) return cachedRoot;
  const includeDirs = protoIncludeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const dir of includeDirs) {
      const candidate = path.join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    // The remaining google/protobuf/*.proto are protobufjs's bundled "common" protos, which it
    // resolves by this bare name.
    return target;
  };
  loadInto(root, CORE_PROTO_FILES, includeDirs);
  cachedRoot = root;
  return root;
}

/** The Root with every type of ENVOY_PROTO_FILES too (loaded on first call, ~200 ms). */
function fullProtoRoot(): Root {
  const root = envoyProtoRoot();
  if (!envoyTypesLoaded) {
    loadInto(root, ENVOY_PROTO_FILES, protoIncludeDirs());
    envoyTypesLoaded = true;
  }
  return root;
}

/** How long the proto loads so far took (ms), or undefined before the first. */
export function envoyProtoLoadTimeMs(): number | undefined {
  return cachedRoot ? loadTimeMs : undefined;
}

/** Looks up a message type by full name (`envoy.config.listener.v3.Listener`), or undefined. */
export function lookupMessageType(fullName: string): Type | undefined {
  const find = (root: Root): Type | undefined => {
    try {
      return root.lookupType(fullName);
    } catch {
      return undefined;
    }
  };
  return find(envoyProtoRoot()) ?? (envoyTypesLoaded ? undefined : find(fullProtoRoot()));
}
