/**
 * The seam between the ADS server and xDS generation. The server knows only generators
 * (`XdsGenerator`): each produces a proxy's resources per type URL, by name, and says which
 * proxies share the result (its scope). A `GeneratorRegistry` picks the generator for a proxy
 * and a type URL, so a second dialect plugs in beside the first by the type URLs it serves: a
 * ztunnel that subscribes to Envoy's CDS/EDS/LDS gets the Envoy shapes (docs/model.md), one that
 * subscribes to Istio's workload types gets those, from the same snapshot.
 *
 * Generators are pure (snapshot, proxy → JSON resources). The server generates and encodes once
 * per snapshot and scope (`src/xds/resource-cache.ts`), so resources identical for every proxy
 * (one scope for all) are built and encoded once and shared, and a generator that can say what a
 * snapshot change touches (`update`) is asked for only that. See ARCHITECTURE.md, "Generators".
 */
import type { MeshSnapshot } from '@mesh/mesh-model';
import { TYPE_URL } from '@mesh/xds';
import type { ResourceJson } from '@mesh/xds';
import { generateWaypointConfig, generateZtunnelChanges, generateZtunnelConfig, waypointGatewayOfPod } from './generate/index.js';
import { generateWorkloadResources, workloadPodChanges, WORKLOAD_TYPE_URLS, type WorkloadResources } from './generate/workload/index.js';
import type { EnvoyResource, ZtunnelChanges } from './generate/index.js';
import type { ProxyInfo } from './proxy-node.js';

/** One type's resources for a proxy: name → proto3-JSON resource (with `@type`), in send order. */
export type NamedResources = ReadonlyMap<string, ResourceJson>;

/** Every type a generator produces for a proxy: type URL → its resources. */
export type GeneratedResources = ReadonlyMap<string, NamedResources>;

/** What a snapshot change did to one type: resources added or replaced (a superset is fine), names removed. */
export interface TypeChanges {
  readonly updated: NamedResources;
  readonly removed: readonly string[];
}

/** Per type URL; a type not listed did not change. */
export type GeneratedChanges = ReadonlyMap<string, TypeChanges>;

export interface XdsGenerator {
  /** Stable name, in logs and /debug/syncz: `ztunnel-envoy`, `waypoint`, `workload`, … */
  readonly name: string;
  /** The type URLs it produces. */
  readonly typeUrls: readonly string[];
  /**
   * Proxies with the same scope get identical resources, generated and encoded once per
   * snapshot and shared. A dialect that is not client-specific returns one constant for all.
   */
  scopeOf(proxy: ProxyInfo): string;
  /** Pure: every resource of every type in `typeUrls` for this proxy. May throw (a MeshError naming why). */
  generate(snapshot: MeshSnapshot, proxy: ProxyInfo): GeneratedResources;
  /**
   * Optional, pure: what changed for this proxy from `previous` to `next`, costing in proportion
   * to the change. Must agree with generating both snapshots and comparing (the server checks
   * resources by their encoded bytes, so reporting an unchanged resource as updated is harmless;
   * missing a change is a bug). Undefined means "generate from scratch".
   */
  update?(previous: MeshSnapshot, next: MeshSnapshot, proxy: ProxyInfo): GeneratedChanges | undefined;
}

/** A generator and the proxies it serves (by proxy type, from the node id). */
export interface Dialect {
  readonly generator: XdsGenerator;
  readonly serves: (proxy: ProxyInfo) => boolean;
}

/** Which generator serves which (proxy, type URL); the first dialect that serves both wins. */
export class GeneratorRegistry {
  readonly #dialects: readonly Dialect[];

  constructor(dialects: readonly Dialect[]) {
    this.#dialects = dialects;
  }

  /** A registry with one more dialect (tried after these). */
  with(dialect: Dialect): GeneratorRegistry {
    return new GeneratorRegistry([...this.#dialects, dialect]);
  }

  generatorFor(proxy: ProxyInfo, typeUrl: string): XdsGenerator | undefined {
    return this.#dialects.find((d) => d.generator.typeUrls.includes(typeUrl) && d.serves(proxy))?.generator;
  }

  /** Every type URL some generator serves to this proxy. */
  typeUrlsFor(proxy: ProxyInfo): string[] {
    return [...new Set(this.#dialects.filter((d) => d.serves(proxy)).flatMap((d) => d.generator.typeUrls))];
  }
}

const ENVOY_TYPE_URLS = [TYPE_URL.CLUSTER, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, TYPE_URL.LISTENER] as const;

/** Envoy resources keyed by their xDS name (`name`, or `cluster_name` for a ClusterLoadAssignment). */
export function byResourceName(resources: readonly (EnvoyResource | ResourceJson)[]): Map<string, ResourceJson> {
  const named = new Map<string, ResourceJson>();
  for (const resource of resources) named.set(String(resource['name'] ?? resource['cluster_name']), resource as ResourceJson);
  return named;
}

function envoyTypes(config: { listeners: readonly EnvoyResource[]; clusters: readonly EnvoyResource[]; endpoints: readonly EnvoyResource[]; routes?: readonly EnvoyResource[] }): GeneratedResources {
  const types = new Map<string, NamedResources>([
    [TYPE_URL.CLUSTER, byResourceName(config.clusters)],
    [TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, byResourceName(config.endpoints)],
    [TYPE_URL.LISTENER, byResourceName(config.listeners)],
  ]);
  if (config.routes) types.set(TYPE_URL.ROUTE_CONFIGURATION, byResourceName(config.routes));
  return types;
}

function changesByType(changes: ZtunnelChanges): GeneratedChanges {
  const out = new Map<string, TypeChanges>();
  const add = (typeUrl: string, updated: readonly EnvoyResource[], removed: readonly string[]) => {
    if (updated.length > 0 || removed.length > 0) out.set(typeUrl, { updated: byResourceName(updated), removed });
  };
  add(TYPE_URL.CLUSTER, changes.clusters.updated, changes.clusters.removed);
  add(TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, changes.endpoints.updated, changes.endpoints.removed);
  add(TYPE_URL.LISTENER, changes.listeners.updated, changes.listeners.removed);
  return out;
}

/**
 * The Envoy shapes for a ztunnel (`generate/ztunnel.ts`): per node, so every ztunnel of a
 * node shares one result. Incremental (`generate/ztunnel-changes.ts`): a snapshot change
 * regenerates only the resources it touches.
 */
export const ztunnelEnvoyGenerator: XdsGenerator = {
  name: 'ztunnel-envoy',
  typeUrls: ENVOY_TYPE_URLS,
  scopeOf: (proxy) => proxy.nodeName,
  generate: (snapshot, proxy) => envoyTypes(generateZtunnelConfig(snapshot, proxy.nodeName)),
  update: (previous, next, proxy) => {
    const changes = generateZtunnelChanges(previous, next, proxy.nodeName);
    return changes ? changesByType(changes) : undefined;
  },
};

/**
 * A waypoint (node id `waypoint~<ip>~<pod>~<namespace>.svc.cluster.local`) gets the config of the
 * Gateway its pod runs for; the pod must be on the node the proxy proved (with a waypoint
 * credential, the ADS server checked the pod is its Gateway's and took the pod's node;
 * proxy-node.ts `waypointProxyFromNode`). Throws XDSGEN_ERR_UNKNOWN_WAYPOINT otherwise.
 */
export const waypointGenerator: XdsGenerator = {
  name: 'waypoint',
  typeUrls: [...ENVOY_TYPE_URLS, TYPE_URL.ROUTE_CONFIGURATION],
  // Everything the generator reads from the proxy: its pod, and the node it proved.
  scopeOf: (proxy) => `${proxy.namespace ?? ''}/${proxy.podName ?? ''}@${proxy.nodeName}`,
  generate: (snapshot, proxy) => {
    const gateway = waypointGatewayOfPod(snapshot, proxy.namespace ?? '', proxy.podName ?? '', proxy.nodeName);
    return envoyTypes(generateWaypointConfig(snapshot, gateway));
  },
};

export const isWaypoint = (proxy: ProxyInfo): boolean => proxy.type === 'waypoint';

function workloadTypes(resources: WorkloadResources): GeneratedResources {
  return new Map<string, NamedResources>([
    [TYPE_URL.ADDRESS, resources.addresses],
    [TYPE_URL.AUTHORIZATION, resources.authorizations],
  ]);
}

/** Resources of `next` that are not the very objects of `previous` (the generator keeps unchanged ones), and names gone. */
function changedByIdentity(previous: NamedResources, next: NamedResources): TypeChanges {
  const updated = new Map<string, ResourceJson>();
  for (const [name, resource] of next) if (previous.get(name) !== resource) updated.set(name, resource);
  const removed: string[] = [];
  for (const name of previous.keys()) if (!next.has(name)) removed.push(name);
  return { updated, removed };
}

/**
 * Istio's workload API (`generate/workload/`): the same resources for every ztunnel, so one scope
 * for all, generated and encoded once per snapshot. The generator keeps a resource's object while
 * its inputs are unchanged, so `update` reports exactly the resources an edit touched. When only
 * pods changed it looks at those pods' Workloads alone (a one-pod edit costs one Address, not a
 * walk over 11,000); any other change is found by comparing every resource's identity.
 */
export const workloadGenerator: XdsGenerator = {
  name: 'workload',
  typeUrls: WORKLOAD_TYPE_URLS,
  scopeOf: () => 'mesh',
  generate: (snapshot) => workloadTypes(generateWorkloadResources(snapshot)),
  update: (previous, next) => {
    const pods = workloadPodChanges(previous, next);
    if (pods) return new Map([[TYPE_URL.ADDRESS, pods]]);
    const before = generateWorkloadResources(previous);
    const after = generateWorkloadResources(next);
    return new Map([
      [TYPE_URL.ADDRESS, changedByIdentity(before.addresses, after.addresses)],
      [TYPE_URL.AUTHORIZATION, changedByIdentity(before.authorizations, after.authorizations)],
    ]);
  },
};

/**
 * The production registry: waypoints get the waypoint config; any other proxy is a ztunnel and
 * gets the Envoy shapes, or Istio's workload API, by the type URLs it subscribes to.
 */
export const meshGenerators = new GeneratorRegistry([
  { generator: waypointGenerator, serves: isWaypoint },
  { generator: ztunnelEnvoyGenerator, serves: (proxy) => !isWaypoint(proxy) },
  { generator: workloadGenerator, serves: (proxy) => !isWaypoint(proxy) },
]);
