/**
 * The one seam between the ADS server and xDS generation: the server only knows a
 * `ProxyResourceGenerator` (snapshot, proxy) → JSON resources, so it does not depend on the
 * generator's internals. `ztunnelResourceGenerator` wires the pure
 * `generateZtunnelConfig(snapshot, nodeName)` from `./generate/index.js`;
 * `meshResourceGenerator` chooses by proxy type (node id `waypoint~…` gets the waypoint's
 * config, anything else ztunnel's).
 */
import type { MeshSnapshot } from '@mesh/mesh-model';
import type { ResourceJson } from '@mesh/xds';
import { generateWaypointConfig, generateZtunnelConfig, waypointGatewayOfPod } from './generate/index.js';
import type { ProxyInfo } from './proxy-node.js';

export interface GeneratedResources {
  listeners: readonly ResourceJson[];
  clusters: readonly ResourceJson[];
  endpoints: readonly ResourceJson[];
  routes?: readonly ResourceJson[];
}

/** Pure: the resources one proxy should run for a snapshot. May throw; the server reports it. */
export type ProxyResourceGenerator = (snapshot: MeshSnapshot, proxy: ProxyInfo) => GeneratedResources;

/** The production generator: the ztunnel configuration of the proxy's node (seeds 002/004). */
export const ztunnelResourceGenerator: ProxyResourceGenerator = (snapshot, proxy) => {
  const config = generateZtunnelConfig(snapshot, proxy.nodeName);
  return {
    listeners: config.listeners as readonly ResourceJson[],
    clusters: config.clusters as readonly ResourceJson[],
    endpoints: config.endpoints as readonly ResourceJson[],
  };
};

/**
 * A waypoint (node id `waypoint~<ip>~<pod>~<namespace>.svc.cluster.local`) gets the config of the
 * Gateway its pod runs for; the pod must be on the node the proxy proved (its bootstrap
 * credential is its node's). Throws XDSGEN_ERR_UNKNOWN_WAYPOINT otherwise.
 */
export const waypointResourceGenerator: ProxyResourceGenerator = (snapshot, proxy) => {
  const gateway = waypointGatewayOfPod(snapshot, proxy.namespace ?? '', proxy.podName ?? '', proxy.nodeName);
  const config = generateWaypointConfig(snapshot, gateway);
  return {
    listeners: config.listeners as readonly ResourceJson[],
    clusters: config.clusters as readonly ResourceJson[],
    endpoints: config.endpoints as readonly ResourceJson[],
    routes: config.routes as readonly ResourceJson[],
  };
};

/** The production generator: by proxy type. */
export const meshResourceGenerator: ProxyResourceGenerator = (snapshot, proxy) =>
  proxy.type === 'waypoint' ? waypointResourceGenerator(snapshot, proxy) : ztunnelResourceGenerator(snapshot, proxy);
