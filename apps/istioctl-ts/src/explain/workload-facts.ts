/**
 * What `x explain` shows of a workload-dialect mesh besides ztunnel's decision trace: the facts of
 * the Istio workload API records (docs/workload-api.md) the planner's model was compiled from.
 * The model has no Envoy matcher to trace, so the records say what the source and the destination
 * address are (a service VIP and its ports, a waypoint, a pod and its node); the decisions stay
 * the planner's (explain.ts).
 */
import { splitNetworkAddress, type ZtunnelDump, type ZtunnelWorkload } from '@mesh/workload-api';
import type { Endpoint } from '@mesh/ztunnel-plan';
import { splitHostPort } from '../config-dump/proxy-config-views.js';
import { workloadLabel, type WorkloadInfo } from '../config-dump/workloads.js';
import type { ExplainStep, Explanation, VipLookup } from './types.js';

const label = (w: ZtunnelWorkload) => `${w.name}.${w.namespace}`;
const ipOf = (address: string) => splitNetworkAddress(address).ip;
const recordOf = (held: ZtunnelDump, ip: string) => held.workloads.find((w) => w.workloadIps.includes(ip));

/** A Service by hostname, at its first VIP, whatever the port (an unknown port is the planner's passthrough). */
export function serviceVipOf(held: ZtunnelDump): VipLookup {
  return {
    vip: (fqdn) => {
      const vip = held.services.find((s) => s.hostname === fqdn && s.vips.length > 0)?.vips[0];
      return vip === undefined ? undefined : ipOf(vip);
    },
    needs: () => ' with a VIP',
  };
}

/** The source pod, its node and the ztunnel there, which captures its outbound connections. */
export function sourceFacts(source: WorkloadInfo, proxy: string): ExplainStep {
  return {
    proxy,
    title: `source ${workloadLabel(source)} (${source.ip}) is a workload on ${source.node ?? '?'} (protocol HBONE): ${proxy} captures its outbound connections`,
    details: [`identity ${source.identity ?? '?'}`],
  };
}

/** A pod no ztunnel captures: its connections never reach one. */
export function uncapturedSource(held: ZtunnelDump, source: WorkloadInfo, proxy: string): ExplainStep {
  const w = recordOf(held, source.ip);
  return {
    proxy,
    title: `source ${workloadLabel(source)} (${source.ip}) is not captured (protocol ${w?.protocol ?? '?'}${w?.nativeTunnel ? ', native tunnel' : ''}): no ztunnel handles its outbound traffic`,
    details: [],
  };
}

/** What the destination address is in the records: a service VIP (and its waypoint), a pod (and its waypoint), or neither. */
export function destinationFacts(held: ZtunnelDump, destination: Explanation['destination'], proxy: string): ExplainStep[] {
  const { ip, port } = destination;
  const service = held.services.find((s) => s.vips.some((v) => ipOf(v) === ip));
  if (service) {
    const known = service.ports[String(port)] !== undefined;
    const steps: ExplainStep[] = [
      {
        proxy,
        title: `destination ${ip}:${port} is service ${service.hostname} (${service.namespace}/${service.hostname})${known ? `, port ${port}` : `, which has no port ${port}`}`,
        details: [`ports: ${Object.entries(service.ports).map(([p, t]) => `${p} → ${t === 0 ? 'per endpoint' : t}`).join(', ')}`],
      },
    ];
    if (known && service.waypoint) {
      steps.push({ proxy, title: `service ${service.name} uses waypoint ${service.waypoint.destination}: the connection goes to the waypoint, :authority ${ip}:${port}`, details: [] });
    }
    return steps;
  }
  const w = recordOf(held, ip);
  if (!w) return [{ proxy, title: `destination ${ip}:${port} is neither a service VIP nor a workload the mesh knows`, details: [] }];
  const captured = w.protocol === 'HBONE' && w.nativeTunnel !== true;
  const what = !captured
    ? `, which is not captured (protocol ${w.protocol}${w.nativeTunnel ? ', native tunnel' : ''})`
    : w.waypoint
      ? `, which uses waypoint ${w.waypoint.destination}: the connection goes to the waypoint, :authority ${ip}:${port}`
      : ` on ${w.node} (protocol HBONE)`;
  return [{ proxy, title: `destination ${ip} is workload ${label(w)}${what}`, details: [] }];
}

/** A cluster's endpoints from the model (named as ztunnel names them: the pod's, or the waypoint's, address), with the pods behind them. */
export function endpointFacts(workloads: readonly WorkloadInfo[], endpoints: readonly Endpoint[]): string[] {
  return endpoints.map((e) => {
    const address = e.kind === 'socket' ? e.address : (e.endpointId ?? e.tunnel.address);
    const [ip] = splitHostPort(address);
    const pod = workloads.find((w) => w.ip === ip);
    return `${address} ${e.healthy ? 'Healthy' : 'Unhealthy'}${pod?.name !== undefined ? ` (${workloadLabel(pod)})` : e.workload !== undefined ? ` (${e.workload})` : ''}`;
  });
}
