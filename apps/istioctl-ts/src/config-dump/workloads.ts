/**
 * The mesh's workloads as config dumps reveal them: EDS endpoint metadata (`istio.workload`,
 * `namespace`, `identity`, set by istiod-lite on every endpoint) names pods and their IPs; each
 * ztunnel's `ztunnel_inbound` filter chains say which pod IPs are local to it. Together they
 * resolve a `name.namespace` target to its IP and its node's ztunnel. A workload-dialect dump
 * lists every workload with its node outright; its ztunnel is `ztunnel-<node>`.
 */
import { workloadIdentity } from '@mesh/workload-api';
import type { ConfigDump } from './config-dump.js';
import { str } from './json.js';
import { endpointAddress, endpointMetadata, localPods, splitHostPort } from './proxy-config-views.js';
import { records } from './json.js';

/** A config dump and the proxy it belongs to (`ztunnel-node-a`, or a file name). */
export interface NamedDump {
  name: string;
  dump: ConfigDump;
}

export interface WorkloadInfo {
  name: string | undefined;
  namespace: string | undefined;
  ip: string;
  identity: string | undefined;
  /** The proxy whose inbound listener serves this IP, when one of the dumps does. */
  proxy: string | undefined;
  /** Captured (has tunnel metadata or a local inbound chain): reached over HBONE. */
  hbone: boolean;
  /** The node, when a dump says it (workload-dialect dumps do). */
  node?: string;
}

/** Every workload any of the dumps knows, by IP; names from EDS metadata, nodes from inbound chains. */
export function meshWorkloads(dumps: readonly NamedDump[]): WorkloadInfo[] {
  const byIp = new Map<string, WorkloadInfo>();
  const get = (ip: string): WorkloadInfo => {
    let w = byIp.get(ip);
    if (!w) {
      w = { name: undefined, namespace: undefined, ip, identity: undefined, proxy: undefined, hbone: false };
      byIp.set(ip, w);
    }
    return w;
  };
  for (const { name: proxy, dump } of dumps) {
    for (const workload of dump.workload?.workloads ?? []) {
      const ip = workload.workloadIps[0];
      if (!ip) continue;
      const w = get(ip);
      w.name ??= workload.name;
      w.namespace ??= workload.namespace;
      w.identity ??= workloadIdentity(workload);
      w.node ??= workload.node;
      w.hbone ||= workload.protocol === 'HBONE' && workload.nativeTunnel !== true;
      // Served by the ztunnel of its node, when that ztunnel's dump is among these.
      const home = dumps.find((d) => d.name === `ztunnel-${workload.node}`)?.name;
      if (w.hbone && home) w.proxy = home;
    }
    for (const pod of localPods(dump)) {
      const w = get(pod.ip);
      w.proxy = proxy;
      w.hbone = true;
      w.identity ??= pod.identity;
    }
    for (const assignment of dump.endpoints) {
      for (const group of records(assignment['endpoints'])) {
        for (const endpoint of records(group['lb_endpoints'])) {
          const istio = endpointMetadata(endpoint, 'istio');
          const [ip] = splitHostPort(endpointAddress(endpoint));
          if (!ip || ip === '-') continue;
          const w = get(ip);
          w.name ??= str(istio['workload']);
          w.namespace ??= str(istio['namespace']);
          w.identity ??= str(istio['identity']);
          if (str(endpointMetadata(endpoint, 'tunnel')['address'])) w.hbone = true;
        }
      }
    }
  }
  return [...byIp.values()].sort((a, b) => compareIps(a.ip, b.ip));
}

export function compareIps(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0 && Number.isFinite(d)) return d;
  }
  return a.localeCompare(b);
}

export function workloadLabel(w: WorkloadInfo): string {
  return w.name ? `${w.name}.${w.namespace ?? ''}` : w.ip;
}

/** `name.namespace` (or `name` in `default`), or an IP. */
export function findWorkload(workloads: readonly WorkloadInfo[], ref: string): WorkloadInfo | undefined {
  if (/^[0-9.]+$|:/.test(ref)) return workloads.find((w) => w.ip === ref);
  const [name, namespace = 'default'] = ref.split('.');
  return workloads.find((w) => w.name === name && (w.namespace ?? 'default') === namespace);
}
