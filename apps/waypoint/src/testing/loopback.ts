/**
 * Running the golden waypoint config on loopback: the same listeners, clusters and routes, with
 * each cluster's endpoints pointed at local servers behind one fake destination ztunnel
 * (127.0.0.1:<tunnelPort>), and a CA signer from a test CA.
 */
import { parseSpiffeUri } from '@mesh/pki';
import type { TestCa } from '@mesh/pki/testing';
import type { ResourceJson } from '@mesh/xds';
import type { GoldenWaypointConfig } from './golden.js';
import type { CertificateSigner } from '@mesh/workload-identity';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function caSignerFor(ca: TestCa): CertificateSigner {
  return async ({ identity, csrPem }) => {
    const issued = ca.ca.issueWorkloadCert({ csrPem, identity: parseSpiffeUri(identity) });
    return [issued.certPem, ca.rootPem];
  };
}

/**
 * `endpoints`: cluster name → local destinations (`127.0.0.1:<port>`), each tunnelled through
 * the fake ztunnel at `127.0.0.1:<tunnelPort>` and expected to present `identity`.
 */
export function loopbackWaypointResources(
  golden: GoldenWaypointConfig,
  options: { tunnelPort: number; identity: string; endpoints: Record<string, string[]>; mutateRoutes?: (routes: Obj[]) => void; mutateClusters?: (clusters: Obj[]) => void; mutateListeners?: (listeners: Obj[]) => void },
): { listeners: ResourceJson[]; clusters: ResourceJson[]; endpoints: ResourceJson[]; routes: ResourceJson[] } {
  const clusters = structuredClone(golden.clusters) as Obj[];
  const originate = clusters.find((c) => c.name === 'connect_originate');
  if (originate) originate.original_dst_lb_config = { upstream_port_override: options.tunnelPort };
  const endpoints = (golden.endpoints as Obj[]).map((cla) => ({
    ...cla,
    endpoints: [
      {
        lb_endpoints: (options.endpoints[cla.cluster_name] ?? []).map((destination) => ({
          endpoint: { address: { envoy_internal_address: { server_listener_name: 'connect_originate', endpoint_id: destination } } },
          health_status: 'HEALTHY',
          metadata: {
            filter_metadata: {
              'envoy.transport_socket_match': { tunnel: 'h2' },
              tunnel: { address: `127.0.0.1:${options.tunnelPort}`, destination },
              istio: { workload: `backend-${destination}`, namespace: 'echo', identity: options.identity },
            },
          },
          load_balancing_weight: 1,
        })),
      },
    ],
  }));
  const routes = structuredClone(golden.routes) as Obj[];
  options.mutateRoutes?.(routes);
  options.mutateClusters?.(clusters);
  const listeners = structuredClone(golden.listeners) as Obj[];
  options.mutateListeners?.(listeners);
  return {
    listeners: listeners as ResourceJson[],
    clusters: clusters as ResourceJson[],
    endpoints: endpoints as unknown as ResourceJson[],
    routes: routes as ResourceJson[],
  };
}
