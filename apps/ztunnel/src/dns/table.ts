/**
 * The mesh config → what the DNS proxy answers from (pure). Both dialects compile into one
 * runtime model whose outbound listener carries `serviceVips` (Service FQDN → VIP: read off the
 * Envoy dialect's filter_chain_matcher, or the workload dialect's Service resources; see
 * config/model.ts and config/workload.ts), so DNS answers alike whichever dialect configured
 * the node.
 */
import { parseSpiffeUri } from '@mesh/pki';
import { localWorkloads, workloadOfIp, type RuntimeModel } from '@mesh/ztunnel-plan';
import type { DnsClient, DnsTable } from './plan.js';

const tables = new WeakMap<object, Map<string, DnsTable>>();

/** Service hostnames and VIPs of the model (cached per listener model). */
export function dnsTableOf(model: RuntimeModel, clusterDomain: string): DnsTable {
  const key = model.listeners;
  let byDomain = tables.get(key);
  if (!byDomain) tables.set(key, (byDomain = new Map()));
  let table = byDomain.get(clusterDomain);
  if (!table) {
    const services = new Map<string, string[]>();
    for (const [host, vip] of model.listeners.outbound?.serviceVips ?? []) services.set(host.toLowerCase(), [vip]);
    table = { clusterDomain, services };
    byDomain.set(clusterDomain, table);
  }
  return table;
}

/**
 * The local workload at a source address, with the namespace of its identity (a pod's
 * namespace is its SPIFFE identity's `ns`); undefined for any other source.
 */
export function dnsClientOf(model: RuntimeModel, sourceIp: string): DnsClient | undefined {
  const ip = sourceIp.startsWith('::ffff:') ? sourceIp.slice(7) : sourceIp;
  // Local pods come from the listeners, workload names from the endpoints: index per pair.
  let byEndpoints = clientIndexes.get(model.listeners);
  if (!byEndpoints) clientIndexes.set(model.listeners, (byEndpoints = new WeakMap()));
  let clients = byEndpoints.get(model.endpoints);
  if (!clients) {
    clients = new Map();
    for (const local of localWorkloads(model)) {
      let namespace: string;
      try {
        namespace = parseSpiffeUri(local.identity).namespace;
      } catch {
        continue;
      }
      const workload = workloadOfIp(model, local.ip);
      if (!clients.has(local.ip)) clients.set(local.ip, { namespace, ...(workload ? { workload } : {}) });
    }
    byEndpoints.set(model.endpoints, clients);
  }
  return clients.get(ip);
}

/** Local pods by address, per listener and endpoint model. */
const clientIndexes = new WeakMap<object, WeakMap<object, Map<string, DnsClient>>>();
