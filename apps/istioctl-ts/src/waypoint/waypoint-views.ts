/**
 * `meshctl waypoint` views, pure over a snapshot of the manifests: the waypoints (Gateways of
 * class istio-waypoint) with istioctl's columns, their status conditions, and the Gateway
 * `generate` prints. This mesh has no deployment controller: a waypoint runs where a pod
 * labelled `gateway.networking.k8s.io/gateway-name: <name>` is declared (`meshctl dev` starts
 * it), so PROGRAMMED says whether one is.
 */
import { stringify as toYaml } from 'yaml';
import { LABEL_GATEWAY_NAME, LABEL_WAYPOINT_FOR, WAYPOINT_GATEWAY_CLASS, type Gateway, type MeshSnapshot, type Pod } from '@mesh/mesh-model';
import { renderTable } from '../render/table.js';

/** istioctl's `--for` values (the `istio.io/waypoint-for` label); `service` when absent. */
export const WAYPOINT_FOR = ['service', 'workload', 'all', 'none'] as const;
export type WaypointFor = (typeof WAYPOINT_FOR)[number];

/** The HBONE listener every waypoint has (istioctl generates the same). */
const MESH_LISTENER = { name: 'mesh', port: 15008, protocol: 'HBONE' } as const;

export interface WaypointInfo {
  gateway: Gateway;
  trafficType: string;
  pods: Pod[];
}

export function waypoints(snapshot: MeshSnapshot, namespace?: string): WaypointInfo[] {
  return [...snapshot.gateways.values()]
    .filter((g) => g.gatewayClassName === WAYPOINT_GATEWAY_CLASS && (namespace === undefined || g.namespace === namespace))
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name))
    .map((gateway) => ({
      gateway,
      trafficType: gateway.labels[LABEL_WAYPOINT_FOR] ?? 'service',
      pods: [...snapshot.pods.values()].filter((p) => p.namespace === gateway.namespace && p.labels[LABEL_GATEWAY_NAME] === gateway.name),
    }));
}

export function waypointListTable(list: readonly WaypointInfo[]): string {
  return renderTable(
    ['NAMESPACE', 'NAME', 'REVISION', 'TRAFFIC TYPE', 'PROGRAMMED'],
    list.map((w) => [w.gateway.namespace, w.gateway.name, 'default', w.trafficType, w.pods.length > 0 ? 'True' : 'False']),
  );
}

export interface WaypointCondition {
  namespace: string;
  name: string;
  status: 'True' | 'False';
  type: 'Accepted' | 'Programmed';
  reason: string;
  message: string;
}

/** The Gateway API conditions a waypoint's status would carry here. */
export function waypointConditions(w: WaypointInfo): WaypointCondition[] {
  const { namespace, name } = w.gateway;
  const hbone = w.gateway.listeners.some((l) => l.port === MESH_LISTENER.port && l.protocol === MESH_LISTENER.protocol);
  const accepted: WaypointCondition = hbone
    ? { namespace, name, status: 'True', type: 'Accepted', reason: 'Accepted', message: 'Resource accepted' }
    : { namespace, name, status: 'False', type: 'Accepted', reason: 'ListenersNotValid', message: `a waypoint needs listener ${MESH_LISTENER.name}: port ${MESH_LISTENER.port}, protocol ${MESH_LISTENER.protocol}` };
  const programmed: WaypointCondition =
    w.pods.length > 0
      ? { namespace, name, status: 'True', type: 'Programmed', reason: 'Programmed', message: `Resource programmed, run by ${w.pods.map((p) => `pod ${p.name} on ${p.nodeName}`).join(', ')}` }
      : { namespace, name, status: 'False', type: 'Programmed', reason: 'Pending', message: `no pod labelled ${LABEL_GATEWAY_NAME}: ${name} in ${namespace}: nothing runs this waypoint` };
  return [accepted, programmed];
}

export function waypointStatusTable(list: readonly WaypointInfo[]): string {
  return renderTable(
    ['NAMESPACE', 'NAME', 'STATUS', 'TYPE', 'REASON', 'MESSAGE'],
    list.flatMap(waypointConditions).map((c) => [c.namespace, c.name, c.status, c.type, c.reason, c.message]),
  );
}

/** The Gateway istioctl waypoint generate prints; without a traffic type no label (the mesh reads `service`). */
export function waypointGateway(name: string, namespace: string, trafficType: WaypointFor | undefined): Record<string, unknown> {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { ...(trafficType !== undefined ? { labels: { [LABEL_WAYPOINT_FOR]: trafficType } } : {}), name, namespace },
    spec: { gatewayClassName: WAYPOINT_GATEWAY_CLASS, listeners: [{ ...MESH_LISTENER }] },
  };
}

export function waypointGatewayYaml(name: string, namespace: string, trafficType: WaypointFor): string {
  return toYaml(waypointGateway(name, namespace, trafficType), { lineWidth: 0 });
}
