/**
 * xDS resources → the runtime model ztunnel interprets (docs/model.md, "ztunnel's configuration"):
 *
 *   ztunnel_outbound (15001)  filter_chain_matcher → chain → tcp_proxy → cluster
 *     EDS cluster  → ClusterLoadAssignment → endpoint (envoy_internal_address + `tunnel` metadata)
 *       → internal listener outbound_tunnel_lis_<spiffe> → tcp_proxy + tunneling_config
 *       → ORIGINAL_DST cluster outbound_tunnel_clus_<spiffe> (TLS, SDS secret = source identity,
 *         upstream_port_override 15008)
 *   ztunnel_inbound (15008)   a chain per local pod IP: TLS (server identity), RBAC, HCM CONNECT
 *                             → virtual_inbound (ORIGINAL_DST, use_http_header)
 *   ztunnel_inbound_plaintext (15006)  a chain per local pod IP: RBAC, tcp_proxy → ORIGINAL_DST
 *
 * Each xDS type compiles on its own (`compileListeners`, `compileClusters`,
 * `compileEndpoints`): a resource this proxy cannot run fails the whole update with a reason that
 * names the resource and field (the NACK's error_detail), and the previous model stays. References
 * across types (a chain naming a cluster that has not arrived yet) are resolved per connection,
 * as Envoy does while a cluster warms, never NACKed: ADS does not order types.
 */
import { parseSpiffeUri } from '@mesh/pki';
import { BLACKHOLE_CLUSTER, BLACKHOLE_FILTER_CHAIN, CHAIN_SERVICE_METADATA_KEY, ISTIO_METADATA_NAMESPACE, ORIGINAL_DST_HEADER, PASSTHROUGH_CLUSTER, PASSTHROUGH_FILTER_CHAIN } from '@mesh/envoy-config';
import { BoundedCache } from '../bounded-cache.js';
import { attempt, type Cidr, cidrContains, cidrRange, compileRbacFilter, formatAddress, isRecord, type JsonRecord, list, optionalNumber, optionalRecord, optionalString, type RbacFilter, record, splitAddress, string, typedConfig, UnsupportedConfig } from '@mesh/envoy-config';
import { compileMatcher, type ChainLookup } from './matcher.js';

const T = {
  tcpProxy: 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  hcm: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  rbac: 'envoy.extensions.filters.network.rbac.v3.RBAC',
  upstreamTls: 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  downstreamTls: 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  internalUpstream: 'envoy.extensions.transport_sockets.internal_upstream.v3.InternalUpstreamTransport',
  rawBuffer: 'envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer',
} as const;

/** Listener filters ztunnel honours implicitly (the original destination is the accepted socket's local address). */
const KNOWN_LISTENER_FILTERS = new Set(['envoy.filters.listener.original_dst', 'set_dst_address', 'envoy.filters.listener.tls_inspector']);

export interface TcpProxyRoute {
  readonly statPrefix: string;
  readonly cluster: string;
  /** Set when the proxy wraps the stream in an HTTP CONNECT tunnel (the internal tunnel listener). */
  readonly tunneling?: { readonly hostname: string; readonly headers: ReadonlyArray<{ key: string; value: string }> };
}

export interface OutboundListener {
  readonly name: string;
  readonly port: number;
  readonly lookup: ChainLookup;
  readonly chains: ReadonlyMap<string, TcpProxyRoute>;
  /**
   * Chain name → the Service host it is for: the chain's `filter_metadata.istio.service`, which
   * istiod-lite sends (names.ts `chainServiceMetadata`); for a chain without it, the host in
   * Istio's chain name (`serviceOfChain`).
   */
  readonly services: ReadonlyMap<string, string>;
  /** Service host → VIP, read off the matcher (a destination IP whose chains name a service). */
  readonly serviceVips: ReadonlyMap<string, string>;
}

/**
 * `…_to_http_reviews.default.svc.cluster.local_outbound_internal` → `reviews.default.svc.cluster.local`:
 * the host in Istio's chain name, for a chain whose metadata does not say it.
 */
export function serviceOfChain(chain: string): string | undefined {
  const m = /_to_(?:http|tcp)_(.+?)(?::\d+)?_outbound_internal$/.exec(chain);
  return m?.[1];
}

const DESTINATION_IP_INPUT = 'envoy.extensions.matching.common_inputs.network.v3.DestinationIPInput';

/** Walks a matcher's JSON: every exact DestinationIPInput key under which a service chain is selected. */
function collectServiceVips(matcher: unknown, services: ReadonlyMap<string, string>, out: Map<string, string>, ip?: string): void {
  if (Array.isArray(matcher)) {
    for (const item of matcher) collectServiceVips(item, services, out, ip);
    return;
  }
  if (!isRecord(matcher)) return;
  const tree = isRecord(matcher['matcher_tree']) ? matcher['matcher_tree'] : undefined;
  const input = tree && isRecord(tree['input']) && isRecord(tree['input']['typed_config']) ? String(tree['input']['typed_config']['@type'] ?? '') : '';
  if (tree && input.endsWith(DESTINATION_IP_INPUT) && isRecord(tree['exact_match_map']) && isRecord(tree['exact_match_map']['map'])) {
    for (const [key, onMatch] of Object.entries(tree['exact_match_map']['map'])) collectServiceVips(onMatch, services, out, key);
    if (matcher['on_no_match'] !== undefined) collectServiceVips(matcher['on_no_match'], services, out, ip);
    return;
  }
  const action = isRecord(matcher['action']) && isRecord(matcher['action']['typed_config']) ? matcher['action']['typed_config']['value'] : undefined;
  if (ip !== undefined && typeof action === 'string') {
    const host = services.get(action);
    if (host && !out.has(host)) out.set(host, ip);
  }
  for (const value of Object.values(matcher)) if (typeof value === 'object') collectServiceVips(value, services, out, ip);
}

export interface InternalListener {
  readonly name: string;
  readonly route: TcpProxyRoute;
}

export interface InboundChain {
  readonly name: string;
  readonly prefixes: readonly Cidr[];
  /** SPIFFE URI whose certificate this chain presents (HBONE); undefined for plaintext chains. */
  readonly identity: string | undefined;
  readonly rbac: readonly RbacFilter[];
  /** Where accepted traffic goes (virtual_inbound). */
  readonly cluster: string;
}

export interface InboundListener {
  readonly name: string;
  readonly port: number;
  readonly chains: readonly InboundChain[];
}

export interface ListenerModel {
  readonly outbound: OutboundListener | undefined;
  readonly inbound: InboundListener | undefined;
  readonly inboundPlaintext: InboundListener | undefined;
  readonly internal: ReadonlyMap<string, InternalListener>;
}

export type ClusterModel =
  | {
      readonly kind: 'eds';
      readonly name: string;
      readonly serviceName: string;
      /**
       * The internal listener of tunnelled endpoints that name none themselves. The workload
       * dialect shares one endpoint list per service port between its local identities, and each
       * identity's cluster names that identity's tunnel listener here (config/workload.ts).
       */
      readonly tunnelListener?: string;
      /**
       * SPIFFE URI of the client certificate when the cluster itself speaks HBONE (an
       * UpstreamTlsContext transport socket): its socket-address endpoints are HBONE servers
       * (`ip:15008`, a waypoint taking pod-addressed traffic) and the chain's tunneling_config
       * gives the CONNECT `:authority` (the original destination). Undefined: internal_upstream
       * or raw_buffer endpoints, as before.
       */
      readonly tlsIdentity?: string;
    }
  | {
      readonly kind: 'original_dst';
      readonly name: string;
      readonly upstreamPortOverride: number | undefined;
      readonly useHttpHeader: boolean;
      /** SPIFFE URI of the client certificate (UpstreamTlsContext SDS secret); undefined = plain TCP. */
      readonly tlsIdentity: string | undefined;
    }
  | { readonly kind: 'static'; readonly name: string; readonly endpoints: readonly Endpoint[] };

/**
 * One endpoint of a cluster, by the kind of address it has: how the connection continues depends
 * on it (and on the cluster), so the planner switches on `kind` and finds every field it needs.
 */
export type Endpoint = SocketEndpoint | TunnelEndpoint;

/** What any endpoint may say about the workload behind it (`istio` / `tunnel` metadata). */
interface EndpointMetadata {
  /** Routable: HEALTHY or UNKNOWN (Envoy skips the others). */
  readonly healthy: boolean;
  /** SPIFFE URI the endpoint must present, when the control plane says. */
  readonly identity?: string;
  /** Workload name (`istio` metadata), for logs and metrics. */
  readonly workload?: string;
}

/**
 * A `socket_address` (`ip:port`): plain TCP to a workload outside the mesh, or, in an EDS cluster
 * that speaks HBONE itself (`tlsIdentity`), the HBONE server (a waypoint's `ip:15008`).
 */
export interface SocketEndpoint extends EndpointMetadata {
  readonly kind: 'socket';
  readonly address: string;
}

/** A captured workload reached through an HBONE tunnel: an internal listener opens it. */
export interface TunnelEndpoint extends EndpointMetadata {
  readonly kind: 'tunnel';
  /**
   * The `envoy_internal_address` listener to hand the connection to. Undefined in the workload
   * dialect, whose endpoint lists are shared by the local identities: each identity's cluster
   * names its tunnel listener (`tunnelListener`).
   */
  readonly internalListener: string | undefined;
  /** `envoy_internal_address.endpoint_id` (how config_dump and `x explain` name the endpoint). */
  readonly endpointId: string | undefined;
  /** The `tunnel` filter metadata: HBONE address (pod:15008) and the tunnel's destination (pod:port). */
  readonly tunnel: { readonly address: string; readonly destination: string };
}

export interface EndpointModel {
  readonly byCluster: ReadonlyMap<string, readonly Endpoint[]>;
}

export interface RuntimeModel {
  readonly listeners: ListenerModel;
  readonly clusters: ReadonlyMap<string, ClusterModel>;
  readonly endpoints: EndpointModel;
}

export const EMPTY_LISTENERS: ListenerModel = { outbound: undefined, inbound: undefined, inboundPlaintext: undefined, internal: new Map() };

export function emptyModel(): RuntimeModel {
  return { listeners: EMPTY_LISTENERS, clusters: new Map(), endpoints: { byCluster: new Map() } };
}

/** A new model with one part replaced (the others shared with `model`). */
export function withPart(model: RuntimeModel, part: Partial<Pick<RuntimeModel, 'listeners' | 'clusters' | 'endpoints'>>): RuntimeModel {
  return { ...model, ...part };
}

type Compiled<T> = { value: T; error?: undefined } | { value?: undefined; error: string };

// ---------------------------------------------------------------------------------------------
// Listeners

export function compileListeners(resources: readonly unknown[]): Compiled<ListenerModel> {
  return attempt(() => {
    let outbound: OutboundListener | undefined;
    let inbound: InboundListener | undefined;
    let inboundPlaintext: InboundListener | undefined;
    const internal = new Map<string, InternalListener>();
    for (const resource of resources) {
      const l = record(resource, 'Listener');
      const name = string(l['name'], 'Listener.name');
      const path = `listener ${name}`;
      for (const [i, f] of list(l['listener_filters'], `${path}.listener_filters`).entries()) {
        const filterName = string(record(f, `${path}.listener_filters[${i}]`)['name'], `${path}.listener_filters[${i}].name`);
        if (!KNOWN_LISTENER_FILTERS.has(filterName)) throw new UnsupportedConfig(`${path}.listener_filters[${i}]`, `listener filter ${filterName} is not supported`);
      }
      if (l['internal_listener'] !== undefined) {
        internal.set(name, compileInternalListener(l, path));
      } else if (l['filter_chain_matcher'] !== undefined) {
        if (outbound) throw new UnsupportedConfig(path, `a second outbound listener (already have ${outbound.name})`);
        outbound = compileOutboundListener(l, name, path);
      } else {
        const compiled = compileInboundListener(l, name, path);
        if (compiled.hbone) {
          if (inbound) throw new UnsupportedConfig(path, `a second HBONE inbound listener (already have ${inbound.name})`);
          inbound = compiled.listener;
        } else {
          if (inboundPlaintext) throw new UnsupportedConfig(path, `a second plaintext inbound listener (already have ${inboundPlaintext.name})`);
          inboundPlaintext = compiled.listener;
        }
      }
    }
    return { outbound, inbound, inboundPlaintext, internal };
  });
}

function listenerPort(l: JsonRecord, path: string): number {
  const sa = record(record(l['address'], `${path}.address`)['socket_address'], `${path}.address.socket_address`);
  const port = optionalNumber(sa['port_value'], `${path}.address.socket_address.port_value`);
  if (port === undefined) throw new UnsupportedConfig(`${path}.address.socket_address.port_value`, 'a port is required');
  return port;
}

function compileInternalListener(l: JsonRecord, path: string): InternalListener {
  const chains = list(l['filter_chains'], `${path}.filter_chains`);
  if (chains.length !== 1) throw new UnsupportedConfig(`${path}.filter_chains`, `an internal listener needs exactly one filter chain, got ${chains.length}`);
  const { route } = compileChainFilters(chains[0], `${path}.filter_chains[0]`, 'tcp');
  return { name: string(l['name'], `${path}.name`), route: route as TcpProxyRoute };
}

function compileOutboundListener(l: JsonRecord, name: string, path: string): OutboundListener {
  const chains = new Map<string, TcpProxyRoute>();
  const services = new Map<string, string>();
  for (const [i, chain] of list(l['filter_chains'], `${path}.filter_chains`).entries()) {
    const chainPath = `${path}.filter_chains[${i}]`;
    const c = record(chain, chainPath);
    const chainName = string(c['name'], `${chainPath}.name`);
    const service = chainService(c, chainPath) ?? serviceOfChain(chainName);
    if (service !== undefined) services.set(chainName, service);
    if (c['filter_chain_match'] !== undefined) throw new UnsupportedConfig(`${chainPath}.filter_chain_match`, 'with filter_chain_matcher, chains are selected by name only');
    if (c['transport_socket'] !== undefined) throw new UnsupportedConfig(`${chainPath}.transport_socket`, 'outbound chains take plain TCP from the pod');
    chains.set(chainName, compileChainFilters(c, `${path}.filter_chains[${i}] (${chainName})`, 'tcp').route as TcpProxyRoute);
  }
  const referenced = new Set<string>();
  const matcherLookup = compileMatcher(l['filter_chain_matcher'], `${path}.filter_chain_matcher`, referenced);
  for (const chain of referenced) {
    const implicit = WELL_KNOWN_CHAINS[chain];
    if (!chains.has(chain) && implicit) chains.set(chain, implicit);
    if (!chains.has(chain)) throw new UnsupportedConfig(`${path}.filter_chain_matcher`, `names filter chain "${chain}", which the listener does not have`);
  }
  let fallback: string | undefined;
  if (l['default_filter_chain'] !== undefined) {
    const route = compileChainFilters(l['default_filter_chain'], `${path}.default_filter_chain`, 'tcp').route as TcpProxyRoute;
    fallback = '<default_filter_chain>';
    chains.set(fallback, route);
  }
  const lookup: ChainLookup = fallback === undefined ? matcherLookup : (input) => matcherLookup(input) ?? fallback;
  const serviceVips = new Map<string, string>();
  collectServiceVips(l['filter_chain_matcher'], services, serviceVips);
  return { name, port: listenerPort(l, path), lookup, chains, services, serviceVips };
}

/** `metadata.filter_metadata.istio.service` of a filter chain, when it has one. */
function chainService(chain: JsonRecord, path: string): string | undefined {
  const metadata = optionalRecord(chain['metadata'], `${path}.metadata`);
  const filterMetadata = optionalRecord(metadata?.['filter_metadata'], `${path}.metadata.filter_metadata`);
  const istio = optionalRecord(filterMetadata?.[ISTIO_METADATA_NAMESPACE], `${path}.metadata.filter_metadata.${ISTIO_METADATA_NAMESPACE}`);
  const service = istio?.[CHAIN_SERVICE_METADATA_KEY];
  return service === undefined ? undefined : string(service, `${path}.metadata.filter_metadata.${ISTIO_METADATA_NAMESPACE}.${CHAIN_SERVICE_METADATA_KEY}`);
}

/**
 * Istio's well-known chains, which trimmed config dumps name without listing: a matcher may
 * select them without the listener defining them.
 */
export const WELL_KNOWN_CHAINS: Readonly<Record<string, TcpProxyRoute>> = {
  [PASSTHROUGH_FILTER_CHAIN]: { statPrefix: PASSTHROUGH_CLUSTER, cluster: PASSTHROUGH_CLUSTER },
  [BLACKHOLE_FILTER_CHAIN]: { statPrefix: BLACKHOLE_CLUSTER, cluster: BLACKHOLE_CLUSTER },
};

/** Istio's well-known clusters, used when the control plane does not send them. */
export const WELL_KNOWN_CLUSTERS: ReadonlyMap<string, ClusterModel> = new Map<string, ClusterModel>([
  [PASSTHROUGH_CLUSTER, { kind: 'original_dst', name: PASSTHROUGH_CLUSTER, upstreamPortOverride: undefined, useHttpHeader: false, tlsIdentity: undefined }],
  [BLACKHOLE_CLUSTER, { kind: 'static', name: BLACKHOLE_CLUSTER, endpoints: [] }],
]);

function compileInboundListener(l: JsonRecord, name: string, path: string): { hbone: boolean; listener: InboundListener } {
  const chains: InboundChain[] = [];
  let hboneChains = 0;
  for (const [i, chain] of list(l['filter_chains'], `${path}.filter_chains`).entries()) {
    const chainPath = `${path}.filter_chains[${i}]`;
    const c = record(chain, chainPath);
    const chainName = optionalString(c['name'], `${chainPath}.name`) ?? `#${i}`;
    const match = optionalRecord(c['filter_chain_match'], `${chainPath}.filter_chain_match`) ?? {};
    for (const key of Object.keys(match)) {
      if (key !== 'prefix_ranges') throw new UnsupportedConfig(`${chainPath}.filter_chain_match.${key}`, 'only prefix_ranges (the local pod IP) is supported');
    }
    const prefixes = list(match['prefix_ranges'], `${chainPath}.filter_chain_match.prefix_ranges`).map((r, j) =>
      cidrRange(r, `${chainPath}.filter_chain_match.prefix_ranges[${j}]`),
    );
    const { route, rbac, hbone } = compileChainFilters(c, chainPath, 'any');
    const identity = downstreamIdentity(c['transport_socket'], `${chainPath}.transport_socket`);
    if (hbone) {
      hboneChains++;
      if (!identity) throw new UnsupportedConfig(`${chainPath}.transport_socket`, 'an HBONE chain needs a DownstreamTlsContext with an SDS certificate');
    } else if (identity) {
      throw new UnsupportedConfig(`${chainPath}.transport_socket`, 'TLS without a CONNECT route is not supported (plaintext chains only)');
    }
    chains.push({ name: chainName, prefixes, identity, rbac, cluster: hbone ?? (route as TcpProxyRoute).cluster });
  }
  if (hboneChains !== 0 && hboneChains !== chains.length) throw new UnsupportedConfig(`${path}.filter_chains`, 'mixes HBONE (CONNECT) and plaintext chains');
  if (chains.length === 0) throw new UnsupportedConfig(`${path}.filter_chains`, 'a listener without filter chains');
  return { hbone: hboneChains > 0, listener: { name, port: listenerPort(l, path), chains } };
}

/** SPIFFE URI of an SDS secret name; Istio appends `~<pod>~<uid>`. */
export function identityOfSecret(name: string, path: string): string {
  const uri = name.split('~')[0] as string;
  try {
    parseSpiffeUri(uri);
  } catch {
    throw new UnsupportedConfig(path, `SDS secret "${name}" does not name a SPIFFE identity`);
  }
  return uri;
}

function tlsIdentity(commonTlsContext: unknown, path: string): string {
  const ctx = record(commonTlsContext, path);
  const secrets = list(ctx['tls_certificate_sds_secret_configs'], `${path}.tls_certificate_sds_secret_configs`);
  if (secrets.length !== 1) throw new UnsupportedConfig(`${path}.tls_certificate_sds_secret_configs`, `expected one SDS certificate, got ${secrets.length}`);
  const secretPath = `${path}.tls_certificate_sds_secret_configs[0].name`;
  return identityOfSecret(string(record(secrets[0], secretPath)['name'], secretPath), secretPath);
}

function downstreamIdentity(transportSocket: unknown, path: string): string | undefined {
  if (transportSocket === undefined) return undefined;
  const { type, config } = typedConfig(transportSocket, path);
  if (type === T.rawBuffer) return undefined;
  if (type !== T.downstreamTls) throw new UnsupportedConfig(path, `transport socket ${type} is not supported`);
  return tlsIdentity(config['common_tls_context'], `${path}.typed_config.common_tls_context`);
}

/**
 * A chain's network filters: RBAC filters, then exactly one terminal filter — tcp_proxy, or (for
 * `mode: 'any'`) an HCM whose only route is a CONNECT matcher (HBONE termination).
 */
function compileChainFilters(
  chain: unknown,
  path: string,
  mode: 'tcp' | 'any',
): { route: TcpProxyRoute | undefined; rbac: RbacFilter[]; hbone: string | undefined } {
  const c = record(chain, path);
  const filters = list(c['filters'], `${path}.filters`);
  const rbac: RbacFilter[] = [];
  for (const [i, filter] of filters.entries()) {
    const fPath = `${path}.filters[${i}]`;
    const { type, config } = typedConfig(filter, fPath);
    const last = i === filters.length - 1;
    if (type === T.rbac) {
      if (last) throw new UnsupportedConfig(fPath, 'RBAC cannot be the last filter');
      const compiled = compileRbacFilter(config, fPath);
      if (compiled) rbac.push(compiled);
      continue;
    }
    if (!last) throw new UnsupportedConfig(fPath, `filter ${type} must be the last one`);
    if (type === T.tcpProxy) return { route: compileTcpProxy(config, `${fPath}.typed_config`), rbac, hbone: undefined };
    if (type === T.hcm && mode === 'any') return { route: undefined, rbac, hbone: connectRouteCluster(config, `${fPath}.typed_config`) };
    throw new UnsupportedConfig(fPath, `network filter ${type} is not supported here`);
  }
  throw new UnsupportedConfig(`${path}.filters`, 'a chain needs a tcp_proxy (or CONNECT-terminating HCM) filter');
}

function compileTcpProxy(config: JsonRecord, path: string): TcpProxyRoute {
  if (config['weighted_clusters'] !== undefined) throw new UnsupportedConfig(`${path}.weighted_clusters`, 'weighted_clusters is not supported');
  const cluster = string(config['cluster'], `${path}.cluster`);
  const statPrefix = optionalString(config['stat_prefix'], `${path}.stat_prefix`) ?? cluster;
  const tc = optionalRecord(config['tunneling_config'], `${path}.tunneling_config`);
  if (!tc) return { statPrefix, cluster };
  const headers = list(tc['headers_to_add'], `${path}.tunneling_config.headers_to_add`).map((h, i) => {
    const hPath = `${path}.tunneling_config.headers_to_add[${i}].header`;
    const header = record(record(h, hPath)['header'], hPath);
    const key = string(header['key'], `${hPath}.key`);
    const value = string(header['value'], `${hPath}.value`);
    checkSubstitutions(value, `${hPath}.value`);
    return { key: key.toLowerCase(), value };
  });
  const hostname = string(tc['hostname'], `${path}.tunneling_config.hostname`);
  checkSubstitutions(hostname, `${path}.tunneling_config.hostname`);
  return { statPrefix, cluster, tunneling: { hostname, headers } };
}

/**
 * The Envoy substitutions ztunnel can evaluate in tunneling_config: the endpoint's tunnel
 * metadata and the downstream's original destination.
 */
const SUBSTITUTION = /%([A-Z_]+)(\([^)]*\))?%/g;
const SUPPORTED_SUBSTITUTIONS = new Set(['DYNAMIC_METADATA', 'DOWNSTREAM_LOCAL_ADDRESS', 'DOWNSTREAM_REMOTE_ADDRESS']);

function checkSubstitutions(text: string, path: string): void {
  for (const m of text.matchAll(SUBSTITUTION)) {
    const op = m[1] as string;
    if (!SUPPORTED_SUBSTITUTIONS.has(op)) throw new UnsupportedConfig(path, `substitution %${op}% is not supported`);
    if (op === 'DYNAMIC_METADATA' && !dynamicMetadataKey(m[2] ?? '')) {
      throw new UnsupportedConfig(path, `${m[0]} is not supported; only the tunnel metadata (tunnel:address, tunnel:destination)`);
    }
  }
}

/** `(tunnel:destination)` or `(["tunnel", "destination"])` → 'destination'. */
function dynamicMetadataKey(args: string): 'address' | 'destination' | undefined {
  const m = /^\(\s*\[?\s*"?tunnel"?\s*[:,]\s*"?(address|destination)"?\s*\]?\s*\)$/.exec(args);
  return m?.[1] as 'address' | 'destination' | undefined;
}

/** Substitutes what `checkSubstitutions` accepted. */
export function substitute(
  text: string,
  values: { tunnel?: { address: string; destination: string }; downstreamLocal: string; downstreamRemote: string },
): string {
  const parts = compiledSubstitutions(text);
  if (typeof parts === 'string') return parts;
  let out = '';
  for (const part of parts) {
    if (typeof part === 'string') out += part;
    else if (part.value === 'local') out += values.downstreamLocal;
    else if (part.value === 'remote') out += values.downstreamRemote;
    else out += values.tunnel ? values.tunnel[part.value] : '';
  }
  return out;
}

/** A template cut into literal text and the values it takes (`tunnel:address`/`tunnel:destination` → 'address'/'destination'). */
type CompiledSubstitution = string | ReadonlyArray<string | { readonly value: 'local' | 'remote' | 'address' | 'destination' }>;

/**
 * The templates are the configuration's (a tunnel's hostname and headers): the same few strings
 * on every connection. Each is parsed once (regular expressions per connection took ~1 % of a
 * ztunnel's CPU opening connections); the cache is bounded because configurations change.
 */
const SUBSTITUTION_CACHE_ENTRIES = 1024;
const substitutionCache = new BoundedCache<string, CompiledSubstitution>(SUBSTITUTION_CACHE_ENTRIES);

function compiledSubstitutions(text: string): CompiledSubstitution {
  let compiled = substitutionCache.get(text);
  if (compiled !== undefined) return compiled;
  const parts: Array<string | { value: 'local' | 'remote' | 'address' | 'destination' }> = [];
  let at = 0;
  for (const m of text.matchAll(SUBSTITUTION)) {
    if (m.index > at) parts.push(text.slice(at, m.index));
    at = m.index + m[0].length;
    const op = m[1];
    if (op === 'DOWNSTREAM_LOCAL_ADDRESS') parts.push({ value: 'local' });
    else if (op === 'DOWNSTREAM_REMOTE_ADDRESS') parts.push({ value: 'remote' });
    else {
      const key = dynamicMetadataKey(m[2] ?? '');
      if (key) parts.push({ value: key });
    }
  }
  if (at < text.length) parts.push(text.slice(at));
  compiled = parts.length === 0 ? '' : parts.length === 1 && typeof parts[0] === 'string' ? parts[0] : parts;
  substitutionCache.set(text, compiled);
  return compiled;
}

function connectRouteCluster(config: JsonRecord, path: string): string {
  if (config['rds'] !== undefined) throw new UnsupportedConfig(`${path}.rds`, 'RDS is not supported on ztunnel; inline route_config');
  const rc = record(config['route_config'], `${path}.route_config`);
  for (const [i, vh] of list(rc['virtual_hosts'], `${path}.route_config.virtual_hosts`).entries()) {
    for (const [j, route] of list(record(vh, `${path}.route_config.virtual_hosts[${i}]`)['routes'], `${path}.route_config.virtual_hosts[${i}].routes`).entries()) {
      const rPath = `${path}.route_config.virtual_hosts[${i}].routes[${j}]`;
      const r = record(route, rPath);
      if (!isRecord(record(r['match'], `${rPath}.match`)['connect_matcher'])) continue;
      const action = record(r['route'], `${rPath}.route`);
      const upgrades = list(action['upgrade_configs'], `${rPath}.route.upgrade_configs`);
      if (!upgrades.some((u) => isRecord(u) && u['upgrade_type'] === 'CONNECT')) {
        throw new UnsupportedConfig(`${rPath}.route.upgrade_configs`, 'a CONNECT route needs upgrade_type CONNECT');
      }
      return string(action['cluster'], `${rPath}.route.cluster`);
    }
  }
  throw new UnsupportedConfig(`${path}.route_config`, 'no route with connect_matcher: this HCM cannot terminate HBONE');
}

// ---------------------------------------------------------------------------------------------
// Clusters

export function compileClusters(resources: readonly unknown[]): Compiled<ReadonlyMap<string, ClusterModel>> {
  return attempt(() => {
    const clusters = new Map<string, ClusterModel>();
    for (const resource of resources) {
      const c = record(resource, 'Cluster');
      const name = string(c['name'], 'Cluster.name');
      clusters.set(name, compileCluster(c, name, `cluster ${name}`));
    }
    return clusters;
  });
}

function compileCluster(c: JsonRecord, name: string, path: string): ClusterModel {
  const type = c['type'] ?? 'STATIC';
  const lbPolicy = c['lb_policy'] ?? 'ROUND_ROBIN';
  switch (type) {
    case 'EDS': {
      if (lbPolicy !== 'ROUND_ROBIN') throw new UnsupportedConfig(`${path}.lb_policy`, `EDS clusters balance ROUND_ROBIN only, not ${String(lbPolicy)}`);
      const tlsIdentity = edsTlsIdentity(c, path);
      if (tlsIdentity === undefined) checkEdsTransport(c, path);
      const eds = optionalRecord(c['eds_cluster_config'], `${path}.eds_cluster_config`);
      return { kind: 'eds', name, serviceName: optionalString(eds?.['service_name'], `${path}.eds_cluster_config.service_name`) ?? name, ...(tlsIdentity ? { tlsIdentity } : {}) };
    }
    case 'ORIGINAL_DST': {
      const lb = optionalRecord(c['original_dst_lb_config'], `${path}.original_dst_lb_config`) ?? {};
      const useHttpHeader = lb['use_http_header'] === true;
      const header = optionalString(lb['http_header_name'], `${path}.original_dst_lb_config.http_header_name`);
      if (header && header.toLowerCase() !== ORIGINAL_DST_HEADER) {
        throw new UnsupportedConfig(`${path}.original_dst_lb_config.http_header_name`, 'only x-envoy-original-dst-host is supported');
      }
      return {
        kind: 'original_dst',
        name,
        upstreamPortOverride: optionalNumber(lb['upstream_port_override'], `${path}.original_dst_lb_config.upstream_port_override`),
        useHttpHeader,
        tlsIdentity: upstreamIdentity(c['transport_socket'], `${path}.transport_socket`),
      };
    }
    case 'STATIC': {
      const cla = optionalRecord(c['load_assignment'], `${path}.load_assignment`);
      return { kind: 'static', name, endpoints: cla ? compileAssignment(cla, `${path}.load_assignment`).endpoints : [] };
    }
    default:
      throw new UnsupportedConfig(`${path}.type`, `cluster type ${String(type)} is not supported (EDS, ORIGINAL_DST, STATIC)`);
  }
}

function upstreamIdentity(transportSocket: unknown, path: string): string | undefined {
  if (transportSocket === undefined) return undefined;
  const { type, config } = typedConfig(transportSocket, path);
  if (type === T.rawBuffer) return undefined;
  if (type !== T.upstreamTls) throw new UnsupportedConfig(path, `transport socket ${type} is not supported on an ORIGINAL_DST cluster`);
  return tlsIdentity(config['common_tls_context'], `${path}.typed_config.common_tls_context`);
}

/**
 * An EDS cluster whose one transport socket is an UpstreamTlsContext (no transport_socket_matches)
 * opens HBONE to its endpoints itself: the identity of its SDS certificate. Otherwise undefined.
 */
function edsTlsIdentity(c: JsonRecord, path: string): string | undefined {
  if (c['transport_socket'] === undefined || c['transport_socket_matches'] !== undefined) return undefined;
  const { type, config } = typedConfig(c['transport_socket'], `${path}.transport_socket`);
  if (type !== T.upstreamTls) return undefined;
  return tlsIdentity(config['common_tls_context'], `${path}.transport_socket.typed_config.common_tls_context`);
}

/** EDS clusters hand connections to internal listeners (internal_upstream) or send plain TCP. */
function checkEdsTransport(c: JsonRecord, path: string): void {
  const sockets: Array<[unknown, string]> = [];
  if (c['transport_socket'] !== undefined) sockets.push([c['transport_socket'], `${path}.transport_socket`]);
  for (const [i, m] of list(c['transport_socket_matches'], `${path}.transport_socket_matches`).entries()) {
    sockets.push([record(m, `${path}.transport_socket_matches[${i}]`)['transport_socket'], `${path}.transport_socket_matches[${i}].transport_socket`]);
  }
  for (const [socket, socketPath] of sockets) {
    const { type } = typedConfig(socket, socketPath);
    if (type !== T.internalUpstream && type !== T.rawBuffer) {
      throw new UnsupportedConfig(socketPath, `transport socket ${type} is not supported on an EDS cluster (internal_upstream or raw_buffer)`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Endpoints

export function compileEndpoints(resources: readonly unknown[]): Compiled<EndpointModel> {
  return attempt(() => {
    const byCluster = new Map<string, Endpoint[]>();
    for (const resource of resources) {
      const cla = record(resource, 'ClusterLoadAssignment');
      const name = string(cla['cluster_name'], 'ClusterLoadAssignment.cluster_name');
      byCluster.set(name, compileAssignment(cla, `endpoints ${name}`).endpoints);
    }
    return { byCluster };
  });
}

/** Envoy routes to HEALTHY and UNKNOWN (not health-checked) hosts; everything else is skipped. */
const ROUTABLE_HEALTH = new Set(['HEALTHY', 'UNKNOWN', undefined]);

function compileAssignment(cla: JsonRecord, path: string): { endpoints: Endpoint[] } {
  const endpoints: Endpoint[] = [];
  for (const [i, locality] of list(cla['endpoints'], `${path}.endpoints`).entries()) {
    for (const [j, lbEndpoint] of list(record(locality, `${path}.endpoints[${i}]`)['lb_endpoints'], `${path}.endpoints[${i}].lb_endpoints`).entries()) {
      const ePath = `${path}.endpoints[${i}].lb_endpoints[${j}]`;
      const e = record(lbEndpoint, ePath);
      const address = record(record(record(e['endpoint'], `${ePath}.endpoint`)['address'], `${ePath}.endpoint.address`), `${ePath}.endpoint.address`);
      const metadata = optionalRecord(optionalRecord(e['metadata'], `${ePath}.metadata`)?.['filter_metadata'], `${ePath}.metadata.filter_metadata`);
      const tunnelMeta = optionalRecord(metadata?.['tunnel'], `${ePath}.metadata.filter_metadata.tunnel`);
      const istioMeta = optionalRecord(metadata?.['istio'], `${ePath}.metadata.filter_metadata.istio`);
      const identityText = optionalString(tunnelMeta?.['identity'] ?? istioMeta?.['identity'], `${ePath}.metadata.filter_metadata.tunnel.identity`);
      const workload = optionalString(istioMeta?.['workload'], `${ePath}.metadata.filter_metadata.istio.workload`);
      const meta = {
        healthy: ROUTABLE_HEALTH.has(e['health_status'] as string | undefined),
        ...(identityText ? { identity: identityOfSecret(identityText, `${ePath}.metadata.filter_metadata.tunnel.identity`) } : {}),
        ...(workload ? { workload } : {}),
      };
      let tunnel: TunnelEndpoint['tunnel'] | undefined;
      if (tunnelMeta) {
        const tAddress = string(tunnelMeta['address'], `${ePath}.metadata.filter_metadata.tunnel.address`);
        const tDestination = string(tunnelMeta['destination'], `${ePath}.metadata.filter_metadata.tunnel.destination`);
        splitAddress(tAddress, `${ePath}.metadata.filter_metadata.tunnel.address`);
        splitAddress(tDestination, `${ePath}.metadata.filter_metadata.tunnel.destination`);
        tunnel = { address: tAddress, destination: tDestination };
      }
      if (address['envoy_internal_address'] !== undefined) {
        const ia = record(address['envoy_internal_address'], `${ePath}.endpoint.address.envoy_internal_address`);
        const internalListener = string(ia['server_listener_name'], `${ePath}.endpoint.address.envoy_internal_address.server_listener_name`);
        const endpointId = optionalString(ia['endpoint_id'], `${ePath}.endpoint.address.envoy_internal_address.endpoint_id`) || undefined;
        if (!tunnel) throw new UnsupportedConfig(`${ePath}.metadata`, 'an internal endpoint needs `tunnel` metadata (address, destination)');
        endpoints.push({ kind: 'tunnel', ...meta, internalListener, endpointId, tunnel });
      } else if (address['socket_address'] !== undefined) {
        const sa = record(address['socket_address'], `${ePath}.endpoint.address.socket_address`);
        const ip = string(sa['address'], `${ePath}.endpoint.address.socket_address.address`);
        const port = optionalNumber(sa['port_value'], `${ePath}.endpoint.address.socket_address.port_value`);
        const text = formatAddress(ip, port ?? 0);
        splitAddress(text, `${ePath}.endpoint.address.socket_address`);
        // `tunnel` metadata on a socket address opens no tunnel (only an internal listener reads it).
        endpoints.push({ kind: 'socket', ...meta, address: text });
      } else {
        throw new UnsupportedConfig(`${ePath}.endpoint.address`, 'expected envoy_internal_address or socket_address');
      }
    }
  }
  return { endpoints };
}

// ---------------------------------------------------------------------------------------------
// Queries used by the proxy

/** The inbound chain serving `ip` (longest prefix), if this node hosts it. */
export function inboundChainFor(listener: InboundListener | undefined, ip: string): InboundChain | undefined {
  if (!listener) return undefined;
  // Asked for every tunnel (twice: the chain, then authorization) with the few addresses of this
  // node's pods; matching every prefix converts the address again each time (2 % of ztunnel B's
  // CPU opening connections). A listener is never changed after it is built (a config update
  // makes a new one), so its answers are kept with it; bounded, since the addresses asked are the
  // peer's to choose.
  let byIp = inboundChainCache.get(listener);
  if (!byIp) inboundChainCache.set(listener, (byIp = new BoundedCache(INBOUND_CHAIN_CACHE_ENTRIES)));
  if (byIp.has(ip)) return byIp.get(ip);
  const chain = matchInboundChain(listener, ip);
  byIp.set(ip, chain);
  return chain;
}

const INBOUND_CHAIN_CACHE_ENTRIES = 1024;
const inboundChainCache = new WeakMap<InboundListener, BoundedCache<string, InboundChain | undefined>>();

function matchInboundChain(listener: InboundListener, ip: string): InboundChain | undefined {
  let best: InboundChain | undefined;
  let bestLen = -1;
  for (const chain of listener.chains) {
    if (chain.prefixes.length === 0 && bestLen < 0) {
      best = chain;
      bestLen = 0;
    }
    for (const prefix of chain.prefixes) {
      if (prefix.prefixLen > bestLen && cidrContains(prefix, ip)) {
        best = chain;
        bestLen = prefix.prefixLen;
      }
    }
  }
  return best;
}

/** A local pod as the HBONE inbound listener describes it. */
export interface LocalWorkload {
  readonly ip: string;
  readonly identity: string;
}

/** Pods on this node: the /32 (/128) prefixes of HBONE inbound chains and their identities. */
export function localWorkloads(model: RuntimeModel): LocalWorkload[] {
  const out: LocalWorkload[] = [];
  for (const chain of model.listeners.inbound?.chains ?? []) {
    for (const prefix of chain.prefixes) {
      if (chain.identity && prefix.prefixLen === (prefix.v6 ? 128 : 32)) out.push({ ip: prefix.text.split('/')[0] as string, identity: chain.identity });
    }
  }
  return out;
}

/** Every identity this node needs a certificate for: local pods' (server) and tunnel clusters' (client). */
export function localIdentities(model: RuntimeModel): string[] {
  const ids = new Set<string>();
  for (const w of localWorkloads(model)) ids.add(w.identity);
  for (const c of model.clusters.values()) if (c.kind === 'original_dst' && c.tlsIdentity) ids.add(c.tlsIdentity);
  return [...ids].sort();
}

/** What endpoint metadata says about the pod at an IP (`istio.workload`, `istio`/`tunnel` identity). */
interface EndpointFacts {
  workload?: string;
  identity?: string;
}

const endpointIndexes = new WeakMap<EndpointModel, Map<string, EndpointFacts>>();

/** Endpoint metadata by pod IP, indexed once per EDS update. */
function endpointFactsOf(model: RuntimeModel, ip: string): EndpointFacts | undefined {
  let index = endpointIndexes.get(model.endpoints);
  if (!index) {
    index = new Map();
    for (const endpoints of model.endpoints.byCluster.values()) {
      for (const e of endpoints) {
        const address = e.kind === 'tunnel' ? e.tunnel.destination : e.address;
        const facts = index.get(hostOfAddress(address)) ?? {};
        facts.workload ??= e.workload;
        facts.identity ??= e.identity;
        index.set(hostOfAddress(address), facts);
      }
    }
    endpointIndexes.set(model.endpoints, index);
  }
  return index.get(ip);
}

/** The workload name of a pod IP, as endpoint metadata tells it; undefined for pods behind no service. */
export function workloadOfIp(model: RuntimeModel, ip: string): string | undefined {
  return endpointFactsOf(model, ip)?.workload;
}

/**
 * The SPIFFE identity of the workload at `ip`, as this node's configuration knows it: a local
 * pod's (its inbound chain), or an endpoint's (`istio`/`tunnel` metadata). Undefined when the
 * configuration names none (a pod behind no service on another node).
 */
export function identityOfIp(model: RuntimeModel, ip: string): string | undefined {
  return localWorkloads(model).find((w) => w.ip === ip)?.identity ?? endpointFactsOf(model, ip)?.identity;
}

function hostOfAddress(address: string): string {
  return address.startsWith('[') ? address.slice(1, address.indexOf(']')) : address.slice(0, address.lastIndexOf(':'));
}

/**
 * The VIP of a service host as a client might write it: the FQDN (`reviews.default.svc.cluster.local`),
 * `reviews.default`, `reviews.default.svc`, or a bare `reviews` when only one namespace has it.
 */
export function serviceVipOf(model: RuntimeModel, host: string): string | undefined {
  const vips = model.listeners.outbound?.serviceVips;
  if (!vips) return undefined;
  const name = host.toLowerCase().replace(/\.$/, '');
  const exact = vips.get(name) ?? vips.get(`${name}.svc.cluster.local`) ?? vips.get(`${name}.cluster.local`);
  if (exact) return exact;
  const candidates = [...vips.keys()].filter((fqdn) => fqdn.startsWith(`${name}.`) && fqdn.split('.').length === 5);
  return candidates.length === 1 ? vips.get(candidates[0] as string) : undefined;
}
