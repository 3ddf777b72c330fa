/**
 * What a filter chain does with a connection: its tcp_proxy cluster (plus tunneling_config), or its
 * HTTP connection manager's route, and the RBAC filters in front of either.
 */
import { rec, records, shortType, str, type JsonRecord } from './json.js';

export interface ChainTarget {
  kind: 'tcp' | 'http' | 'unknown';
  /** tcp_proxy cluster, or the cluster of the HCM's (inline) CONNECT route. */
  cluster?: string;
  /** RDS route configuration name, when the HCM fetches its routes. */
  routeConfigName?: string;
  /** tcp_proxy tunneling_config.hostname (the CONNECT :authority template). */
  tunnelHostname?: string;
  rbac: JsonRecord[];
}

export function chainTarget(chain: JsonRecord): ChainTarget {
  const target: ChainTarget = { kind: 'unknown', rbac: [] };
  for (const filter of records(chain['filters'])) {
    const config = rec(filter['typed_config']);
    const type = shortType(config['@type']);
    if (type === 'RBAC') target.rbac.push(config);
    else if (type === 'TcpProxy') {
      target.kind = 'tcp';
      const cluster = str(config['cluster']);
      if (cluster) target.cluster = cluster;
      const hostname = str(rec(config['tunneling_config'])['hostname']);
      if (hostname) target.tunnelHostname = hostname;
    } else if (type === 'HttpConnectionManager') {
      target.kind = 'http';
      const rdsName = str(rec(config['rds'])['route_config_name']);
      if (rdsName) target.routeConfigName = rdsName;
      const cluster = firstRouteCluster(rec(config['route_config']));
      if (cluster) target.cluster = cluster;
    }
  }
  return target;
}

function firstRouteCluster(routeConfig: JsonRecord): string | undefined {
  for (const host of records(routeConfig['virtual_hosts'])) {
    for (const route of records(host['routes'])) {
      const cluster = str(rec(route['route'])['cluster']);
      if (cluster) return cluster;
    }
  }
  return undefined;
}

/** The certificate (SDS secret name) a chain's or cluster's TLS transport socket presents. */
export function tlsCertificateName(holder: JsonRecord): string | undefined {
  const tls = rec(rec(holder['transport_socket'])['typed_config']);
  return str(records(rec(tls['common_tls_context'])['tls_certificate_sds_secret_configs'])[0]?.['name']);
}

/** The /32 (or other) destination prefixes of a filter_chain_match, as `ip` or `ip/len`. */
export function chainMatchPrefixes(chain: JsonRecord, key: 'prefix_ranges' | 'source_prefix_ranges' = 'prefix_ranges'): string[] {
  return records(rec(chain['filter_chain_match'])[key]).map((range) => {
    const ip = str(range['address_prefix']) ?? '';
    const len = range['prefix_len'];
    return len === undefined || len === 32 || len === 128 ? ip : `${ip}/${String(len)}`;
  });
}
