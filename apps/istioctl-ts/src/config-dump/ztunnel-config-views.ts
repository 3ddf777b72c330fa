/**
 * `meshctl ztunnel-config` views: istioctl's workload/service/policy tables, derived from the
 * Envoy config a ztunnel runs (this project's ztunnel speaks Envoy xDS, not the workload API, so
 * the dump is the source of truth: EDS metadata, the outbound matcher, the inbound RBAC filters).
 */
import type { ConfigDump } from './config-dump.js';
import { resourceName } from './config-dump.js';
import { chainMatchPrefixes, chainTarget } from './filter-chains.js';
import { rec, records, str, type JsonRecord } from './json.js';
import { endpointAddress, endpointMetadata, splitHostPort } from './proxy-config-views.js';
import { filterChainsByName, matcherLeaves } from './matcher.js';
import { INBOUND_LISTENER, OUTBOUND_LISTENER, parseRbacPolicyKey, parseServiceClusterName, serviceOfFqdn } from './names.js';
import { meshWorkloads, workloadLabel, type NamedDump } from './workloads.js';
import type { WorkloadDialectRow } from './workload-views.js';

/** A `ztunnel-config workloads` row: the workload dialect's columns, and whether it is local. */
export interface WorkloadRow extends WorkloadDialectRow {
  /** True when the workload runs on this ztunnel's node. */
  local: boolean;
}

/** `ztunnel-node-a` → `node-a`. */
export function nodeOfProxy(proxy: string): string {
  return proxy.startsWith('ztunnel-') ? proxy.slice('ztunnel-'.length) : proxy;
}

export function workloadRows(dumps: readonly NamedDump[], self: string): WorkloadRow[] {
  return meshWorkloads(dumps).map((w) => ({
    namespace: w.namespace ?? '-',
    name: w.name ?? '-',
    address: w.ip,
    node: w.proxy ? nodeOfProxy(w.proxy) : '-',
    waypoint: 'None',
    protocol: w.hbone ? 'HBONE' : 'TCP',
    local: w.proxy === self,
  }));
}

export interface ServiceRow {
  namespace: string;
  name: string;
  vip: string;
  ports: string;
  waypoint: string;
  /** healthy/total endpoints. */
  endpoints: string;
}

export function serviceRows(dump: ConfigDump): ServiceRow[] {
  const outbound = dump.listeners.find((l) => resourceName(l) === OUTBOUND_LISTENER);
  if (!outbound) return [];
  const chains = filterChainsByName(outbound);
  const byVip = new Map<string, { fqdn: string; ports: Set<string>; clusters: Set<string> }>();
  for (const leaf of matcherLeaves(rec(outbound['filter_chain_matcher']))) {
    const vip = leaf.branches.find((b) => b.input === 'destination IP' && b.kind === 'exact')?.key;
    const port = leaf.branches.find((b) => b.input === 'destination port' && b.kind === 'exact')?.key;
    const cluster = chainTarget(chains.get(leaf.chain) ?? {}).cluster ?? leaf.chain;
    const parsed = parseServiceClusterName(cluster);
    if (!vip || !port || !parsed) continue;
    const entry = byVip.get(vip) ?? { fqdn: parsed.fqdn, ports: new Set<string>(), clusters: new Set<string>() };
    entry.ports.add(port);
    entry.clusters.add(cluster);
    byVip.set(vip, entry);
  }
  return [...byVip]
    .map(([vip, entry]) => {
      // Every source identity has its own cluster with the same endpoints; count one of them.
      const assignment = dump.endpoints.find((e) => entry.clusters.has(resourceName(e)));
      const endpoints = records(assignment?.['endpoints']).flatMap((g) => records(g['lb_endpoints']));
      const healthy = endpoints.filter((e) => (str(e['health_status']) ?? 'HEALTHY') === 'HEALTHY').length;
      const { name, namespace } = serviceOfFqdn(entry.fqdn);
      return {
        namespace,
        name,
        vip,
        ports: [...entry.ports].sort((a, b) => Number(a) - Number(b)).join(','),
        waypoint: waypointOf(endpoints),
        endpoints: assignment ? `${healthy}/${endpoints.length}` : '-',
      };
    })
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}

/**
 * A Service behind a waypoint has endpoints whose tunnel goes to the waypoint, not to the pod
 * (docs/model.md, routing rule 5): tunnel.address ≠ endpoint:15008.
 */
function waypointOf(endpoints: readonly JsonRecord[]): string {
  for (const endpoint of endpoints) {
    const tunnelAddress = str(endpointMetadata(endpoint, 'tunnel')['address']);
    const [endpointIp] = splitHostPort(endpointAddress(endpoint));
    if (tunnelAddress && splitHostPort(tunnelAddress)[0] !== endpointIp) return tunnelAddress;
  }
  return 'None';
}

export interface PolicyRow {
  namespace: string;
  name: string;
  action: string;
  /** The workloads on this node it is enforced for. */
  scope: string;
}

export function policyRows(dumps: readonly NamedDump[], self: string): PolicyRow[] {
  const own = dumps.find((d) => d.name === self);
  if (!own) return [];
  const inbound = own.dump.listeners.find((l) => resourceName(l) === INBOUND_LISTENER);
  const labels = new Map(meshWorkloads(dumps).map((w) => [w.ip, workloadLabel(w)]));
  const policies = new Map<string, { namespace: string; name: string; action: string; scope: Set<string> }>();
  for (const chain of records(inbound?.['filter_chains'])) {
    const ips = chainMatchPrefixes(chain);
    for (const rbac of chainTarget(chain).rbac) {
      // Enforced rules, and dry-run (shadow) rules shown as such.
      for (const [rules, dryRun] of [[rec(rbac['rules']), false], [rec(rbac['shadow_rules']), true]] as const) {
        const action = `${str(rules['action']) ?? 'ALLOW'}${dryRun ? ' (dry-run)' : ''}`;
        for (const key of Object.keys(rec(rules['policies']))) {
          const parsed = parseRbacPolicyKey(key);
          const id = `${parsed?.namespace ?? ''}/${parsed?.name ?? key}/${action}`;
          const entry = policies.get(id) ?? { namespace: parsed?.namespace ?? '-', name: parsed?.name ?? key, action, scope: new Set<string>() };
          for (const ip of ips) entry.scope.add(labels.get(ip) ?? ip);
          policies.set(id, entry);
        }
      }
    }
  }
  return [...policies.values()]
    .map((p) => ({ namespace: p.namespace, name: p.name, action: p.action, scope: [...p.scope].sort().join(', ') }))
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}


