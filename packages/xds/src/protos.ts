/**
 * Loads the published Envoy v3 protos bundled with `@grpc/grpc-js-xds` (its `deps/` folders)
 * into one protobufjs Root. We never hand-write or copy Envoy protos: the package ships the
 * upstream envoy-api, cncf/xds, googleapis and protoc-gen-validate trees.
 *
 * Invariants: the Root is built once, lazily, on first use (importing this module does no I/O),
 * and only from ENVOY_PROTO_FILES and their imports. Field names keep proto case (snake_case),
 * matching Envoy's config_dump JSON.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
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

const INCLUDE_DIRS = ['deps/envoy-api', 'deps/xds', 'deps/googleapis', 'deps/protoc-gen-validate'];

let cachedRoot: Root | undefined;
let loadTimeMs: number | undefined;

function protoIncludeDirs(): string[] {
  const require = createRequire(import.meta.url);
  const packageDir = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  // protobufjs ships google/protobuf/descriptor.proto (imported by validate.proto) in its own dir.
  const protobufjsDir = path.dirname(require.resolve('protobufjs/package.json'));
  return [...INCLUDE_DIRS.map((dir) => path.join(packageDir, dir)), protobufjsDir];
}

/** The shared protobufjs Root with the Envoy types; loaded on first call (~200 ms). */
export function envoyProtoRoot(): Root {
  if (cachedRoot) return cachedRoot;
  const startedAt = performance.now();
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
  try {
    root.loadSync([...ENVOY_PROTO_FILES], { keepCase: true });
    root.resolveAll();
  } catch (cause) {
    throw new MeshError('XDS_ERR_PROTO_LOAD', `could not load the Envoy protos from @grpc/grpc-js-xds: ${String(cause)}`, {
      cause,
      context: { includeDirs },
      hint: 'reinstall dependencies (pnpm install); the protos ship in @grpc/grpc-js-xds/deps',
    });
  }
  cachedRoot = root;
  loadTimeMs = performance.now() - startedAt;
  return root;
}

/** How long the one-time proto load took, or undefined before it happened. */
export function envoyProtoLoadTimeMs(): number | undefined {
  return loadTimeMs;
}

/** Looks up a message type by full name (`envoy.config.listener.v3.Listener`), or undefined. */
export function lookupMessageType(fullName: string): Type | undefined {
  try {
    return envoyProtoRoot().lookupType(fullName);
  } catch {
    return undefined;
  }
}
