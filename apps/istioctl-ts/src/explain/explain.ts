/**
 * `meshctl x explain`: the path one connection takes through the config, as numbered steps in
 * the order the connection meets them (docs/model.md, docs/walkthrough.md): the source ztunnel's `ztunnel_outbound` listener, each
 * `filter_chain_matcher` branch (source IP → destination IP → destination port), the filter chain
 * and its EDS cluster, the endpoint chosen and its `tunnel` metadata, the internal listener
 * `outbound_tunnel_lis_*`, the tunnel cluster `outbound_tunnel_clus_*`, then the destination
 * ztunnel's `ztunnel_inbound` filter chain and the RBAC verdict with the policy that decides.
 *
 * Pure: config dumps in, steps out, so it works from live proxies and from saved files alike.
 */
import { MeshError } from '@mesh/errors';
import { resourceName, type ConfigDump } from '../config-dump/config-dump.js';
import { chainMatchPrefixes, chainTarget, tlsCertificateName } from '../config-dump/filter-chains.js';
import { num, rec, records, str, type JsonRecord } from '../config-dump/json.js';
import { filterChainsByName, matcherLeaves, walkMatcher, type WalkBranch } from '../config-dump/matcher.js';
import { INBOUND_LISTENER, OUTBOUND_LISTENER, parseServiceClusterName } from '../config-dump/names.js';
import { endpointAddress, endpointMetadata, splitHostPort } from '../config-dump/proxy-config-views.js';
import { findWorkload, meshWorkloads, workloadLabel, type WorkloadInfo } from '../config-dump/workloads.js';
import { evaluateRbac, type RbacVerdict } from './rbac.js';
import type { ExplainInput, ExplainOutcome, ExplainStep, Explanation } from './types.js';
import { explainWorkloadPath } from './workload-explain.js';

export type { ExplainInput, ExplainOutcome, ExplainStep, Explanation } from './types.js';

const TUNNEL_PORT = 15008;

function explainError(message: string, hint: string): MeshError {
  return new MeshError('MESHCTL_ERR_EXPLAIN', message, { hint });
}

function listener(dump: ConfigDump, name: string): JsonRecord | undefined {
  return dump.listeners.find((l) => resourceName(l) === name);
}

function listenerAddressText(l: JsonRecord): string {
  const socket = rec(rec(l['address'])['socket_address']);
  return `${str(socket['address']) ?? '?'}:${String(num(socket['port_value']) ?? '?')}`;
}

function knownWorkloads(workloads: readonly WorkloadInfo[]): string {
  return workloads.map((w) => (w.name ? `${workloadLabel(w)} (${w.ip})` : w.ip)).join(', ');
}

/** Where the connection goes: an IP and port, and how the user named it. */
function resolveDestination(input: ExplainInput, workloads: readonly WorkloadInfo[], source: WorkloadInfo, sourceDump: ConfigDump): Explanation['destination'] {
  const [host, portText] = splitHostPort(input.to);
  const port = Number(portText);
  if (!host || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw explainError(`--to ${input.to} is not host:port`, 'e.g. --to reviews:9080, --to reviews.default.svc.cluster.local:9080 or --to 10.77.100.11:9080');
  }
  if (/^[0-9.]+$/.test(host)) return { label: input.to, ip: host, port };
  // A Service: find its VIP in the source's branch of the outbound matcher (chain names carry the FQDN).
  const namespace = source.namespace ?? 'default';
  const parts = host.split('.');
  const fqdn = parts.length >= 3 ? host : `${parts[0]}.${parts[1] ?? namespace}.svc.cluster.local`;
  const outbound = listener(sourceDump, OUTBOUND_LISTENER);
  if (outbound) {
    const chains = filterChainsByName(outbound);
    for (const leaf of matcherLeaves(rec(outbound['filter_chain_matcher']))) {
      const src = leaf.branches.find((b) => b.input === 'source IP');
      if (src && src.key !== source.ip) continue;
      const dst = leaf.branches.find((b) => b.input === 'destination IP' && b.kind === 'exact');
      const dstPort = leaf.branches.find((b) => b.input === 'destination port' && b.kind === 'exact');
      const cluster = chainTarget(chains.get(leaf.chain) ?? {}).cluster ?? leaf.chain;
      if (dst?.key && dstPort?.key === String(port) && parseServiceClusterName(cluster)?.fqdn === fqdn) {
        return { label: `${fqdn}:${port}`, ip: dst.key, port };
      }
    }
  }
  const pod = findWorkload(workloads, host);
  if (pod) return { label: `${workloadLabel(pod)}:${port}`, ip: pod.ip, port };
  throw explainError(`no Service ${fqdn} with port ${port} and no pod ${host} in the config of ${workloadLabel(source)}'s ztunnel`, `services and ports: meshctl ztunnel-config services; pods: ${knownWorkloads(workloads)}`);
}

function branchStep(proxy: string, b: WalkBranch): ExplainStep {
  const taken = b.kind === 'exact' ? `matches entry ${b.key}` : b.kind === 'prefix' ? `matches prefix ${b.key}` : 'matches no entry → on_no_match';
  return { proxy, title: `filter_chain_matcher: ${b.input} ${b.value} ${taken}`, details: [] };
}

/** The endpoint to follow: the one asked for, else the first healthy (ztunnel balances round robin over the healthy ones). */
function chooseEndpoint(endpoints: readonly JsonRecord[], wanted: string | undefined): JsonRecord | undefined {
  if (wanted) return endpoints.find((e) => endpointAddress(e) === wanted || splitHostPort(endpointAddress(e))[0] === wanted);
  return endpoints.find((e) => (str(e['health_status']) ?? 'HEALTHY') === 'HEALTHY');
}

function endpointText(e: JsonRecord): string {
  const istio = endpointMetadata(e, 'istio');
  const workload = str(istio['workload']);
  return `${endpointAddress(e)} ${str(e['health_status']) ?? 'HEALTHY'}${workload ? ` (${workload}.${str(istio['namespace']) ?? ''})` : ''}`;
}

interface Walk {
  steps: ExplainStep[];
  done(outcome: ExplainOutcome, summary: string, policy?: string): Explanation;
}

export function explainPath(input: ExplainInput): Explanation {
  const workloads = meshWorkloads(input.proxies);
  const source = findWorkload(workloads, input.from);
  // A workload-dialect ztunnel holds the whole mesh in Istio's workload API: walk that instead,
  // unless the source's own ztunnel runs the Envoy dialect.
  const sourceHome = input.proxies.find((p) => p.name === source?.proxy);
  const dialect = (sourceHome?.dump.workload ? sourceHome : input.proxies.find((p) => p.dump.workload && !sourceHome))?.dump.workload;
  if (dialect) return explainWorkloadPath(input, dialect);
  if (!source) throw explainError(`unknown source pod ${input.from}`, `known pods: ${knownWorkloads(workloads)}`);
  const sourceProxy = input.proxies.find((p) => p.name === source.proxy);
  if (!sourceProxy) {
    throw explainError(`no ztunnel config names ${workloadLabel(source)} (${source.ip}) as a local pod`, `give the config dump of the ztunnel on its node (known: ${input.proxies.map((p) => p.name).join(', ')})`);
  }
  const destination = resolveDestination(input, workloads, source, sourceProxy.dump);
  const steps: ExplainStep[] = [];
  const walk: Walk = {
    steps,
    done: (outcome, summary, policy) => ({
      source: { label: workloadLabel(source), ip: source.ip, proxy: sourceProxy.name, identity: source.identity },
      destination,
      steps,
      outcome,
      policy,
      summary,
    }),
  };
  const here = sourceProxy.name;

  const outbound = listener(sourceProxy.dump, OUTBOUND_LISTENER);
  if (!outbound) return walk.done('incomplete', `${here} has no ${OUTBOUND_LISTENER} listener: it has not received its config from istiod-lite`);
  steps.push({
    proxy: here,
    title: `listener ${OUTBOUND_LISTENER} on ${listenerAddressText(outbound)} captures ${source.ip} → ${destination.ip}:${destination.port}`,
    details: [
      `transparent: ${String(outbound['transparent'] === true)}, use_original_dst: ${String(outbound['use_original_dst'] === true)} (the original destination is the accepted socket's local address)`,
    ],
  });
  const matched = walkMatcher(rec(outbound['filter_chain_matcher']), { sourceIp: source.ip, destinationIp: destination.ip, destinationPort: destination.port });
  for (const b of matched.branches) steps.push(branchStep(here, b));
  if (!matched.chain) return walk.done('incomplete', 'the filter_chain_matcher selects no filter chain: Envoy would close the connection');
  const chain = filterChainsByName(outbound).get(matched.chain);
  if (!chain) return walk.done('incomplete', `the matcher selects filter chain ${matched.chain}, which the listener does not have`);
  const target = chainTarget(chain);
  steps.push({ proxy: here, title: `filter chain ${matched.chain}: ${target.kind === 'tcp' ? 'tcp_proxy' : target.kind} → ${target.cluster === matched.chain ? 'the cluster of the same name' : `cluster ${target.cluster ?? '?'}`}`, details: [] });
  const cluster = sourceProxy.dump.clusters.find((c) => resourceName(c) === target.cluster);
  if (target.cluster === 'BlackHoleCluster') return walk.done('blackhole', 'BlackHoleCluster: the connection is dropped (port 15001 is ztunnel itself)');
  if (!cluster) return walk.done('incomplete', `cluster ${target.cluster ?? '?'} is not in ${here}'s config`);
  const clusterType = str(cluster['type']) ?? 'STATIC';

  let hbone: { address: string; authority: string; tunnelCluster: JsonRecord | undefined; internalListener?: string } | undefined;
  if (target.cluster === 'PassthroughCluster' || (clusterType === 'ORIGINAL_DST' && !target.tunnelHostname && !cluster['transport_socket'])) {
    steps.push({ proxy: here, title: `cluster ${target.cluster} (${clusterType}): plain TCP to the original destination ${destination.ip}:${destination.port}, no tunnel`, details: [] });
    return walk.done('passthrough', `passthrough: ${source.ip} → ${destination.ip}:${destination.port} leaves the mesh as plain TCP (destination unknown to the mesh or not captured)`);
  }
  if (target.tunnelHostname && clusterType === 'EDS') {
    // A pod enrolled in a waypoint for workload traffic: the EDS cluster speaks HBONE to the
    // waypoint itself, :authority the original destination (docs/model.md, routing rule 5).
    const assignment = sourceProxy.dump.endpoints.find((e) => resourceName(e) === target.cluster);
    const endpoints = records(assignment?.['endpoints']).flatMap((g) => records(g['lb_endpoints']));
    steps.push({ proxy: here, title: `cluster ${target.cluster} (EDS, HBONE): ${endpoints.length} waypoint endpoint${endpoints.length === 1 ? '' : 's'}`, details: endpoints.map(endpointText) });
    const chosen = chooseEndpoint(endpoints, input.endpoint);
    if (!chosen) return walk.done('no-endpoint', `no healthy waypoint endpoint in ${target.cluster}: ztunnel refuses the connection`);
    hbone = { address: endpointAddress(chosen), authority: `${destination.ip}:${destination.port}`, tunnelCluster: cluster };
    steps.push({ proxy: here, title: `tcp_proxy tunnels to the waypoint ${hbone.address}: CONNECT :authority ${hbone.authority} (tunneling_config.hostname ${target.tunnelHostname})`, details: [] });
  } else if (target.tunnelHostname) {
    // Direct to a pod IP: the chain tunnels straight to the tunnel cluster (docs/model.md, routing rule 2).
    const override = num(rec(cluster['original_dst_lb_config'])['upstream_port_override']) ?? TUNNEL_PORT;
    hbone = { address: `${destination.ip}:${override}`, authority: `${destination.ip}:${destination.port}`, tunnelCluster: cluster };
    steps.push({
      proxy: here,
      title: `tcp_proxy tunnels directly: CONNECT :authority ${hbone.authority} (tunneling_config.hostname ${target.tunnelHostname})`,
      details: [],
    });
  } else {
    const assignment = sourceProxy.dump.endpoints.find((e) => resourceName(e) === target.cluster);
    const endpoints = records(assignment?.['endpoints']).flatMap((g) => records(g['lb_endpoints']));
    steps.push({
      proxy: here,
      title: `cluster ${target.cluster} (${clusterType}): ${endpoints.length} endpoint${endpoints.length === 1 ? '' : 's'}`,
      details: endpoints.length > 0 ? endpoints.map(endpointText) : [assignment ? 'the ClusterLoadAssignment is empty' : 'no ClusterLoadAssignment in the dump (taken without include_eds?)'],
    });
    const chosen = chooseEndpoint(endpoints, input.endpoint);
    if (!chosen) {
      return walk.done('no-endpoint', input.endpoint ? `endpoint ${input.endpoint} is not in cluster ${target.cluster}` : `no healthy endpoint in ${target.cluster}: ztunnel refuses the connection`);
    }
    const tunnel = endpointMetadata(chosen, 'tunnel');
    const internal = rec(rec(rec(chosen['endpoint'])['address'])['envoy_internal_address']);
    const tunnelAddress = str(tunnel['address']);
    const tunnelDestination = str(tunnel['destination']);
    steps.push({
      proxy: here,
      title: `endpoint ${endpointAddress(chosen)} chosen${input.endpoint ? ' (--endpoint)' : ' (round robin over healthy endpoints; --endpoint follows another)'}`,
      details: tunnelAddress
        ? [`tunnel.address ${tunnelAddress}, tunnel.destination ${tunnelDestination ?? '?'}`, `envoy_internal_address → internal listener ${str(internal['server_listener_name']) ?? '?'}`]
        : ['no tunnel metadata: the destination is not captured, plain TCP'],
    });
    if (!tunnelAddress) {
      return walk.done('passthrough', `plain TCP to ${endpointAddress(chosen)}: the destination pod is outside the mesh`);
    }
    const internalName = str(internal['server_listener_name']) ?? '';
    const internalListener = listener(sourceProxy.dump, internalName);
    if (!internalListener) return walk.done('incomplete', `internal listener ${internalName} is not in ${here}'s config`);
    const internalTarget = chainTarget(records(internalListener['filter_chains'])[0] ?? {});
    const listenerFilters = records(internalListener['listener_filters']).map((f) => str(f['name']) ?? '?');
    steps.push({
      proxy: here,
      title: `internal listener ${internalName}: tcp_proxy → cluster ${internalTarget.cluster ?? '?'}, CONNECT :authority ${tunnelDestination ?? '?'}`,
      details: [
        `listener filters: ${listenerFilters.join(', ') || 'none'} (set_dst_address makes tunnel.address the destination)`,
        `tunneling_config.hostname ${internalTarget.tunnelHostname ?? '?'}, header x-envoy-original-dst-host`,
      ],
    });
    hbone = {
      address: tunnelAddress,
      authority: tunnelDestination ?? `${destination.ip}:${destination.port}`,
      tunnelCluster: sourceProxy.dump.clusters.find((c) => resourceName(c) === internalTarget.cluster),
      internalListener: internalName,
    };
  }

  const tunnelCluster = hbone.tunnelCluster ?? {};
  const clientCert = tlsCertificateName(tunnelCluster);
  const tls = rec(rec(rec(rec(tunnelCluster['transport_socket'])['typed_config'])['common_tls_context'])['tls_params']);
  steps.push({
    proxy: here,
    title: `tunnel cluster ${resourceName(tunnelCluster) || '?'} (${str(tunnelCluster['type']) ?? '?'}): HBONE to ${hbone.address}`,
    details: [
      `mTLS ${str(tls['tls_minimum_protocol_version']) ?? '?'}, client certificate ${clientCert ?? '?'} (SDS)`,
      `port override ${String(num(rec(tunnelCluster['original_dst_lb_config'])['upstream_port_override']) ?? '-')}`,
    ],
  });

  const [tunnelIp] = splitHostPort(hbone.address);
  const [authorityIp, authorityPort] = splitHostPort(hbone.authority);
  const destinationWorkload = workloads.find((w) => w.ip === tunnelIp);
  const destProxy = input.proxies.find((p) => p.name === destinationWorkload?.proxy);
  if (!destProxy) {
    const viaWaypoint = tunnelIp !== authorityIp;
    return walk.done(
      'incomplete',
      viaWaypoint
        ? `the tunnel goes to ${hbone.address}, not to the destination ${hbone.authority}: a waypoint (or a proxy meshctl has no config for) takes it from here`
        : `no ztunnel config serves ${tunnelIp}: give the destination node's config dump (known: ${input.proxies.map((p) => p.name).join(', ')})`,
    );
  }
  const there = destProxy.name;
  const inbound = listener(destProxy.dump, INBOUND_LISTENER);
  if (!inbound) return walk.done('incomplete', `${there} has no ${INBOUND_LISTENER} listener`);
  const inboundChain = records(inbound['filter_chains']).find((c) => chainMatchPrefixes(c).includes(tunnelIp ?? ''));
  if (!inboundChain) return walk.done('incomplete', `${there}'s ${INBOUND_LISTENER} has no filter chain for ${tunnelIp}`);
  const inboundTarget = chainTarget(inboundChain);
  steps.push({
    proxy: there,
    title: `listener ${INBOUND_LISTENER} on ${listenerAddressText(inbound)}: filter chain ${str(inboundChain['name']) ?? '?'} (destination ${tunnelIp})${there === here ? ', same node' : ''}`,
    details: [`server certificate ${tlsCertificateName(inboundChain) ?? '?'}; client certificate required (peer identity ${source.identity ?? clientCert ?? '?'})`],
  });
  const verdict: RbacVerdict = evaluateRbac(inboundTarget.rbac, {
    peerIdentity: clientCert ?? source.identity,
    sourceIp: source.ip,
    destinationIp: authorityIp ?? '',
    destinationPort: Number(authorityPort),
  });
  steps.push({
    proxy: there,
    title: `authorization: ${verdict.allowed === true ? 'ALLOW' : verdict.allowed === false ? 'DENY' : 'UNKNOWN'}${verdict.policy ? ` by ${verdict.policy}` : ''} (${verdict.reason})`,
    details: verdict.filters.map(
      (f) => `RBAC ${f.action} filter: ${f.policyCount} polic${f.policyCount === 1 ? 'y' : 'ies'}, matching: ${f.matched.join(', ') || 'none'}`,
    ),
  });
  if (verdict.allowed !== true) {
    return walk.done(verdict.allowed === false ? 'denied' : 'unknown', `${verdict.allowed === false ? 'denied' : 'cannot tell'}: ${verdict.reason}${verdict.policy ? ` (${verdict.policy})` : ''}; the CONNECT gets 401`, verdict.policy);
  }
  steps.push({
    proxy: there,
    title: `CONNECT → cluster ${inboundTarget.cluster ?? '?'}: connects to ${hbone.authority} (original destination from x-envoy-original-dst-host)`,
    details: [],
  });
  return walk.done('allowed', `allowed: ${workloadLabel(source)} reaches ${destinationWorkload ? workloadLabel(destinationWorkload) : hbone.authority} at ${hbone.authority} over HBONE`, verdict.policy);
}
