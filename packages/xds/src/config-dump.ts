/**
 * Builds Envoy's admin `envoy.admin.v3.ConfigDump` JSON from xDS state: a pure function, so the
 * ztunnel admin `/config_dump`, istiod-lite's `/debug/config_dump?proxyID=` and meshctl all show
 * the same shape (the one `config_dump?include_eds` shows in docs/walkthrough.md).
 */
import type { JsonObject, ResourceJson } from './codec.js';
import { resourceNameOf } from './ads.js';
import { TYPE_URL } from './type-urls.js';

const ADMIN = 'type.googleapis.com/envoy.admin.v3';
export const CONFIG_DUMP_TYPE_URL = {
  BOOTSTRAP: `${ADMIN}.BootstrapConfigDump`,
  CLUSTERS: `${ADMIN}.ClustersConfigDump`,
  LISTENERS: `${ADMIN}.ListenersConfigDump`,
  ENDPOINTS: `${ADMIN}.EndpointsConfigDump`,
  ROUTES: `${ADMIN}.RoutesConfigDump`,
  SECRETS: `${ADMIN}.SecretsConfigDump`,
} as const;

/** One xDS type as a proxy holds it: the version it ACKed, when, and the resources. */
export interface ConfigDumpTypeState {
  version: string;
  /** RFC 3339 time of the last update. */
  lastUpdated: string;
  resources: readonly ResourceJson[];
}

export interface ConfigDumpSecret {
  name: string;
  version: string;
  lastUpdated: string;
  /** An `envoy.extensions.transport_sockets.tls.v3.Secret` JSON with `@type`; private keys redacted. */
  secret: ResourceJson;
}

export interface ConfigDumpInput {
  bootstrap?: JsonObject;
  /** When the bootstrap was loaded (RFC 3339). */
  bootstrapLastUpdated?: string;
  clusters?: ConfigDumpTypeState;
  listeners?: ConfigDumpTypeState;
  endpoints?: ConfigDumpTypeState;
  routes?: ConfigDumpTypeState;
  secrets?: readonly ConfigDumpSecret[];
  /** Envoy leaves EDS out unless `?include_eds` is given. */
  includeEds?: boolean;
}

/** The ConfigDump JSON (`{configs: [...]}`), in Envoy's order: bootstrap, clusters, listeners, [endpoints], routes, secrets. */
export function buildConfigDump(input: ConfigDumpInput): { configs: ResourceJson[] } {
  const configs: ResourceJson[] = [];
  if (input.bootstrap) {
    configs.push({
      '@type': CONFIG_DUMP_TYPE_URL.BOOTSTRAP,
      bootstrap: input.bootstrap,
      ...(input.bootstrapLastUpdated ? { last_updated: input.bootstrapLastUpdated } : {}),
    });
  }
  configs.push(clustersDump(input.clusters));
  configs.push(listenersDump(input.listeners));
  if (input.includeEds) configs.push(endpointsDump(input.endpoints));
  if (input.routes) configs.push(routesDump(input.routes));
  configs.push({
    '@type': CONFIG_DUMP_TYPE_URL.SECRETS,
    ...nonEmpty(
      'dynamic_active_secrets',
      (input.secrets ?? []).map((secret) => ({
        name: secret.name,
        version_info: secret.version,
        last_updated: secret.lastUpdated,
        secret: secret.secret,
      })),
    ),
  });
  return { configs };
}

function clustersDump(state: ConfigDumpTypeState | undefined): ResourceJson {
  return {
    '@type': CONFIG_DUMP_TYPE_URL.CLUSTERS,
    ...versionOf(state),
    ...nonEmpty(
      'dynamic_active_clusters',
      sortedByName(state).map((cluster) => ({ version_info: state!.version, cluster, last_updated: state!.lastUpdated })),
    ),
  };
}

function listenersDump(state: ConfigDumpTypeState | undefined): ResourceJson {
  return {
    '@type': CONFIG_DUMP_TYPE_URL.LISTENERS,
    ...versionOf(state),
    ...nonEmpty(
      'dynamic_listeners',
      sortedByName(state).map((listener) => ({
        name: resourceNameOf(listener),
        active_state: { version_info: state!.version, listener, last_updated: state!.lastUpdated },
      })),
    ),
  };
}

function endpointsDump(state: ConfigDumpTypeState | undefined): ResourceJson {
  return {
    '@type': CONFIG_DUMP_TYPE_URL.ENDPOINTS,
    ...nonEmpty(
      'dynamic_endpoint_configs',
      sortedByName(state).map((endpointConfig) => ({
        version_info: state!.version,
        endpoint_config: endpointConfig,
        last_updated: state!.lastUpdated,
      })),
    ),
  };
}

function routesDump(state: ConfigDumpTypeState): ResourceJson {
  return {
    '@type': CONFIG_DUMP_TYPE_URL.ROUTES,
    ...nonEmpty(
      'dynamic_route_configs',
      sortedByName(state).map((routeConfig) => ({ version_info: state.version, route_config: routeConfig, last_updated: state.lastUpdated })),
    ),
  };
}

function versionOf(state: ConfigDumpTypeState | undefined): JsonObject {
  return state?.version ? { version_info: state.version } : {};
}

/** proto3 JSON omits empty repeated fields; so do we, so the dump decodes to itself. */
function nonEmpty(key: string, items: readonly unknown[]): JsonObject {
  return items.length > 0 ? { [key]: items } : {};
}

function sortedByName(state: ConfigDumpTypeState | undefined): ResourceJson[] {
  return [...(state?.resources ?? [])].sort((a, b) => resourceNameOf(a).localeCompare(resourceNameOf(b)));
}

/** ConfigDumpInput from per-type-URL state, e.g. `XdsClient.currentAll()` or a server's view of a proxy. */
export function configDumpInputFromTypeStates(
  states: ReadonlyMap<string, ConfigDumpTypeState>,
  options: Pick<ConfigDumpInput, 'bootstrap' | 'bootstrapLastUpdated' | 'secrets' | 'includeEds'> = {},
): ConfigDumpInput {
  const pick = (typeUrl: string) => states.get(typeUrl);
  return {
    ...options,
    ...optional('clusters', pick(TYPE_URL.CLUSTER)),
    ...optional('listeners', pick(TYPE_URL.LISTENER)),
    ...optional('endpoints', pick(TYPE_URL.CLUSTER_LOAD_ASSIGNMENT)),
    ...optional('routes', pick(TYPE_URL.ROUTE_CONFIGURATION)),
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}
