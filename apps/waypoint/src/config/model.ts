/**
 * xDS resources → what the waypoint runs. Each type compiles on its own (state of the world), so
 * one type's NACK never blocks another; references between types (a chain's RDS name, a route's
 * cluster) resolve at request time, and a missing one answers like Envoy (404 NR, 503 no
 * healthy upstream). Expected shapes (istiod-lite generate/waypoint/waypoint.ts):
 *
 *   LDS connect_terminate  address port + DownstreamTlsContext (SDS secret = our identity) +
 *                          HCM whose only route is CONNECT → main_internal
 *       main_internal      internal listener, filter_chain_matcher over destination ip / port /
 *                          application-protocol; chains = HCM (RDS + HTTP RBAC + router) or tcp_proxy
 *       connect_originate  internal listener, tcp_proxy with tunneling_config → connect_originate
 *   CDS main_internal (STATIC), connect_originate (ORIGINAL_DST, port override, TLS), EDS clusters
 *   EDS internal addresses → connect_originate with `tunnel` metadata, or plain socket addresses
 *   RDS route configurations (routing/routes.ts)
 */
import { compileRbacFilter, isRecord, type JsonRecord, list, optionalNumber, optionalString, type RbacFilter, record, string, typedConfig, UnsupportedConfig } from '@mesh/envoy-config';

export const CONNECT_TERMINATE = 'connect_terminate';
export const MAIN_INTERNAL = 'main_internal';
export const CONNECT_ORIGINATE = 'connect_originate';

const T = {
  hcm: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  tcpProxy: 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  httpRbac: 'envoy.extensions.filters.http.rbac.v3.RBAC',
  router: 'envoy.extensions.filters.http.router.v3.Router',
  downstreamTls: 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  upstreamTls: 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  stringValue: 'google.protobuf.StringValue',
  destinationIp: 'envoy.extensions.matching.common_inputs.network.v3.DestinationIPInput',
  destinationPort: 'envoy.extensions.matching.common_inputs.network.v3.DestinationPortInput',
  applicationProtocol: 'envoy.extensions.matching.common_inputs.network.v3.ApplicationProtocolInput',
} as const;

/** The inputs a main_internal matcher reads. `applicationProtocol` is `'http/1.1'`, `'h2c'` or ''. */
export interface ChainInputs {
  readonly destinationIp: string;
  readonly destinationPort: number;
  readonly applicationProtocol: string;
}

export type Chain =
  | { readonly kind: 'http'; readonly name: string; readonly routeConfigName: string; readonly rbac: readonly RbacFilter[] }
  | { readonly kind: 'tcp'; readonly name: string; readonly cluster: string };

export interface ListenerModel {
  /** Our SPIFFE identity, from connect_terminate's SDS certificate. */
  readonly identity: string;
  readonly hbonePort: number;
  readonly chains: ReadonlyMap<string, Chain>;
  /** Chain name for a connection, or undefined (no chain: the connection is closed). */
  readonly selectChain: (inputs: ChainInputs) => string | undefined;
  /** Whether any chain for this destination needs the protocol sniffed. */
  readonly sniffs: (destinationIp: string, destinationPort: number) => boolean;
}

export interface ClusterModel {
  readonly name: string;
  readonly kind: 'eds' | 'internal' | 'originate';
}

export interface OriginateModel {
  /** The identity our outbound HBONE presents (connect_originate's SDS certificate). */
  readonly identity: string;
  readonly tunnelPort: number;
}

export interface Endpoint {
  /** `pod:targetPort`: the tunnel's :authority, or the plain address. */
  readonly destination: string;
  /** `pod:15008` when tunnelled (HBONE), else undefined (plain TCP). */
  readonly tunnelAddress: string | undefined;
  /** Expected server identity of the tunnel. */
  readonly identity: string | undefined;
  readonly workload: string | undefined;
  readonly namespace: string | undefined;
}

function identityOfSdsSecret(tls: JsonRecord, path: string): string {
  const common = record(tls['common_tls_context'], `${path}.common_tls_context`);
  const secrets = list(common['tls_certificate_sds_secret_configs'], `${path}.common_tls_context.tls_certificate_sds_secret_configs`);
  if (secrets.length !== 1) throw new UnsupportedConfig(`${path}.common_tls_context.tls_certificate_sds_secret_configs`, 'expected exactly one certificate');
  const name = string(record(secrets[0], `${path}.common_tls_context.tls_certificate_sds_secret_configs[0]`)['name'], `${path}...name`);
  if (!name.startsWith('spiffe://')) throw new UnsupportedConfig(`${path}.common_tls_context.tls_certificate_sds_secret_configs[0].name`, `"${name}" is not a SPIFFE identity`);
  return name;
}

type MatchFn = (inputs: ChainInputs) => string | undefined;

/** xds.type.matcher.v3.Matcher over the three inputs; nearest enclosing on_no_match applies (Envoy). */
function compileMatcher(value: unknown, path: string, sniffInputs: { used: boolean }): MatchFn {
  const m = record(value, path);
  const onNoMatch = m['on_no_match'] === undefined ? undefined : compileOnMatch(m['on_no_match'], `${path}.on_no_match`, sniffInputs);
  if (m['matcher_tree'] === undefined) return (inputs) => onNoMatch?.(inputs);
  const tree = record(m['matcher_tree'], `${path}.matcher_tree`);
  const { type } = typedConfig(tree['input'], `${path}.matcher_tree.input`);
  const read: (i: ChainInputs) => string =
    type === T.destinationIp
      ? (i) => i.destinationIp
      : type === T.destinationPort
        ? (i) => String(i.destinationPort)
        : type === T.applicationProtocol
          ? (i) => i.applicationProtocol
          : (() => {
              throw new UnsupportedConfig(`${path}.matcher_tree.input`, `input ${type} is not supported by the waypoint`);
            })();
  if (type === T.applicationProtocol) sniffInputs.used = true;
  if (tree['exact_match_map'] === undefined) throw new UnsupportedConfig(`${path}.matcher_tree`, 'only exact_match_map is supported');
  const map = record(record(tree['exact_match_map'], `${path}.matcher_tree.exact_match_map`)['map'], `${path}.matcher_tree.exact_match_map.map`);
  const entries = new Map(Object.entries(map).map(([k, v]) => [k, compileOnMatch(v, `${path}.matcher_tree.exact_match_map.map["${k}"]`, sniffInputs)] as const));
  return (inputs) => {
    const hit = entries.get(read(inputs));
    return (hit ? hit(inputs) : undefined) ?? onNoMatch?.(inputs);
  };
}

function compileOnMatch(value: unknown, path: string, sniffInputs: { used: boolean }): MatchFn {
  const o = record(value, path);
  if (o['matcher'] !== undefined) return compileMatcher(o['matcher'], `${path}.matcher`, sniffInputs);
  const { type, config } = typedConfig(o['action'], `${path}.action`);
  if (type !== T.stringValue) throw new UnsupportedConfig(`${path}.action`, `action ${type} is not supported`);
  const chain = string(config['value'], `${path}.action.typed_config.value`);
  return () => chain;
}

function compileChain(value: unknown, path: string): Chain {
  const c = record(value, path);
  const name = string(c['name'], `${path}.name`);
  const filters = list(c['filters'], `${path}.filters`);
  if (filters.length !== 1) throw new UnsupportedConfig(`${path}.filters`, 'expected one network filter (HCM or tcp_proxy)');
  const { type, config } = typedConfig(filters[0], `${path}.filters[0]`);
  if (type === T.tcpProxy) return { kind: 'tcp', name, cluster: string(config['cluster'], `${path}.filters[0].typed_config.cluster`) };
  if (type !== T.hcm) throw new UnsupportedConfig(`${path}.filters[0]`, `filter ${type} is not supported by the waypoint`);
  const rds = record(config['rds'], `${path}.filters[0].typed_config.rds`);
  const rbac: RbacFilter[] = [];
  const httpFilters = list(config['http_filters'], `${path}.filters[0].typed_config.http_filters`);
  httpFilters.forEach((f, i) => {
    const at = `${path}.filters[0].typed_config.http_filters[${i}]`;
    const hf = typedConfig(f, at);
    if (hf.type === T.httpRbac) {
      const compiled = compileRbacFilter(hf.config, `${at}.typed_config`, 'http');
      if (compiled) rbac.push(compiled);
    } else if (hf.type === T.router) {
      if (i !== httpFilters.length - 1) throw new UnsupportedConfig(at, 'the router must be the last HTTP filter');
    } else throw new UnsupportedConfig(at, `HTTP filter ${hf.type} is not supported by the waypoint`);
  });
  return { kind: 'http', name, routeConfigName: string(rds['route_config_name'], `${path}.filters[0].typed_config.rds.route_config_name`), rbac };
}

/** LDS → ListenerModel. All three listeners must be present. */
export function compileListeners(resources: readonly unknown[]): ListenerModel {
  const byName = new Map<string, JsonRecord>();
  for (const [i, r] of resources.entries()) {
    const l = record(r, `listeners[${i}]`);
    const name = string(l['name'], `listeners[${i}].name`);
    if (![CONNECT_TERMINATE, MAIN_INTERNAL, CONNECT_ORIGINATE].includes(name)) throw new UnsupportedConfig(name, 'is not a listener the waypoint runs');
    byName.set(name, l);
  }
  for (const n of [CONNECT_TERMINATE, MAIN_INTERNAL, CONNECT_ORIGINATE]) if (!byName.has(n)) throw new UnsupportedConfig(n, 'listener is missing');

  const terminate = byName.get(CONNECT_TERMINATE) as JsonRecord;
  const port = optionalNumber(record(record(terminate['address'], `${CONNECT_TERMINATE}.address`)['socket_address'], `${CONNECT_TERMINATE}.address.socket_address`)['port_value'], `${CONNECT_TERMINATE}.address.socket_address.port_value`);
  const tChains = list(terminate['filter_chains'], `${CONNECT_TERMINATE}.filter_chains`);
  if (tChains.length !== 1) throw new UnsupportedConfig(`${CONNECT_TERMINATE}.filter_chains`, 'expected one filter chain');
  const tChain = record(tChains[0], `${CONNECT_TERMINATE}.filter_chains[0]`);
  const tls = typedConfig(tChain['transport_socket'], `${CONNECT_TERMINATE}.filter_chains[0].transport_socket`);
  if (tls.type !== T.downstreamTls) throw new UnsupportedConfig(`${CONNECT_TERMINATE}.filter_chains[0].transport_socket`, 'expected a DownstreamTlsContext');
  const identity = identityOfSdsSecret(tls.config, `${CONNECT_TERMINATE}.filter_chains[0].transport_socket.typed_config`);
  const hcm = typedConfig(list(tChain['filters'], `${CONNECT_TERMINATE}.filter_chains[0].filters`)[0], `${CONNECT_TERMINATE}.filter_chains[0].filters[0]`);
  if (hcm.type !== T.hcm) throw new UnsupportedConfig(`${CONNECT_TERMINATE}.filter_chains[0].filters[0]`, 'expected the CONNECT-terminating HCM');
  const routes = JSON.stringify(hcm.config['route_config'] ?? {});
  if (!routes.includes('connect_matcher') || !routes.includes(`"cluster":"${MAIN_INTERNAL}"`)) {
    throw new UnsupportedConfig(`${CONNECT_TERMINATE}.filter_chains[0].filters[0]`, `the HCM must route CONNECT to ${MAIN_INTERNAL}`);
  }

  const main = byName.get(MAIN_INTERNAL) as JsonRecord;
  const chains = new Map<string, Chain>();
  list(main['filter_chains'], `${MAIN_INTERNAL}.filter_chains`).forEach((c, i) => {
    const chain = compileChain(c, `${MAIN_INTERNAL}.filter_chains[${i}]`);
    chains.set(chain.name, chain);
  });
  const sniffInputs = { used: false };
  const select: MatchFn = main['filter_chain_matcher'] === undefined ? () => undefined : compileMatcher(main['filter_chain_matcher'], `${MAIN_INTERNAL}.filter_chain_matcher`, sniffInputs);
  // A selected chain that does not exist is a config error, found now rather than per request.
  const selectChain = (inputs: ChainInputs) => {
    const name = select(inputs);
    return name !== undefined && chains.has(name) ? name : undefined;
  };
  const sniffs = (ip: string, p: number) => {
    if (!sniffInputs.used) return false;
    // Sniffing matters only when the choice depends on the protocol.
    return select({ destinationIp: ip, destinationPort: p, applicationProtocol: "'http/1.1'" }) !== select({ destinationIp: ip, destinationPort: p, applicationProtocol: '' });
  };
  return { identity, hbonePort: port ?? 15008, chains, selectChain, sniffs };
}

/** CDS → cluster kinds and the outbound tunnel settings. */
export function compileClusters(resources: readonly unknown[]): { clusters: Map<string, ClusterModel>; originate: OriginateModel } {
  const clusters = new Map<string, ClusterModel>();
  let originate: OriginateModel | undefined;
  for (const [i, r] of resources.entries()) {
    const c = record(r, `clusters[${i}]`);
    const name = string(c['name'], `clusters[${i}].name`);
    const type = c['type'] ?? 'EDS';
    if (name === MAIN_INTERNAL && type === 'STATIC') clusters.set(name, { name, kind: 'internal' });
    else if (name === CONNECT_ORIGINATE && type === 'ORIGINAL_DST') {
      const tls = typedConfig(c['transport_socket'], `${name}.transport_socket`);
      if (tls.type !== T.upstreamTls) throw new UnsupportedConfig(`${name}.transport_socket`, 'expected an UpstreamTlsContext');
      const override = isRecord(c['original_dst_lb_config']) ? optionalNumber(c['original_dst_lb_config']['upstream_port_override'], `${name}.original_dst_lb_config.upstream_port_override`) : undefined;
      originate = { identity: identityOfSdsSecret(tls.config, `${name}.transport_socket.typed_config`), tunnelPort: override ?? 15008 };
      clusters.set(name, { name, kind: 'originate' });
    } else if (type === 'EDS') clusters.set(name, { name, kind: 'eds' });
    else throw new UnsupportedConfig(name, `cluster type ${String(type)} is not supported by the waypoint`);
  }
  if (!originate) throw new UnsupportedConfig(CONNECT_ORIGINATE, 'cluster is missing');
  return { clusters, originate };
}

/** EDS → endpoints per cluster name. */
export function compileEndpoints(resources: readonly unknown[]): Map<string, Endpoint[]> {
  const out = new Map<string, Endpoint[]>();
  for (const [i, r] of resources.entries()) {
    const cla = record(r, `endpoints[${i}]`);
    const name = string(cla['cluster_name'], `endpoints[${i}].cluster_name`);
    const endpoints: Endpoint[] = [];
    list(cla['endpoints'], `${name}.endpoints`).forEach((locality, li) => {
      list(record(locality, `${name}.endpoints[${li}]`)['lb_endpoints'], `${name}.endpoints[${li}].lb_endpoints`).forEach((e, ei) => {
        const at = `${name}.endpoints[${li}].lb_endpoints[${ei}]`;
        const lb = record(e, at);
        if (lb['health_status'] !== undefined && lb['health_status'] !== 'HEALTHY' && lb['health_status'] !== 'UNKNOWN') return;
        const address = record(record(lb['endpoint'], `${at}.endpoint`)['address'], `${at}.endpoint.address`);
        const meta = isRecord(lb['metadata']) && isRecord(lb['metadata']['filter_metadata']) ? lb['metadata']['filter_metadata'] : {};
        const istio = isRecord(meta['istio']) ? meta['istio'] : {};
        const common = {
          identity: optionalString(istio['identity'], `${at}.metadata.filter_metadata.istio.identity`),
          workload: optionalString(istio['workload'], `${at}.metadata.filter_metadata.istio.workload`),
          namespace: optionalString(istio['namespace'], `${at}.metadata.filter_metadata.istio.namespace`),
        };
        if (isRecord(address['envoy_internal_address'])) {
          const internal = address['envoy_internal_address'];
          if (internal['server_listener_name'] !== CONNECT_ORIGINATE) throw new UnsupportedConfig(`${at}.endpoint.address.envoy_internal_address`, `only ${CONNECT_ORIGINATE} is supported`);
          const tunnel = record(meta['tunnel'], `${at}.metadata.filter_metadata.tunnel`);
          endpoints.push({ destination: string(tunnel['destination'], `${at}...tunnel.destination`), tunnelAddress: string(tunnel['address'], `${at}...tunnel.address`), ...common });
        } else {
          const sa = record(address['socket_address'], `${at}.endpoint.address.socket_address`);
          const ip = string(sa['address'], `${at}.endpoint.address.socket_address.address`);
          const port = optionalNumber(sa['port_value'], `${at}.endpoint.address.socket_address.port_value`);
          endpoints.push({ destination: ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`, tunnelAddress: undefined, ...common });
        }
      });
    });
    out.set(name, endpoints);
  }
  return out;
}
