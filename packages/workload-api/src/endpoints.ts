/**
 * A service's endpoints are not sent with it: every Workload names the services it backs
 * (`services["<namespace>/<hostname>"]` with its ports), and ztunnel joins the two. This is that
 * join, keyed as ztunnel keys endpoints (`<workload uid>:<network/ip>`).
 */
import { networkAddress } from './address.js';
import { serviceKey, type ZtunnelEndpoint, type ZtunnelService, type ZtunnelWorkload } from './dump.js';

/** Services with their `endpoints` filled from the workloads that name them. */
export function joinEndpoints(services: Iterable<ZtunnelService>, workloads: Iterable<ZtunnelWorkload>): ZtunnelService[] {
  const byService = new Map<string, Record<string, ZtunnelEndpoint>>();
  for (const w of workloads) {
    for (const [key, port] of Object.entries(w.services)) {
      let endpoints = byService.get(key);
      if (!endpoints) byService.set(key, (endpoints = {}));
      const address = w.workloadIps[0] === undefined ? undefined : networkAddress(w.network, w.workloadIps[0]);
      endpoints[`${w.uid}:${address ?? ''}`] = { workloadUid: w.uid, service: key, ...(address ? { address } : {}), port };
    }
  }
  return [...services].map((s) => ({ ...s, endpoints: byService.get(serviceKey(s)) ?? {} }));
}

/**
 * The port a workload listens on for `servicePort` of a service: its own mapping when it has one
 * (named target ports are resolved per workload), else the service's target port, else the
 * service port itself. Undefined when the workload does not serve that port (a named target port
 * it lacks: Kubernetes leaves it out of that port's endpoints).
 */
export function endpointTargetPort(service: ZtunnelService, endpoint: ZtunnelEndpoint, servicePort: number): number | undefined {
  const key = String(servicePort);
  const own = endpoint.port[key];
  if (own === undefined) return undefined;
  if (own !== 0) return own;
  const target = service.ports[key];
  return target !== undefined && target !== 0 ? target : servicePort;
}
