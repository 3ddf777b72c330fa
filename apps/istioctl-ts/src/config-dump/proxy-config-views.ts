/**
 * Config dump → the rows of `meshctl proxy-config` tables, with istioctl's columns. Pure: each
 * function takes the parsed dump (and a clock for certificates) and returns data; formatting is
 * the command's business.
 */
import { X509Certificate } from 'node:crypto';
import type { ConfigDump } from './config-dump.js';
import { resourceName } from './config-dump.js';
import { chainMatchPrefixes, chainTarget, type ChainTarget } from './filter-chains.js';
import { arr, num, rec, records, str, type JsonRecord } from './json.js';
import { filterChainsByName, formatMatch, matcherLeaves, type MatchBranch } from './matcher.js';
import { INBOUND_LISTENER, OUTBOUND_LISTENER, TUNNEL_CLUSTER_PREFIX, parseServiceClusterName, shortIdentity, sourceIdentityOf } from './names.js';

/** Narrows tables to one pod (a `name.namespace` target): its IP and its identity. */
export interface PodScope {
  ip: string;
  identity?: string | undefined;
}

export interface ListenerRow {
  listener: string;
  addresses: string;
  port: string;
  match: string;
  destination: string;
  /** TCP (tcp_proxy) or HTTP (connection manager): istioctl's `--type`. */
  type: 'TCP' | 'HTTP' | '-';
  /** IPs and ports the match names, for --address / --port / pod filtering. */
  matchIps: string[];
  matchPorts: string[];
}

function listenerAddress(listener: JsonRecord): { address: string; port: string } {
  const socket = rec(rec(listener['address'])['socket_address']);
  if (listener['internal_listener'] !== undefined) return { address: 'internal', port: '-' };
  return { address: str(socket['address']) ?? '-', port: String(num(socket['port_value']) ?? '-') };
}

function describeTarget(chainName: string, target: ChainTarget | undefined): string {
  if (!target) return `Chain: ${chainName} (missing)`;
  const parts: string[] = [];
  if (target.cluster) parts.push(`Cluster: ${target.cluster}`);
  else if (target.routeConfigName) parts.push(`Route: ${target.routeConfigName}`);
  else parts.push(`Chain: ${chainName}`);
  if (target.tunnelHostname) parts.push('(tunnel)');
  if (target.rbac.length > 0) {
    const action = (r: JsonRecord) => (r['rules'] !== undefined ? (str(rec(r['rules'])['action']) ?? 'ALLOW') : `${str(rec(r['shadow_rules'])['action']) ?? 'ALLOW'}(dry-run)`);
    parts.push(`RBAC: ${target.rbac.map(action).join('+')}`);
  }
  return parts.join(' ');
}

function typeOf(target: ChainTarget | undefined): ListenerRow['type'] {
  return target?.kind === 'tcp' ? 'TCP' : target?.kind === 'http' ? 'HTTP' : '-';
}

function branchValues(branches: readonly MatchBranch[], input: string): string[] {
  return branches.filter((b) => b.input === input && b.kind !== 'no match').map((b) => b.key!);
}

/** Listeners by port as istioctl lists them, internal listeners (no port) last. */
function byPort(listeners: readonly JsonRecord[]): JsonRecord[] {
  const portOf = (l: JsonRecord) => Number(listenerAddress(l).port) || Number.MAX_SAFE_INTEGER;
  return [...listeners].sort((a, b) => portOf(a) - portOf(b) || resourceName(a).localeCompare(resourceName(b)));
}

export function listenerRows(dump: ConfigDump): ListenerRow[] {
  const rows: ListenerRow[] = [];
  for (const listener of byPort(dump.listeners)) {
    const name = resourceName(listener);
    const { address, port } = listenerAddress(listener);
    const chains = filterChainsByName(listener);
    const targets = new Map([...chains].map(([chainName, chain]) => [chainName, chainTarget(chain)]));
    const base = { listener: name, addresses: address, port };
    if (listener['filter_chain_matcher'] !== undefined) {
      for (const leaf of matcherLeaves(rec(listener['filter_chain_matcher']))) {
        const target = targets.get(leaf.chain);
        rows.push({
          ...base,
          match: formatMatch(leaf.branches),
          destination: describeTarget(leaf.chain, target),
          type: typeOf(target),
          matchIps: [...branchValues(leaf.branches, 'source IP'), ...branchValues(leaf.branches, 'destination IP')],
          matchPorts: branchValues(leaf.branches, 'destination port'),
        });
      }
      continue;
    }
    for (const [chainName, chain] of chains) {
      const prefixes = chainMatchPrefixes(chain);
      const sources = chainMatchPrefixes(chain, 'source_prefix_ranges');
      const ports = [num(rec(chain['filter_chain_match'])['destination_port'])].filter((p): p is number => p !== undefined).map(String);
      const matchParts = [...sources.map((s) => `src ${s}`), ...prefixes.map((p) => `dst ${p}`), ...ports.map((p) => `port ${p}`)];
      const target = targets.get(chainName);
      rows.push({
        ...base,
        match: matchParts.length > 0 ? matchParts.join(' → ') : 'ALL',
        destination: describeTarget(chainName, target),
        type: typeOf(target),
        matchIps: [...sources, ...prefixes],
        matchPorts: ports,
      });
    }
    const defaultChain = listener['default_filter_chain'];
    if (defaultChain !== undefined) {
      const target = chainTarget(rec(defaultChain));
      rows.push({ ...base, match: 'ALL (default)', destination: describeTarget('default', target), type: typeOf(target), matchIps: [], matchPorts: [] });
    }
  }
  return rows;
}

export interface ListenerFilter {
  port?: number | undefined;
  address?: string | undefined;
  type?: string | undefined;
  pod?: PodScope | undefined;
}

export function filterListenerRows(rows: readonly ListenerRow[], filter: ListenerFilter): ListenerRow[] {
  return rows.filter((row) => {
    if (filter.port !== undefined && row.port !== String(filter.port) && !row.matchPorts.includes(String(filter.port))) return false;
    if (filter.address !== undefined && row.addresses !== filter.address && !row.matchIps.some((ip) => ipMatches(ip, filter.address!))) return false;
    if (filter.type !== undefined && row.type !== filter.type.toUpperCase()) return false;
    if (filter.pod) {
      const { ip, identity } = filter.pod;
      const forPod = row.matchIps.includes(ip) || (identity !== undefined && row.listener === `outbound_tunnel_lis_${identity}`);
      if (!forPod) return false;
    }
    return true;
  });
}

/** `10.77.1.` (a prefix key) or `10.77.1.0/24` matches addresses inside it; otherwise equality. */
function ipMatches(pattern: string, ip: string): boolean {
  if (pattern === ip) return true;
  if (pattern.endsWith('.') || pattern.endsWith(':')) return ip.startsWith(pattern);
  return false;
}

export interface ClusterRow {
  name: string;
  service: string;
  port: string;
  subset: string;
  direction: string;
  type: string;
  /** Whose outbound cluster it is (`ns/sa`), `-` when shared. */
  source: string;
  sourceIdentity: string | undefined;
  /** A Service's cluster (its FQDN parsed from the name), not an infrastructure one. */
  isService: boolean;
}

/** Ports each cluster is reached on, read from ztunnel_outbound's matcher (cluster names carry no port). */
function clusterPorts(dump: ConfigDump): Map<string, Set<string>> {
  const ports = new Map<string, Set<string>>();
  const outbound = dump.listeners.find((l) => resourceName(l) === OUTBOUND_LISTENER);
  if (!outbound) return ports;
  const chains = filterChainsByName(outbound);
  for (const leaf of matcherLeaves(rec(outbound['filter_chain_matcher']))) {
    const cluster = chainTarget(chains.get(leaf.chain) ?? {}).cluster;
    if (!cluster) continue;
    for (const port of branchValues(leaf.branches, 'destination port')) {
      const set = ports.get(cluster) ?? new Set<string>();
      set.add(port);
      ports.set(cluster, set);
    }
  }
  return ports;
}

export function clusterRows(dump: ConfigDump): ClusterRow[] {
  const ports = clusterPorts(dump);
  return dump.clusters.map((cluster) => {
    const name = resourceName(cluster);
    const parsed = parseServiceClusterName(name);
    const sourceIdentity = sourceIdentityOf(name);
    const direction = parsed || name.startsWith(TUNNEL_CLUSTER_PREFIX) ? 'outbound' : name === 'virtual_inbound' ? 'inbound' : '-';
    const portList = [...(ports.get(name) ?? [])].sort((a, b) => Number(a) - Number(b));
    return {
      name,
      service: parsed?.fqdn ?? name,
      port: portList.length > 0 ? portList.join(',') : name.startsWith(TUNNEL_CLUSTER_PREFIX) ? String(num(rec(cluster['original_dst_lb_config'])['upstream_port_override']) ?? '-') : '-',
      subset: '-',
      direction,
      type: str(cluster['type']) ?? (cluster['cluster_type'] !== undefined ? 'CUSTOM' : 'STATIC'),
      source: sourceIdentity ? shortIdentity(sourceIdentity) : '-',
      sourceIdentity,
      isService: parsed !== undefined,
    };
  });
}

export interface ClusterFilter {
  fqdn?: string | undefined;
  port?: number | undefined;
  direction?: string | undefined;
  type?: string | undefined;
  pod?: PodScope | undefined;
}

export function filterClusterRows(rows: readonly ClusterRow[], filter: ClusterFilter): ClusterRow[] {
  return rows.filter((row) => {
    // Like istioctl, a partial FQDN (`reviews`, `reviews.default`) selects a Service's clusters;
    // infrastructure clusters (BlackHoleCluster, outbound_tunnel_clus_…) only by their full name.
    if (filter.fqdn !== undefined && !(row.isService ? row.service.startsWith(filter.fqdn) : row.service === filter.fqdn)) return false;
    if (filter.port !== undefined && !row.port.split(',').includes(String(filter.port))) return false;
    if (filter.direction !== undefined && row.direction !== filter.direction.toLowerCase()) return false;
    if (filter.type !== undefined && row.type !== filter.type.toUpperCase()) return false;
    if (filter.pod?.identity !== undefined && row.sourceIdentity !== filter.pod.identity) return false;
    return true;
  });
}

export interface EndpointRow {
  endpoint: string;
  status: string;
  locality: string;
  cluster: string;
  tunnelAddress: string;
  tunnelDestination: string;
  workload: string;
  identity: string | undefined;
}

export function endpointAddress(endpoint: JsonRecord): string {
  const address = rec(rec(endpoint['endpoint'])['address']);
  const internal = rec(address['envoy_internal_address']);
  const endpointId = str(internal['endpoint_id']);
  if (endpointId) return endpointId;
  const socket = rec(address['socket_address']);
  const ip = str(socket['address']);
  return ip ? `${ip}:${String(num(socket['port_value']) ?? '')}` : '-';
}

export function endpointMetadata(endpoint: JsonRecord, key: string): JsonRecord {
  return rec(rec(rec(endpoint['metadata'])['filter_metadata'])[key]);
}

function localityOf(locality: JsonRecord): string {
  const parts = [str(locality['region']), str(locality['zone']), str(locality['sub_zone'])].filter((p): p is string => !!p);
  return parts.length > 0 ? parts.join('/') : '-';
}

export function endpointRows(dump: ConfigDump): EndpointRow[] {
  const rows: EndpointRow[] = [];
  for (const assignment of dump.endpoints) {
    const cluster = resourceName(assignment);
    for (const group of records(assignment['endpoints'])) {
      const locality = localityOf(rec(group['locality']));
      for (const endpoint of records(group['lb_endpoints'])) {
        const tunnel = endpointMetadata(endpoint, 'tunnel');
        const istio = endpointMetadata(endpoint, 'istio');
        const workload = str(istio['workload']);
        const namespace = str(istio['namespace']);
        rows.push({
          endpoint: endpointAddress(endpoint),
          status: str(endpoint['health_status']) ?? 'HEALTHY',
          locality,
          cluster,
          tunnelAddress: str(tunnel['address']) ?? '-',
          tunnelDestination: str(tunnel['destination']) ?? '-',
          workload: workload ? (namespace ? `${workload}.${namespace}` : workload) : '-',
          identity: str(istio['identity']),
        });
      }
    }
  }
  return rows;
}

export interface EndpointFilter {
  address?: string | undefined;
  port?: number | undefined;
  cluster?: string | undefined;
  status?: string | undefined;
  pod?: PodScope | undefined;
}

export function filterEndpointRows(rows: readonly EndpointRow[], filter: EndpointFilter): EndpointRow[] {
  return rows.filter((row) => {
    const [ip, port] = splitHostPort(row.endpoint);
    if (filter.address !== undefined && ip !== filter.address) return false;
    if (filter.port !== undefined && port !== String(filter.port)) return false;
    if (filter.cluster !== undefined && !row.cluster.includes(filter.cluster)) return false;
    if (filter.status !== undefined && row.status !== filter.status.toUpperCase()) return false;
    if (filter.pod?.identity !== undefined && sourceIdentityOf(row.cluster) !== filter.pod.identity) return false;
    return true;
  });
}

export function splitHostPort(hostPort: string): [string, string] {
  const i = hostPort.lastIndexOf(':');
  if (i < 0) return [hostPort, ''];
  return [hostPort.slice(0, i).replace(/^\[|\]$/g, ''), hostPort.slice(i + 1)];
}

export interface RouteRow {
  name: string;
  virtualHost: string;
  domains: string;
  match: string;
  destination: string;
}

function routeRowsOf(routeConfig: JsonRecord): RouteRow[] {
  const name = resourceName(routeConfig);
  return records(routeConfig['virtual_hosts']).flatMap((host) =>
    records(host['routes']).map((route) => {
      const match = rec(route['match']);
      const action = rec(route['route']);
      return {
        name,
        virtualHost: str(host['name']) ?? '-',
        domains: arr(host['domains']).map(String).join(',') || '-',
        match:
          match['connect_matcher'] !== undefined
            ? 'CONNECT'
            : (str(match['prefix']) ?? str(match['path']) ?? str(rec(match['safe_regex'])['regex']) ?? str(match['path_separated_prefix']) ?? '/*'),
        destination: str(action['cluster']) ?? (action['weighted_clusters'] !== undefined ? 'weighted clusters' : route['direct_response'] !== undefined ? 'direct response' : '-'),
      };
    }),
  );
}

/** RDS route configurations plus those inlined in connection managers (ztunnel_inbound's `local_route`), once each. */
export function routeRows(dump: ConfigDump): RouteRow[] {
  const inline = dump.listeners.flatMap((listener) =>
    records(listener['filter_chains']).flatMap((chain) =>
      records(chain['filters'])
        .map((filter) => rec(rec(filter['typed_config'])['route_config']))
        .filter((config) => Object.keys(config).length > 0),
    ),
  );
  const seen = new Set<string>();
  return [...dump.routes, ...inline].flatMap(routeRowsOf).filter((row) => {
    const key = JSON.stringify(row);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export interface SecretRow {
  resourceName: string;
  type: 'Cert Chain' | 'CA';
  status: string;
  valid: boolean;
  serialNumber: string;
  notAfter: string;
  notBefore: string;
}

/** PEM text of a DataSource (`inline_bytes` base64, `inline_string`); file-backed sources are not readable from here. */
function dataSourceText(source: JsonRecord): string | undefined {
  const inlineString = str(source['inline_string']);
  if (inlineString) return inlineString;
  const inlineBytes = str(source['inline_bytes']);
  return inlineBytes ? Buffer.from(inlineBytes, 'base64').toString('utf8') : undefined;
}

function certificateRow(name: string, type: SecretRow['type'], status: string, pem: string | undefined, now: Date): SecretRow {
  const first = pem ? /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0] : undefined;
  if (!first) return { resourceName: name, type, status, valid: false, serialNumber: '-', notAfter: '-', notBefore: '-' };
  try {
    const cert = new X509Certificate(first);
    const notBefore = new Date(cert.validFrom);
    const notAfter = new Date(cert.validTo);
    return {
      resourceName: name,
      type,
      status,
      valid: now >= notBefore && now <= notAfter,
      serialNumber: cert.serialNumber.toLowerCase(),
      notAfter: notAfter.toISOString(),
      notBefore: notBefore.toISOString(),
    };
  } catch {
    return { resourceName: name, type, status, valid: false, serialNumber: 'unparsable', notAfter: '-', notBefore: '-' };
  }
}

export function secretRows(dump: ConfigDump, now: Date): SecretRow[] {
  return dump.secrets.flatMap((entry) => {
    const rows: SecretRow[] = [];
    const tlsCertificate = rec(entry.secret['tls_certificate']);
    if (Object.keys(tlsCertificate).length > 0) {
      rows.push(certificateRow(entry.name, 'Cert Chain', entry.state, dataSourceText(rec(tlsCertificate['certificate_chain'])), now));
    }
    const validation = rec(entry.secret['validation_context']);
    if (Object.keys(validation).length > 0) {
      rows.push(certificateRow(entry.name, 'CA', entry.state, dataSourceText(rec(validation['trusted_ca'])), now));
    }
    return rows;
  });
}

/** The local pod IPs of a ztunnel (its `ztunnel_inbound` chains), each with the identity it serves. */
export function localPods(dump: ConfigDump): { ip: string; identity: string | undefined; chain: string }[] {
  const inbound = dump.listeners.find((l) => resourceName(l) === INBOUND_LISTENER);
  if (!inbound) return [];
  return records(inbound['filter_chains']).flatMap((chain) => {
    const identity = str(records(rec(rec(rec(chain['transport_socket'])['typed_config'])['common_tls_context'])['tls_certificate_sds_secret_configs'])[0]?.['name']);
    return chainMatchPrefixes(chain).map((ip) => ({ ip, identity, chain: str(chain['name']) ?? '' }));
  });
}
