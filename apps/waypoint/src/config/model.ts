/**
 * xDS resources → what the waypoint runs. Each type compiles on its own (state of the world), so
 * one type's NACK never blocks another; references between types (a chain's RDS name, a route's
 * cluster) resolve at request time, and a missing one answers like Envoy (404 NR, 503 no
 * healthy upstream). Expected shapes (istiod-lite generate/waypoint/waypoint.ts):
 *
 *   LDS connect_terminate  address port + DownstreamTlsContext (SDS secret = our identity) +
 *                          HCM whose only route is CONNECT → main_internal
 *       main_internal      internal listener, filter_chain_matcher over destination ip / port /
 *                          application-protocol; chains = HCM (RDS + HTTP RBAC + router) or
 *                          network RBAC + tcp_proxy
 *       connect_originate  internal listener, tcp_proxy with tunneling_config → connect_originate
 *   CDS main_internal (STATIC), connect_originate (ORIGINAL_DST, port override, TLS), EDS clusters
 *   EDS internal addresses → connect_originate with `tunnel` metadata, or plain socket addresses
 *   RDS route configurations (routing/routes.ts)
 */
import { HBONE_PORT } from '@mesh/hbone-core';
import { CONNECT_ORIGINATE, CONNECT_TERMINATE, MAIN_INTERNAL } from '@mesh/envoy-config';
import { compileRbacFilter, isRecord, type JsonRecord, list, optionalNumber, optionalString, type RbacFilter, record, string, typedConfig, UnsupportedConfig } from '@mesh/envoy-config';


const T = {
  hcm: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  tcpProxy: 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  httpRbac: 'envoy.extensions.filters.http.rbac.v3.RBAC',
  cors: 'envoy.extensions.filters.http.cors.v3.Cors',
  networkRbac: 'envoy.extensions.filters.network.rbac.v3.RBAC',
  router: 'envoy.extensions.filters.http.router.v3.Router',
  httpProtocolOptions: 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
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

export interface HttpChain {
  readonly kind: 'http';
  readonly name: string;
  /** The connection manager's stat_prefix (its RBAC stats scope, `http.<stat_prefix>`). */
  readonly statPrefix: string;
  readonly routeConfigName: string;
  readonly rbac: readonly RbacFilter[];
  /** The cors filter runs (routes' CORS policies apply). */
  readonly cors: boolean;
  /** Upgrades the HCM allows (`websocket`). */
  readonly upgrades: ReadonlySet<string>;
}

/** A TCP chain: network RBAC filters, then tcp_proxy. */
export type Chain = HttpChain | { readonly kind: 'tcp'; readonly name: string; readonly cluster: string; readonly rbac: readonly RbacFilter[] };

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
  /** What the waypoint speaks to the cluster's endpoints: HTTP/1.1, or HTTP/2 without TLS. */
  readonly protocol: 'http1' | 'h2c';
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
  const last = filters.length - 1;
  if (last < 0) throw new UnsupportedConfig(`${path}.filters`, 'expected network RBAC filters, then one HCM or tcp_proxy');
  const networkRbac: RbacFilter[] = [];
  filters.slice(0, last).forEach((f, i) => {
    const { type, config } = typedConfig(f, `${path}.filters[${i}]`);
    if (type !== T.networkRbac) throw new UnsupportedConfig(`${path}.filters[${i}]`, `filter ${type} is not supported before the terminal filter`);
    const compiled = compileRbacFilter(config, `${path}.filters[${i}].typed_config`, 'network');
    if (compiled) networkRbac.push(compiled);
  });
  const terminalPath = `${path}.filters[${last}]`;
  const { type, config } = typedConfig(filters[last], terminalPath);
  if (type === T.tcpProxy) return { kind: 'tcp', name, cluster: string(config['cluster'], `${terminalPath}.typed_config.cluster`), rbac: networkRbac };
  if (type !== T.hcm) throw new UnsupportedConfig(terminalPath, `filter ${type} is not supported by the waypoint`);
  if (networkRbac.length > 0) throw new UnsupportedConfig(`${path}.filters[0]`, 'network RBAC before an HCM is not supported (HTTP chains use HTTP RBAC)');
  const rds = record(config['rds'], `${terminalPath}.typed_config.rds`);
  const upgrades = new Set(
    list(config['upgrade_configs'], `${terminalPath}.typed_config.upgrade_configs`).map((u, i) => {
      const at = `${terminalPath}.typed_config.upgrade_configs[${i}]`;
      const type = string(record(u, at)['upgrade_type'], `${at}.upgrade_type`).toLowerCase();
      if (type !== 'websocket') throw new UnsupportedConfig(`${at}.upgrade_type`, `only websocket upgrades are supported, not ${type}`);
      return type;
    }),
  );
  let cors = false;
  const rbac: RbacFilter[] = [];
  const httpFilters = list(config['http_filters'], `${terminalPath}.typed_config.http_filters`);
  httpFilters.forEach((f, i) => {
    const at = `${terminalPath}.typed_config.http_filters[${i}]`;
    const hf = typedConfig(f, at);
    if (hf.type === T.httpRbac) {
      const compiled = compileRbacFilter(hf.config, `${at}.typed_config`, 'http');
      if (compiled) rbac.push(compiled);
    } else if (hf.type === T.cors) {
      cors = true;
    } else if (hf.type === T.router) {
      if (i !== httpFilters.length - 1) throw new UnsupportedConfig(at, 'the router must be the last HTTP filter');
    } else throw new UnsupportedConfig(at, `HTTP filter ${hf.type} is not supported by the waypoint`);
  });
  const statPrefix = typeof config['stat_prefix'] === 'string' ? config['stat_prefix'] : name;
  return { kind: 'http', name, statPrefix, routeConfigName: string(rds['route_config_name'], `${terminalPath}.typed_config.rds.route_config_name`), rbac, cors, upgrades };
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
  return { identity, hbonePort: port ?? HBONE_PORT, chains, selectChain, sniffs };
}

/** HttpProtocolOptions' explicit_http_config: HTTP/2 (h2c inside the tunnel) or HTTP/1.1. */
function upstreamProtocol(value: unknown, path: string): 'http1' | 'h2c' {
  if (value === undefined) return 'http1';
  const options = record(value, path);
  for (const key of Object.keys(options)) if (key !== T.httpProtocolOptions) throw new UnsupportedConfig(`${path}.${key}`, 'is not supported');
  const http = record(options[T.httpProtocolOptions], `${path}.${T.httpProtocolOptions}`);
  const explicit = record(http['explicit_http_config'], `${path}.${T.httpProtocolOptions}.explicit_http_config`);
  if (explicit['http2_protocol_options'] !== undefined) return 'h2c';
  if (explicit['http_protocol_options'] !== undefined) return 'http1';
  throw new UnsupportedConfig(`${path}.${T.httpProtocolOptions}.explicit_http_config`, 'expected http_protocol_options or http2_protocol_options');
}

/** CDS → cluster kinds and the outbound tunnel settings. */
export function compileClusters(resources: readonly unknown[]): { clusters: Map<string, ClusterModel>; originate: OriginateModel } {
  const clusters = new Map<string, ClusterModel>();
  let originate: OriginateModel | undefined;
  for (const [i, r] of resources.entries()) {
    const c = record(r, `clusters[${i}]`);
    const name = string(c['name'], `clusters[${i}].name`);
    const type = c['type'] ?? 'EDS';
    if (name === MAIN_INTERNAL && type === 'STATIC') clusters.set(name, { name, kind: 'internal', protocol: 'http1' });
    else if (name === CONNECT_ORIGINATE && type === 'ORIGINAL_DST') {
      const tls = typedConfig(c['transport_socket'], `${name}.transport_socket`);
      if (tls.type !== T.upstreamTls) throw new UnsupportedConfig(`${name}.transport_socket`, 'expected an UpstreamTlsContext');
      const override = isRecord(c['original_dst_lb_config']) ? optionalNumber(c['original_dst_lb_config']['upstream_port_override'], `${name}.original_dst_lb_config.upstream_port_override`) : undefined;
      originate = { identity: identityOfSdsSecret(tls.config, `${name}.transport_socket.typed_config`), tunnelPort: override ?? HBONE_PORT };
      clusters.set(name, { name, kind: 'originate', protocol: 'http1' });
    } else if (type === 'EDS') clusters.set(name, { name, kind: 'eds', protocol: upstreamProtocol(c['typed_extension_protocol_options'], `${name}.typed_extension_protocol_options`) });
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
