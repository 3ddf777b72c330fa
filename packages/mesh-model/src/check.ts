/**
 * Cross-resource checks: each manifest can be valid on its own and the mesh still be wrong (a
 * pod on an undeclared node, two services on one VIP, a waypoint label naming no waypoint). These
 * are warnings, not parse errors: the snapshot still builds and the rest of the mesh works, but
 * an operator should hear about them. Each names the resource's file and line.
 */
import { isIPv4 } from 'node:net';
import { LABEL_USE_WAYPOINT, LABEL_USE_WAYPOINT_NAMESPACE, LABEL_WAYPOINT_FOR, WAYPOINT_GATEWAY_CLASS, type MeshSnapshot } from './snapshot.js';
import { httpRouteStatus } from './route-status.js';
import type { ManifestError, MeshResource } from './types.js';

/** What a check found, stable for tools (`meshctl analyze` maps them to Istio's analysis codes). */
export type SnapshotCheckCode =
  | 'NODE_NOT_FOUND'
  | 'NAMESPACE_NOT_FOUND'
  | 'SERVICE_ACCOUNT_NOT_FOUND'
  | 'POD_IP_CONFLICT'
  | 'POD_IP_OUTSIDE_CIDR'
  | 'CLUSTER_IP_CONFLICT'
  | 'WAYPOINT_NOT_FOUND'
  | 'NOT_A_WAYPOINT'
  | 'WAYPOINT_TRAFFIC_TYPE'
  | 'ROUTE_PARENT_NOT_ACCEPTED'
  | 'ROUTE_REF_NOT_RESOLVED';

function warning(resource: MeshResource, path: string, message: string, code: SnapshotCheckCode): ManifestError {
  return {
    file: resource.source?.file ?? '<memory>',
    line: resource.source?.line ?? 1,
    column: 1,
    path,
    message,
    kind: resource.kind,
    name: resource.name,
    ...('namespace' in resource ? { namespace: resource.namespace } : {}),
    code,
  };
}

function ipv4InCidr(ip: string, cidr: string): boolean {
  const [base = '', bitsText = '32'] = cidr.split('/');
  if (!isIPv4(ip) || !isIPv4(base)) return true; // only IPv4 is checked
  const toInt = (a: string) => a.split('.').reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
  const bits = Number(bitsText);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (toInt(ip) & mask) === (toInt(base) & mask);
}

/** Warnings about references between resources, in resource order. */
export function checkSnapshot(snapshot: MeshSnapshot): ManifestError[] {
  const out: ManifestError[] = [];
  const ipOwner = new Map<string, string>();
  for (const pod of snapshot.pods.values()) {
    const node = snapshot.nodeOf(pod.nodeName);
    if (!node) out.push(warning(pod, 'spec.nodeName', `node "${pod.nodeName}" is not declared`, 'NODE_NOT_FOUND'));
    if (!snapshot.namespaces.has(pod.namespace)) out.push(warning(pod, 'metadata.namespace', `namespace "${pod.namespace}" is not declared`, 'NAMESPACE_NOT_FOUND'));
    if (pod.serviceAccountName !== 'default' && !snapshot.serviceAccounts.has(`${pod.namespace}/${pod.serviceAccountName}`)) {
      out.push(warning(pod, 'spec.serviceAccountName', `service account "${pod.serviceAccountName}" is not declared in namespace "${pod.namespace}"`, 'SERVICE_ACCOUNT_NOT_FOUND'));
    }
    if (pod.podIP && !pod.hostNetwork) {
      const other = ipOwner.get(pod.podIP);
      if (other) out.push(warning(pod, 'status.podIP', `IP ${pod.podIP} is also the IP of ${other}`, 'POD_IP_CONFLICT'));
      else ipOwner.set(pod.podIP, `pod ${pod.namespace}/${pod.name}`);
      if (node?.podCidr && !ipv4InCidr(pod.podIP, node.podCidr)) {
        out.push(warning(pod, 'status.podIP', `IP ${pod.podIP} is outside node ${node.name}'s pod CIDR ${node.podCidr}, so connections to it by pod IP are not captured`, 'POD_IP_OUTSIDE_CIDR'));
      }
    }
  }
  const vipOwner = new Map<string, string>();
  for (const svc of snapshot.services.values()) {
    if (svc.clusterIP) {
      const other = vipOwner.get(svc.clusterIP) ?? ipOwner.get(svc.clusterIP);
      if (other) out.push(warning(svc, 'spec.clusterIP', `IP ${svc.clusterIP} is also used by ${other}`, 'CLUSTER_IP_CONFLICT'));
      else vipOwner.set(svc.clusterIP, `service ${svc.namespace}/${svc.name}`);
    }
  }
  // A use-waypoint label that resolves to nothing silently sends traffic around the waypoint.
  const targets = [...snapshot.namespaces.values(), ...snapshot.services.values(), ...snapshot.pods.values()];
  for (const target of targets) {
    const name = target.labels[LABEL_USE_WAYPOINT];
    if (!name || name === 'none') continue;
    const ns = target.labels[LABEL_USE_WAYPOINT_NAMESPACE] ?? ('namespace' in target ? target.namespace : target.name);
    const gw = snapshot.gateways.get(`${ns}/${name}`);
    const path = `metadata.labels.${LABEL_USE_WAYPOINT}`;
    if (!gw) out.push(warning(target, path, `waypoint Gateway ${ns}/${name} is not declared`, 'WAYPOINT_NOT_FOUND'));
    else if (gw.gatewayClassName !== WAYPOINT_GATEWAY_CLASS) out.push(warning(target, path, `Gateway ${ns}/${name} is not a waypoint (gatewayClassName is "${gw.gatewayClassName}", expected "${WAYPOINT_GATEWAY_CLASS}")`, 'NOT_A_WAYPOINT'));
    else {
      // The waypoint's traffic type must cover what the label enrolls (a Namespace enrolls both).
      const type = gw.labels[LABEL_WAYPOINT_FOR] ?? 'service';
      const wanted = target.kind === 'Service' ? 'service' : target.kind === 'Pod' ? 'workload' : undefined;
      const covered = type === 'all' || (wanted === undefined ? type !== 'none' : type === wanted);
      if (!covered) {
        const what = wanted === 'service' ? 'traffic addressed to this Service' : wanted === 'workload' ? "traffic addressed to this pod's IP" : 'any traffic of this namespace';
        out.push(warning(target, path, `waypoint ${ns}/${name} takes ${type === 'none' ? 'no' : `only ${type}`} traffic (${LABEL_WAYPOINT_FOR}: ${type}), so ${what} goes around it`, 'WAYPOINT_TRAFFIC_TYPE'));
      }
    }
  }
  // Routes: every parentRef that binds to nothing and every reference that does not resolve,
  // as their status says (route-status.ts).
  for (const route of snapshot.httpRoutes.values()) {
    const status = httpRouteStatus(snapshot, route);
    status.parents.forEach(({ conditions: [accepted] }, i) => {
      if (accepted.status === 'False') out.push(warning(route, `spec.parentRefs[${i}]`, `not accepted (${accepted.reason}): ${accepted.message}`, 'ROUTE_PARENT_NOT_ACCEPTED'));
    });
    for (const problem of status.refProblems) out.push(warning(route, problem.path, `ResolvedRefs=False (${problem.reason}): ${problem.message}; requests for it get 500`, 'ROUTE_REF_NOT_RESOLVED'));
  }
  return out;
}
