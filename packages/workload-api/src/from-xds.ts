/**
 * Decoded workload-API resources (the proto3-JSON `@mesh/xds` decodes: snake_case, enum names,
 * bytes as base64) → the records ztunnel holds (dump.ts). Validation is strict about what changes
 * how traffic is handled: a field this ztunnel cannot honour throws `UnsupportedConfig` naming the
 * resource and the field (`workload Kubernetes//Pod/default/sleep.addresses[0]: …`), which becomes
 * the NACK's error_detail while the last good config stays in force. Purely informational fields
 * (locality, canonical names, extensions) are carried or ignored as Istio's ztunnel does.
 */
import { HBONE_PORT } from '@mesh/hbone-core/constants';
import { isRecord, list, optionalNumber, optionalRecord, optionalString, record, string, UnsupportedConfig, type JsonRecord } from '@mesh/envoy-config';
import { ipFromBase64, networkAddress } from './address.js';
import type {
  ZtunnelGatewayAddress,
  ZtunnelPolicy,
  ZtunnelPolicyMatch,
  ZtunnelPorts,
  ZtunnelService,
  ZtunnelServiceAccountMatch,
  ZtunnelStringMatch,
  ZtunnelWorkload,
} from './dump.js';

/** Istio's default cluster ID; elided trust domains and service accounts mean the mesh defaults. */
export const DEFAULT_CLUSTER_ID = 'Kubernetes';
export const DEFAULT_SERVICE_ACCOUNT = 'default';

export interface ConvertOptions {
  /** The mesh trust domain, for workloads that elide theirs. */
  readonly trustDomain: string;
}

export type AddressRecord = { readonly kind: 'workload'; readonly workload: ZtunnelWorkload } | { readonly kind: 'service'; readonly service: ZtunnelService };

/** The name istiod gives an Address resource: the workload's uid, or `namespace/hostname`. */
export function addressResourceName(json: unknown): string | undefined {
  if (!isRecord(json)) return undefined;
  const w = json['workload'];
  if (isRecord(w) && typeof w['uid'] === 'string') return w['uid'];
  const s = json['service'];
  if (isRecord(s) && typeof s['hostname'] === 'string') return `${String(s['namespace'] ?? '')}/${s['hostname']}`;
  return undefined;
}

/** One `istio.workload.Address` → a workload or a service record. */
export function addressFromXds(json: unknown, options: ConvertOptions): AddressRecord {
  const a = record(json, 'Address');
  if (a['workload'] !== undefined && a['service'] !== undefined) throw new UnsupportedConfig('Address', 'sets both workload and service');
  if (a['workload'] !== undefined) return { kind: 'workload', workload: workloadFromXds(a['workload'], options) };
  if (a['service'] !== undefined) return { kind: 'service', service: serviceFromXds(a['service']) };
  throw new UnsupportedConfig('Address', 'sets neither workload nor service');
}

const enumName = (value: unknown, allowed: readonly string[], fallback: string, path: string): string => {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'string' && allowed.includes(value)) return value;
  throw new UnsupportedConfig(path, `${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
};

function port(value: unknown, path: string): number {
  const n = optionalNumber(value, path) ?? 0;
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new UnsupportedConfig(path, `${n} is not a port`);
  return n;
}

function portList(value: unknown, path: string): { ports: ZtunnelPorts; appProtocols: Record<string, string> } {
  const ports: Record<string, number> = {};
  const appProtocols: Record<string, string> = {};
  for (const [i, p] of list(value, path).entries()) {
    const r = record(p, `${path}[${i}]`);
    const servicePort = port(r['service_port'], `${path}[${i}].service_port`);
    if (servicePort === 0) throw new UnsupportedConfig(`${path}[${i}].service_port`, 'is required');
    ports[String(servicePort)] = port(r['target_port'], `${path}[${i}].target_port`);
    const app = enumName(r['app_protocol'], ['UNKNOWN', 'HTTP11', 'HTTP2', 'GRPC', 'TCP', 'TLS'], 'UNKNOWN', `${path}[${i}].app_protocol`);
    appProtocols[String(servicePort)] = app === 'HTTP11' || app === 'HTTP2' || app === 'GRPC' ? 'http' : 'tcp';
  }
  return { ports, appProtocols };
}

function gatewayAddress(value: unknown, path: string): ZtunnelGatewayAddress | undefined {
  const g = optionalRecord(value, path);
  if (!g) return undefined;
  const hbonePort = port(g['hbone_mtls_port'], `${path}.hbone_mtls_port`) || HBONE_PORT;
  if (g['hostname'] !== undefined) {
    const h = record(g['hostname'], `${path}.hostname`);
    return { destination: `${string(h['namespace'], `${path}.hostname.namespace`)}/${string(h['hostname'], `${path}.hostname.hostname`)}`, hboneMtlsPort: hbonePort };
  }
  if (g['address'] !== undefined) {
    const a = record(g['address'], `${path}.address`);
    return { destination: networkAddress(optionalString(a['network'], `${path}.address.network`) ?? '', ipFromBase64(a['address'], `${path}.address.address`)), hboneMtlsPort: hbonePort };
  }
  throw new UnsupportedConfig(path, 'needs a hostname or an address');
}

export function workloadFromXds(json: unknown, options: ConvertOptions): ZtunnelWorkload {
  const w = record(json, 'Workload');
  const uid = string(w['uid'], 'Workload.uid');
  const at = `workload ${uid}`;
  const network = optionalString(w['network'], `${at}.network`) ?? '';
  if (network !== '') throw new UnsupportedConfig(`${at}.network`, `network "${network}": only the default network is supported (no multi-network gateways)`);
  if (w['network_gateway'] !== undefined) throw new UnsupportedConfig(`${at}.network_gateway`, 'east-west gateways are not supported');
  const tunnel = enumName(w['tunnel_protocol'], ['NONE', 'HBONE', 'LEGACY_ISTIO_MTLS'], 'NONE', `${at}.tunnel_protocol`);
  if (tunnel === 'LEGACY_ISTIO_MTLS') throw new UnsupportedConfig(`${at}.tunnel_protocol`, 'LEGACY_ISTIO_MTLS (sidecar mTLS) is not supported; HBONE or NONE');
  const workloadIps = list(w['addresses'], `${at}.addresses`).map((a, i) => ipFromBase64(a, `${at}.addresses[${i}]`));
  const services: Record<string, ZtunnelPorts> = {};
  const svcMap = optionalRecord(w['services'], `${at}.services`) ?? {};
  for (const [key, value] of Object.entries(svcMap)) {
    if (!key.includes('/')) throw new UnsupportedConfig(`${at}.services["${key}"]`, 'keys are "<namespace>/<hostname>"');
    services[key] = portList(record(value, `${at}.services["${key}"]`)['ports'], `${at}.services["${key}"].ports`).ports;
  }
  const status = enumName(w['status'], ['HEALTHY', 'UNHEALTHY'], 'HEALTHY', `${at}.status`);
  const mode = enumName(w['network_mode'], ['STANDARD', 'HOST_NETWORK'], 'STANDARD', `${at}.network_mode`);
  const waypoint = gatewayAddress(w['waypoint'], `${at}.waypoint`);
  const policies = list(w['authorization_policies'], `${at}.authorization_policies`).map((p, i) => string(p, `${at}.authorization_policies[${i}]`));
  const name = optionalString(w['name'], `${at}.name`) ?? '';
  return {
    uid,
    workloadIps,
    ...(waypoint ? { waypoint } : {}),
    protocol: tunnel === 'HBONE' ? 'HBONE' : 'TCP',
    ...(w['native_tunnel'] === true ? { nativeTunnel: true } : {}),
    name,
    namespace: optionalString(w['namespace'], `${at}.namespace`) ?? '',
    trustDomain: optionalString(w['trust_domain'], `${at}.trust_domain`) ?? options.trustDomain,
    serviceAccount: optionalString(w['service_account'], `${at}.service_account`) ?? DEFAULT_SERVICE_ACCOUNT,
    workloadName: optionalString(w['workload_name'], `${at}.workload_name`) ?? name,
    workloadType: enumName(w['workload_type'], ['DEPLOYMENT', 'CRONJOB', 'POD', 'JOB'], 'DEPLOYMENT', `${at}.workload_type`).toLowerCase(),
    canonicalName: optionalString(w['canonical_name'], `${at}.canonical_name`) ?? '',
    canonicalRevision: optionalString(w['canonical_revision'], `${at}.canonical_revision`) ?? '',
    clusterId: optionalString(w['cluster_id'], `${at}.cluster_id`) ?? DEFAULT_CLUSTER_ID,
    node: optionalString(w['node'], `${at}.node`) ?? '',
    network,
    status: status === 'HEALTHY' ? 'Healthy' : 'Unhealthy',
    ...(mode === 'HOST_NETWORK' ? { networkMode: 'HostNetwork' as const } : {}),
    services,
    ...(policies.length > 0 ? { authorizationPolicies: policies } : {}),
  };
}

export function serviceFromXds(json: unknown): ZtunnelService {
  const s = record(json, 'Service');
  const namespace = optionalString(s['namespace'], 'Service.namespace') ?? '';
  const hostname = string(s['hostname'], 'Service.hostname');
  const at = `service ${namespace}/${hostname}`;
  const vips = list(s['addresses'], `${at}.addresses`).map((a, i) => {
    const r = record(a, `${at}.addresses[${i}]`);
    const network = optionalString(r['network'], `${at}.addresses[${i}].network`) ?? '';
    if (network !== '') throw new UnsupportedConfig(`${at}.addresses[${i}].network`, `network "${network}": only the default network is supported`);
    if (r['length'] !== undefined) throw new UnsupportedConfig(`${at}.addresses[${i}].length`, 'CIDR VIPs are not supported');
    return networkAddress(network, ipFromBase64(r['address'], `${at}.addresses[${i}].address`));
  });
  const { ports, appProtocols } = portList(s['ports'], `${at}.ports`);
  const waypoint = gatewayAddress(s['waypoint'], `${at}.waypoint`);
  if (list(s['weighted_waypoints'], `${at}.weighted_waypoints`).length > 0) throw new UnsupportedConfig(`${at}.weighted_waypoints`, 'weighted waypoints are not supported');
  const lb = optionalRecord(s['load_balancing'], `${at}.load_balancing`);
  if (lb && (list(lb['routing_preference'], `${at}.load_balancing.routing_preference`).length > 0 || (lb['mode'] !== undefined && lb['mode'] !== 'UNSPECIFIED_MODE'))) {
    throw new UnsupportedConfig(`${at}.load_balancing`, 'locality-aware load balancing is not supported (round robin over healthy endpoints only)');
  }
  return {
    name: optionalString(s['name'], `${at}.name`) ?? hostname.split('.')[0] ?? hostname,
    namespace,
    hostname,
    vips,
    ports,
    appProtocols,
    ...(waypoint ? { waypoint } : {}),
    endpoints: {},
    subjectAltNames: list(s['subject_alt_names'], `${at}.subject_alt_names`).map((n, i) => string(n, `${at}.subject_alt_names[${i}]`)),
    ipFamilies: enumName(s['ip_families'], ['AUTOMATIC', 'IPV4_ONLY', 'IPV6_ONLY', 'DUAL'], 'AUTOMATIC', `${at}.ip_families`),
  };
}

// ---------------------------------------------------------------------------------------------
// Authorization

function stringMatch(value: unknown, path: string): ZtunnelStringMatch {
  const m = record(value, path);
  const keys = Object.keys(m);
  if (keys.length !== 1) throw new UnsupportedConfig(path, `expected exactly one of exact, prefix, suffix, presence, got ${keys.join(', ') || 'none'}`);
  if (typeof m['exact'] === 'string') return { Exact: m['exact'] };
  if (typeof m['prefix'] === 'string') return { Prefix: m['prefix'] };
  if (typeof m['suffix'] === 'string') return { Suffix: m['suffix'] };
  if (isRecord(m['presence'])) return { Presence: [] };
  throw new UnsupportedConfig(`${path}.${keys[0] as string}`, 'is not a StringMatch kind');
}

function cidr(value: unknown, path: string): string {
  const r = record(value, path);
  const ip = ipFromBase64(r['address'], `${path}.address`);
  const max = ip.includes(':') ? 128 : 32;
  const length = optionalNumber(r['length'], `${path}.length`) ?? 0;
  if (!Number.isInteger(length) || length < 0 || length > max) throw new UnsupportedConfig(`${path}.length`, `${length} is not a prefix length for ${ip}`);
  return `${ip}/${length}`;
}

const MATCH_KINDS: Record<string, keyof ZtunnelPolicyMatch> = {
  namespaces: 'namespaces',
  not_namespaces: 'notNamespaces',
  service_accounts: 'serviceAccounts',
  not_service_accounts: 'notServiceAccounts',
  principals: 'principals',
  not_principals: 'notPrincipals',
  source_ips: 'sourceIps',
  not_source_ips: 'notSourceIps',
  destination_ips: 'destinationIps',
  not_destination_ips: 'notDestinationIps',
  destination_ports: 'destinationPorts',
  not_destination_ports: 'notDestinationPorts',
};

function policyMatch(value: unknown, path: string): ZtunnelPolicyMatch {
  const m = record(value, path);
  const out: Record<string, unknown> = {};
  for (const [key, entries] of Object.entries(m as JsonRecord)) {
    if (key === 'extensions') continue;
    const kind = MATCH_KINDS[key];
    if (!kind) throw new UnsupportedConfig(`${path}.${key}`, 'is not a Match field');
    const items = list(entries, `${path}.${key}`);
    if (items.length === 0) continue;
    out[kind] = items.map((item, i) => {
      const at = `${path}.${key}[${i}]`;
      if (key.endsWith('namespaces') || key.endsWith('principals')) return stringMatch(item, at);
      if (key.endsWith('service_accounts')) {
        const sa = record(item, at);
        return { namespace: string(sa['namespace'], `${at}.namespace`), serviceAccount: string(sa['serviceAccount'], `${at}.serviceAccount`) } satisfies ZtunnelServiceAccountMatch;
      }
      if (key.endsWith('_ips')) return cidr(item, at);
      const p = port(item, at);
      return p;
    });
  }
  return out as ZtunnelPolicyMatch;
}

/** The name istiod gives an Authorization resource: `namespace/name`. */
export function authorizationResourceName(json: unknown): string | undefined {
  return isRecord(json) && typeof json['name'] === 'string' ? `${String(json['namespace'] ?? '')}/${json['name']}` : undefined;
}

export function authorizationFromXds(json: unknown): ZtunnelPolicy {
  const a = record(json, 'Authorization');
  const name = string(a['name'], 'Authorization.name');
  const namespace = optionalString(a['namespace'], 'Authorization.namespace') ?? '';
  const at = `authorization ${namespace}/${name}`;
  const scope = enumName(a['scope'], ['GLOBAL', 'NAMESPACE', 'WORKLOAD_SELECTOR'], 'GLOBAL', `${at}.scope`);
  const action = enumName(a['action'], ['ALLOW', 'DENY'], 'ALLOW', `${at}.action`);
  const rules = list(a['groups'], `${at}.groups`).map((g, i) =>
    list(record(g, `${at}.groups[${i}]`)['rules'], `${at}.groups[${i}].rules`).map((r, j) =>
      list(record(r, `${at}.groups[${i}].rules[${j}]`)['matches'], `${at}.groups[${i}].rules[${j}].matches`).map((m, k) =>
        policyMatch(m, `${at}.groups[${i}].rules[${j}].matches[${k}]`),
      ),
    ),
  );
  return {
    name,
    namespace,
    scope: scope === 'GLOBAL' ? 'Global' : scope === 'NAMESPACE' ? 'Namespace' : 'WorkloadSelector',
    action: action === 'ALLOW' ? 'Allow' : 'Deny',
    rules,
    dryRun: a['dry_run'] === true,
  };
}
