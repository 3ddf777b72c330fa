/**
 * `meshctl ztunnel-config` views of a workload-dialect ztunnel: the records it holds, in
 * istioctl's tables (istioctl/pkg/writer/ztunnel/configdump: workload.go, services.go,
 * policies.go), the same columns, values and order:
 *
 *   workloads  NAMESPACE  POD NAME  ADDRESS  NODE  WAYPOINT  PROTOCOL   (by namespace.name, node)
 *   services   NAMESPACE  SERVICE NAME  SERVICE VIP  WAYPOINT  ENDPOINTS (healthy/total)
 *   policies   NAMESPACE  POLICY NAME  ACTION  SCOPE
 *
 * A waypoint is shown by the name of the service it is addressed as (`namespace/hostname`, or
 * one of its VIPs); `NA` when no service matches, as istioctl prints.
 */
import { splitNetworkAddress, type ZtunnelDump, type ZtunnelGatewayAddress, type ZtunnelPolicy, type ZtunnelService, type ZtunnelWorkload } from '@mesh/workload-api';

function waypointName(waypoint: ZtunnelGatewayAddress | undefined, services: readonly ZtunnelService[]): string {
  if (!waypoint) return 'None';
  for (const s of services) {
    if (`${s.namespace}/${s.hostname}` === waypoint.destination || s.vips.includes(waypoint.destination)) return s.name;
  }
  return 'NA';
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export interface WorkloadDialectRow {
  namespace: string;
  name: string;
  address: string;
  node: string;
  waypoint: string;
  protocol: string;
}

export function workloadDialectWorkloads(dump: ZtunnelDump, filter: (w: ZtunnelWorkload) => boolean = () => true): { rows: WorkloadDialectRow[]; records: ZtunnelWorkload[] } {
  const records = dump.workloads.filter(filter).sort((a, b) => compare(`${a.namespace}.${a.name}`, `${b.namespace}.${b.name}`) || compare(a.node, b.node));
  const rows = records.map((w) => ({
    namespace: w.namespace,
    name: w.name,
    address: w.workloadIps.join(',') || '-',
    node: w.node,
    waypoint: waypointName(w.waypoint, dump.services),
    protocol: w.protocol,
  }));
  return { rows, records };
}

export interface ServiceDialectRow {
  namespace: string;
  name: string;
  vip: string;
  waypoint: string;
  endpoints: string;
}

export function workloadDialectServices(dump: ZtunnelDump, filter: (s: ZtunnelService) => boolean = () => true): { rows: ServiceDialectRow[]; records: ZtunnelService[] } {
  const byUid = new Map(dump.workloads.map((w) => [w.uid, w]));
  const records = dump.services.filter(filter).sort((a, b) => compare(a.namespace, b.namespace) || compare(a.name, b.name) || compare(a.hostname, b.hostname));
  const rows = records.map((s) => {
    const endpoints = Object.values(s.endpoints ?? {});
    const healthy = endpoints.filter((e) => byUid.get(e.workloadUid)?.status === 'Healthy').length;
    return {
      namespace: s.namespace,
      name: s.name,
      vip: s.vips.map((v) => splitNetworkAddress(v).ip).join(',') || '-',
      waypoint: waypointName(s.waypoint, dump.services),
      endpoints: `${healthy}/${endpoints.length}`,
    };
  });
  return { rows, records };
}

export interface PolicyDialectRow {
  namespace: string;
  name: string;
  action: string;
  scope: string;
}

export function workloadDialectPolicies(dump: ZtunnelDump, filter: (p: ZtunnelPolicy) => boolean = () => true): { rows: PolicyDialectRow[]; records: ZtunnelPolicy[] } {
  const records = dump.policies.filter(filter).sort((a, b) => compare(a.namespace, b.namespace) || compare(a.name, b.name));
  return { rows: records.map((p) => ({ namespace: p.namespace, name: p.name, action: p.action, scope: p.scope })), records };
}
