/**
 * An Envoy admin ConfigDump (`envoy.admin.v3.ConfigDump`, what ztunnel's `/config_dump?include_eds`
 * and istiod-lite's `/debug/config_dump?proxyID=` serve) split into the resources meshctl reads.
 * Dynamic and static entries are both read; warming/draining listener states are ignored, as in
 * `istioctl proxy-config`, which shows the active state.
 *
 * A workload-dialect ztunnel (`--xds-dialect workload`) serves Istio ztunnel's dump instead
 * (`{workloads, services, policies, certificates}`): it is kept as `workload`, with no Envoy
 * resources, and its certificates become secrets so the certificate views read both alike.
 */
import { MeshError } from '@mesh/errors';
import { isZtunnelDump, type ZtunnelDump } from '@mesh/workload-api';
import { isRecord, rec, records, str, type JsonRecord } from './json.js';

export interface SecretEntry {
  name: string;
  /** The `envoy.extensions.transport_sockets.tls.v3.Secret` JSON. */
  secret: JsonRecord;
  /** `dynamic_active_secrets` (ACTIVE) or `dynamic_warming_secrets` (WARMING). */
  state: 'ACTIVE' | 'WARMING';
}

export interface ConfigDump {
  listeners: JsonRecord[];
  clusters: JsonRecord[];
  /** ClusterLoadAssignments; empty when the dump was taken without `include_eds`. */
  endpoints: JsonRecord[];
  routes: JsonRecord[];
  secrets: SecretEntry[];
  /** Set for a workload-dialect ztunnel: what it holds, in Istio ztunnel's dump shapes. */
  workload?: ZtunnelDump;
}

const DUMP_TYPE = {
  CLUSTERS: 'ClustersConfigDump',
  LISTENERS: 'ListenersConfigDump',
  ENDPOINTS: 'EndpointsConfigDump',
  ROUTES: 'RoutesConfigDump',
  SECRETS: 'SecretsConfigDump',
} as const;

/** Parses a ConfigDump JSON value; `source` names where it came from, for the error message. */
export function parseConfigDump(value: unknown, source: string): ConfigDump {
  if (isZtunnelDump(value)) return workloadDialectDump(value);
  if (!isRecord(value) || !Array.isArray(value['configs'])) {
    throw new MeshError('MESHCTL_ERR_BAD_CONFIG_DUMP', `${source} is not a config dump: expected an Envoy dump (a JSON object with a "configs" array) or a workload-dialect ztunnel's (with a "workloads" array)`, {
      hint: 'save one with `curl -s localhost:15000/config_dump?include_eds` or `meshctl proxy-config all <target> -o json`',
      context: { source },
    });
  }
  const dump: ConfigDump = { listeners: [], clusters: [], endpoints: [], routes: [], secrets: [] };
  for (const config of records(value['configs'])) {
    const type = str(config['@type']) ?? '';
    if (type.endsWith(DUMP_TYPE.LISTENERS)) {
      for (const entry of records(config['static_listeners'])) pushRecord(dump.listeners, entry['listener']);
      for (const entry of records(config['dynamic_listeners'])) pushRecord(dump.listeners, rec(entry['active_state'])['listener']);
    } else if (type.endsWith(DUMP_TYPE.CLUSTERS)) {
      for (const entry of records(config['static_clusters'])) pushRecord(dump.clusters, entry['cluster']);
      for (const entry of records(config['dynamic_active_clusters'])) pushRecord(dump.clusters, entry['cluster']);
    } else if (type.endsWith(DUMP_TYPE.ENDPOINTS)) {
      for (const entry of records(config['static_endpoint_configs'])) pushRecord(dump.endpoints, entry['endpoint_config']);
      for (const entry of records(config['dynamic_endpoint_configs'])) pushRecord(dump.endpoints, entry['endpoint_config']);
    } else if (type.endsWith(DUMP_TYPE.ROUTES)) {
      for (const entry of records(config['static_route_configs'])) pushRecord(dump.routes, entry['route_config']);
      for (const entry of records(config['dynamic_route_configs'])) pushRecord(dump.routes, entry['route_config']);
    } else if (type.endsWith(DUMP_TYPE.SECRETS)) {
      for (const [key, state] of [
        ['static_secrets', 'ACTIVE'],
        ['dynamic_active_secrets', 'ACTIVE'],
        ['dynamic_warming_secrets', 'WARMING'],
      ] as const) {
        for (const entry of records(config[key])) {
          const secret = rec(entry['secret']);
          dump.secrets.push({ name: str(entry['name']) ?? str(secret['name']) ?? '', secret, state });
        }
      }
    }
  }
  return dump;
}

/** A workload-dialect dump: no Envoy resources; each certificate (and the mesh root) as a secret. */
function workloadDialectDump(value: ZtunnelDump): ConfigDump {
  const workload: ZtunnelDump = {
    workloads: records(value.workloads) as unknown as ZtunnelDump['workloads'],
    services: records(value.services) as unknown as ZtunnelDump['services'],
    policies: records(value.policies) as unknown as ZtunnelDump['policies'],
    certificates: records(value.certificates) as unknown as ZtunnelDump['certificates'],
  };
  const secrets: SecretEntry[] = [];
  let root: string | undefined;
  for (const cert of workload.certificates) {
    const chain = records(cert.certChain).map((c) => str(c['pem']) ?? '').join('');
    root ??= records(cert.rootCerts).map((c) => str(c['pem']) ?? '').join('') || undefined;
    secrets.push({
      name: cert.identity,
      secret: { name: cert.identity, tls_certificate: { certificate_chain: { inline_string: chain } } },
      state: cert.state === 'Available' ? 'ACTIVE' : 'WARMING',
    });
  }
  if (root) secrets.push({ name: 'ROOTCA', secret: { name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: root } } }, state: 'ACTIVE' });
  return { listeners: [], clusters: [], endpoints: [], routes: [], secrets, workload };
}

function pushRecord(into: JsonRecord[], value: unknown): void {
  if (isRecord(value)) into.push(value);
}

export function resourceName(resource: JsonRecord): string {
  return str(resource['name']) ?? str(resource['cluster_name']) ?? '';
}
