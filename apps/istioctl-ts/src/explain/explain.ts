/**
 * `meshctl x explain`: the path one connection takes through the config, as numbered steps in
 * the order the connection meets them (docs/model.md, docs/walkthrough.md): the source ztunnel's `ztunnel_outbound` listener, each
 * `filter_chain_matcher` branch (source IP → destination IP → destination port), the filter chain
 * and its EDS cluster, the endpoint chosen and its `tunnel` metadata, the internal listener
 * `outbound_tunnel_lis_*`, the tunnel cluster `outbound_tunnel_clus_*`, then the destination
 * ztunnel's `ztunnel_inbound` filter chain and the RBAC verdict with the policy that decides.
 *
 * The decisions are ztunnel's own, in both config dialects: each ztunnel's config is compiled into
 * its runtime model (nodes.ts: `compileEnvoyModel`, or `compileWorkloadModel` for a
 * workload-dialect ztunnel) and run through its planners (@mesh/ztunnel-plan `planOutbound`,
 * `planInboundTunnel`) with a decision trace; the dump is read here only to show the facts of the
 * resources the trace names. A workload-dialect dump has no Envoy resources: the model names the
 * same listeners, chains and clusters, and the workload API records (workload-facts.ts) say what
 * the source and destination are, where the Envoy dialect shows its matcher's branches.
 *
 * Pure: config dumps in, steps out, so it works from live proxies and from saved files alike.
 */
import { MeshError } from '@mesh/errors';
import { resourceName, type ConfigDump } from '../config-dump/config-dump.js';
import { BLACKHOLE_FILTER_CHAIN } from '@mesh/envoy-config';
import { FIRST_ENDPOINT, planInboundTunnel, planOutbound, type ClusterModel, type Endpoint, type EndpointPicker, type InboundStep, type MatchBranch, type OutboundStep } from '@mesh/ztunnel-plan';
import { chainTarget, tlsCertificateName } from '../config-dump/filter-chains.js';
import { num, rec, records, str, type JsonRecord } from '../config-dump/json.js';
import { filterChainsByName, matcherLeaves } from '../config-dump/matcher.js';
import { INBOUND_LISTENER, OUTBOUND_LISTENER, parseServiceClusterName } from '../config-dump/names.js';
import { endpointAddress, endpointMetadata, splitHostPort } from '../config-dump/proxy-config-views.js';
import { findWorkload, meshWorkloads, workloadLabel, type WorkloadInfo } from '../config-dump/workloads.js';
import { meshNodes } from './nodes.js';
import { rbacVerdict } from './rbac.js';
import type { ExplainInput, ExplainOutcome, ExplainStep, Explanation, VipLookup } from './types.js';
import { destinationFacts, endpointFacts, serviceVipOf, sourceFacts, uncapturedSource } from './workload-facts.js';

export type { ExplainInput, ExplainOutcome, ExplainStep, Explanation } from './types.js';

function explainError(message: string, hint: string): MeshError {
  return new MeshError('MESHCTL_ERR_EXPLAIN', message, { hint });
}

function listener(dump: ConfigDump, name: string): JsonRecord | undefined {
  return dump.listeners.find((l) => resourceName(l) === name);
}

const EMPTY_DUMP: ConfigDump = { listeners: [], clusters: [], endpoints: [], routes: [], secrets: [] };

function listenerAddressText(l: JsonRecord): string {
  const socket = rec(rec(l['address'])['socket_address']);
  return `${str(socket['address']) ?? '?'}:${String(num(socket['port_value']) ?? '?')}`;
}

function knownWorkloads(workloads: readonly WorkloadInfo[]): string {
  return workloads.map((w) => (w.name ? `${workloadLabel(w)} (${w.ip})` : w.ip)).join(', ');
}

/** Where the connection goes: an IP and port, and how the user named it. */
function resolveDestination(input: ExplainInput, workloads: readonly WorkloadInfo[], source: WorkloadInfo, services: VipLookup): Explanation['destination'] {
  const [host, portText] = splitHostPort(input.to);
  const port = Number(portText);
  if (!host || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw explainError(`--to ${input.to} is not host:port`, 'e.g. --to reviews:9080, --to reviews.default.svc.cluster.local:9080 or --to 10.77.100.11:9080');
  }
  if (/^[0-9.]+$/.test(host)) return { label: input.to, ip: host, port };
  const namespace = source.namespace ?? 'default';
  const parts = host.split('.');
  const fqdn = parts.length >= 3 ? host : `${parts[0]}.${parts[1] ?? namespace}.svc.cluster.local`;
  const vip = services.vip(fqdn, port);
  if (vip !== undefined) return { label: `${fqdn}:${port}`, ip: vip, port };
  const pod = findWorkload(workloads, host);
  if (pod) return { label: `${workloadLabel(pod)}:${port}`, ip: pod.ip, port };
  throw explainError(`no Service ${fqdn}${services.needs(port)} and no pod ${host} in the config of ${workloadLabel(source)}'s ztunnel`, `services and ports: meshctl ztunnel-config services; pods: ${knownWorkloads(workloads)}`);
}

/** Envoy dialect: the VIP in the source's branch of the outbound matcher (chain names carry the FQDN). */
function matcherVips(dump: ConfigDump, source: WorkloadInfo): VipLookup {
  const vip = (fqdn: string, port: number): string | undefined => {
    const outbound = listener(dump, OUTBOUND_LISTENER);
    if (!outbound) return undefined;
    const chains = filterChainsByName(outbound);
    for (const leaf of matcherLeaves(rec(outbound['filter_chain_matcher']))) {
      const src = leaf.branches.find((b) => b.input === 'source IP');
      if (src && src.key !== source.ip) continue;
      const dst = leaf.branches.find((b) => b.input === 'destination IP' && b.kind === 'exact');
      const dstPort = leaf.branches.find((b) => b.input === 'destination port' && b.kind === 'exact');
      const cluster = chainTarget(chains.get(leaf.chain) ?? {}).cluster ?? leaf.chain;
      if (dst?.key && dstPort?.key === String(port) && parseServiceClusterName(cluster)?.fqdn === fqdn) return dst.key;
    }
    return undefined;
  };
  return { vip, needs: (port) => ` with port ${port}` };
}

function branchStep(proxy: string, b: MatchBranch): ExplainStep {
  const taken = b.kind === 'exact' ? `matches entry ${b.key ?? ''}` : b.kind === 'prefix' ? `matches prefix ${b.key ?? ''}` : 'matches no entry → on_no_match';
  return { proxy, title: `filter_chain_matcher: ${b.input} ${b.value} ${taken}`, details: [] };
}

function lbEndpoints(dump: ConfigDump, cluster: ClusterModel): JsonRecord[] {
  const serviceName = cluster.kind === 'eds' ? cluster.serviceName : cluster.name;
  const assignment = dump.endpoints.find((e) => resourceName(e) === serviceName);
  return records(assignment?.['endpoints']).flatMap((g) => records(g['lb_endpoints']));
}

function endpointText(e: JsonRecord): string {
  const istio = endpointMetadata(e, 'istio');
  const workload = str(istio['workload']);
  return `${endpointAddress(e)} ${str(e['health_status']) ?? 'HEALTHY'}${workload ? ` (${workload}.${str(istio['namespace']) ?? ''})` : ''}`;
}

/** How the dump and the model name an endpoint: `endpoint_id` of an internal address, else `ip:port`. */
function endpointName(e: Endpoint): string {
  return e.kind === 'socket' ? e.address : (e.endpointId ?? '-');
}

const CLUSTER_TYPE: Record<ClusterModel['kind'], string> = { eds: 'EDS', original_dst: 'ORIGINAL_DST', static: 'STATIC' };

/**
 * The endpoint ztunnel's planner takes: with `--endpoint`, the asked one (by name or IP) in each
 * EDS cluster that has it; otherwise, and where a cluster lacks it, the first routable one, as a
 * freshly synced ztunnel's round robin does on its first connection.
 */
function pickerFor(wanted: string | undefined): EndpointPicker {
  if (!wanted) return FIRST_ENDPOINT;
  return { pick: (cluster, endpoints) => endpoints.find((e) => isEndpoint(e, wanted)) ?? FIRST_ENDPOINT.pick(cluster, endpoints) };
}

/** `--endpoint` names an endpoint by its name (`ip:port`, endpoint_id) or its IP. */
function isEndpoint(e: Endpoint, wanted: string): boolean {
  return endpointName(e) === wanted || splitHostPort(endpointName(e))[0] === wanted;
}

interface Walk {
  steps: ExplainStep[];
  done(outcome: ExplainOutcome, summary: string, policy?: string): Explanation;
}

export function explainPath(input: ExplainInput): Explanation {
  const workloads = meshWorkloads(input.proxies);
  const source = findWorkload(workloads, input.from);
  if (!source) throw explainError(`unknown source pod ${input.from}`, `known pods: ${knownWorkloads(workloads)}`);
  const nodes = meshNodes(input.proxies, source);
  const held = nodes.held;
  const sourceNode = nodes.nodeOf(source);
  // A workload-dialect pod that is not captured never reaches a ztunnel: it is explained below.
  if (!sourceNode && !held) {
    throw explainError(`no ztunnel config names ${workloadLabel(source)} (${source.ip}) as a local pod`, `give the config dump of the ztunnel on its node (known: ${nodes.known.join(', ')})`);
  }
  const destination = resolveDestination(input, workloads, source, held ? serviceVipOf(held) : matcherVips(sourceNode?.dump ?? EMPTY_DUMP, source));
  const here = sourceNode?.name ?? `ztunnel-${source.node ?? '?'}`;
  const steps: ExplainStep[] = [];
  const walk: Walk = {
    steps,
    done: (outcome, summary, policy) => ({
      source: { label: workloadLabel(source), ip: source.ip, proxy: here, identity: source.identity },
      destination,
      steps,
      outcome,
      policy,
      summary,
    }),
  };
  if (!sourceNode) {
    if (held) steps.push(uncapturedSource(held, source, here));
    return walk.done('passthrough', `passthrough: ${workloadLabel(source)} connects to ${destination.ip}:${destination.port} directly, outside the mesh`);
  }
  const dump = sourceNode.dump;

  if (held) {
    steps.push(sourceFacts(source, here));
  } else {
    const outbound = listener(dump, OUTBOUND_LISTENER);
    if (!outbound) return walk.done('incomplete', `${here} has no ${OUTBOUND_LISTENER} listener: it has not received its config from istiod-lite`);
    steps.push({
      proxy: here,
      title: `listener ${OUTBOUND_LISTENER} on ${listenerAddressText(outbound)} captures ${source.ip} → ${destination.ip}:${destination.port}`,
      details: [
        `transparent: ${String(outbound['transparent'] === true)}, use_original_dst: ${String(outbound['use_original_dst'] === true)} (the original destination is the accepted socket's local address)`,
      ],
    });
  }
  const compiled = sourceNode.model();
  if (compiled.error !== undefined) return walk.done('incomplete', `${here}'s config does not compile as ztunnel would run it: ${compiled.error}`);
  const model = compiled.value;
  const trace: OutboundStep[] = [];
  const plan = planOutbound(model, { src: { ip: source.ip, port: 0 }, dst: { ip: destination.ip, port: destination.port } }, pickerFor(input.endpoint), (s) => trace.push(s));

  // The trace, step by step, in the words of the resources the dump holds.
  let tunnelCluster: string | undefined;
  let edsCluster: ClusterModel | undefined;
  let chosen: Endpoint | undefined;
  let firstRoute: Extract<OutboundStep, { kind: 'route' }> | undefined;
  const wanted = (e: Endpoint) => !input.endpoint || isEndpoint(e, input.endpoint);
  for (const [i, step] of trace.entries()) {
    const next = trace[i + 1];
    switch (step.kind) {
      case 'match':
        for (const b of step.branches) steps.push(branchStep(here, b));
        // The workload dialect's lookup is not an Envoy matcher: say what the destination is instead.
        if (held && step.chain !== BLACKHOLE_FILTER_CHAIN) steps.push(...destinationFacts(held, destination, here));
        break;
      case 'route':
        firstRoute ??= step;
        if (step.internalListener === undefined) {
          steps.push({ proxy: here, title: `filter chain ${step.chain}: tcp_proxy → ${step.route.cluster === step.chain ? 'the cluster of the same name' : `cluster ${step.route.cluster}`}`, details: [] });
        } else {
          const internal = listener(dump, step.internalListener);
          const filters = records(internal?.['listener_filters']).map((f) => str(f['name']) ?? '?');
          steps.push({
            proxy: here,
            title: `internal listener ${step.internalListener}: tcp_proxy → cluster ${step.route.cluster}, CONNECT :authority ${chosen?.kind === 'tunnel' ? chosen.tunnel.destination : '?'}`,
            details: [
              ...(internal ? [`listener filters: ${filters.join(', ') || 'none'} (set_dst_address makes tunnel.address the destination)`] : []),
              `tunneling_config.hostname ${step.route.tunneling?.hostname ?? '?'}, header x-envoy-original-dst-host`,
            ],
          });
        }
        if (next?.kind === 'original-dst') tunnelCluster = step.route.cluster;
        if (step.route.tunneling && next?.kind === 'original-dst' && step.internalListener === undefined) {
          steps.push({ proxy: here, title: `tcp_proxy tunnels directly: CONNECT :authority ${destination.ip}:${destination.port} (tunneling_config.hostname ${step.route.tunneling.hostname})`, details: [] });
        }
        break;
      case 'endpoints': {
        edsCluster = step.cluster;
        const waypoint = step.cluster.kind === 'eds' && step.cluster.tlsIdentity !== undefined;
        const count = step.endpoints.length;
        const shown = held ? endpointFacts(workloads, step.endpoints) : lbEndpoints(dump, step.cluster).map(endpointText);
        steps.push({
          proxy: here,
          title: `cluster ${step.cluster.name} (${CLUSTER_TYPE[step.cluster.kind]}${waypoint ? ', HBONE' : ''}): ${count} ${waypoint ? 'waypoint ' : ''}endpoint${count === 1 ? '' : 's'}`,
          details: shown.length > 0 || waypoint ? shown : [held ? 'no workload backs this port' : 'the ClusterLoadAssignment is empty or not in the dump (taken without include_eds?)'],
        });
        if (waypoint) tunnelCluster = step.cluster.name;
        break;
      }
      case 'endpoint':
        if (!wanted(step.endpoint)) {
          return walk.done('no-endpoint', `endpoint ${input.endpoint ?? ''} is not in cluster ${step.cluster}`);
        }
        chosen = step.endpoint;
        if (step.endpoint.kind === 'socket' && tunnelCluster === step.cluster && plan.kind === 'hbone') {
          steps.push({ proxy: here, title: `tcp_proxy tunnels to the waypoint ${plan.destination}: CONNECT :authority ${plan.authority} (tunneling_config.hostname ${firstRoute?.route.tunneling?.hostname ?? '?'})`, details: [] });
          break;
        }
        steps.push({
          proxy: here,
          title: `endpoint ${endpointName(step.endpoint)} chosen${input.endpoint ? ' (--endpoint)' : ' (round robin over healthy endpoints; --endpoint follows another)'}`,
          details:
            step.endpoint.kind === 'tunnel'
              ? [
                  `tunnel.address ${step.endpoint.tunnel.address}, tunnel.destination ${step.endpoint.tunnel.destination}`,
                  `envoy_internal_address → internal listener ${step.endpoint.internalListener ?? (edsCluster?.kind === 'eds' ? edsCluster.tunnelListener : undefined) ?? '?'}`,
                ]
              : ['no tunnel metadata: the destination is not captured, plain TCP'],
        });
        break;
      case 'original-dst':
        if (!step.cluster.tlsIdentity) {
          steps.push({ proxy: here, title: `cluster ${step.cluster.name} (ORIGINAL_DST): plain TCP to the original destination ${destination.ip}:${destination.port}, no tunnel`, details: [] });
        }
        break;
    }
  }
  switch (plan.kind) {
    case 'blackhole':
      return walk.done('blackhole', 'BlackHoleCluster: the connection is dropped (port 15001 is ztunnel itself)');
    case 'passthrough':
      return chosen
        ? walk.done('passthrough', `plain TCP to ${plan.destination}: the destination pod is outside the mesh`)
        : walk.done('passthrough', `passthrough: ${source.ip} → ${destination.ip}:${destination.port} leaves the mesh as plain TCP (destination unknown to the mesh or not captured)`);
    case 'reject':
      if (plan.responseFlag === 'UH') return walk.done('no-endpoint', `${plan.reason}: ztunnel refuses the connection`);
      if (plan.chain === undefined && plan.reason === 'no filter chain matched') return walk.done('incomplete', 'the filter_chain_matcher selects no filter chain: Envoy would close the connection');
      return walk.done('incomplete', `ztunnel refuses the connection (${plan.responseFlag}): ${plan.reason}`);
    case 'hbone':
      break;
  }

  const tunnelName = tunnelCluster ?? plan.cluster;
  const tunnelDump = dump.clusters.find((c) => resourceName(c) === tunnelName);
  const tunnelModel = model.clusters.get(tunnelName);
  const clientCert = tunnelDump ? tlsCertificateName(tunnelDump) : plan.sourceIdentity;
  const tls = rec(rec(rec(rec(tunnelDump?.['transport_socket'])['typed_config'])['common_tls_context'])['tls_params']);
  const portOverride = tunnelDump ? num(rec(tunnelDump['original_dst_lb_config'])['upstream_port_override']) : tunnelModel?.kind === 'original_dst' ? tunnelModel.upstreamPortOverride : undefined;
  steps.push({
    proxy: here,
    title: `tunnel cluster ${plan.cluster} (${(tunnelDump ? str(tunnelDump['type']) : tunnelModel && CLUSTER_TYPE[tunnelModel.kind]) ?? '?'}): HBONE to ${plan.destination}`,
    details: [
      `mTLS${tunnelDump ? ` ${str(tls['tls_minimum_protocol_version']) ?? '?'}` : ''}, client certificate ${clientCert ?? '?'} (SDS)`,
      `CONNECT :authority ${plan.authority}; the server must present ${plan.expectedIdentities?.join(' or ') ?? 'any identity of the trust domain'}`,
      `port override ${String(portOverride ?? '-')}`,
    ],
  });

  const [tunnelIp] = splitHostPort(plan.destination);
  const [authorityIp] = splitHostPort(plan.authority);
  const destinationWorkload = workloads.find((w) => w.ip === tunnelIp);
  const destNode = destinationWorkload ? nodes.nodeOf(destinationWorkload) : undefined;
  if (!destinationWorkload || !destNode) {
    const viaWaypoint = tunnelIp !== authorityIp;
    const peer = destinationWorkload?.name !== undefined ? ` (${workloadLabel(destinationWorkload)})` : '';
    return walk.done(
      'incomplete',
      viaWaypoint
        ? `the tunnel goes to ${plan.destination}${peer}, not to the destination ${plan.authority}: a waypoint (or a proxy meshctl has no config for) takes it from here`
        : `no ztunnel config serves ${tunnelIp}: give the destination node's config dump (known: ${nodes.known.join(', ')})`,
    );
  }
  const there = destNode.name;
  const inbound = listener(destNode.dump, INBOUND_LISTENER);
  if (!held && !inbound) return walk.done('incomplete', `${there} has no ${INBOUND_LISTENER} listener`);
  const destCompiled = destNode.model();
  if (destCompiled.error !== undefined) return walk.done('incomplete', `${there}'s config does not compile as ztunnel would run it: ${destCompiled.error}`);
  const inboundModel = destCompiled.value.listeners.inbound;
  if (!inboundModel) return walk.done('incomplete', `${there} has no ${INBOUND_LISTENER} listener`);
  const inboundTrace: InboundStep[] = [];
  const inboundPlan = planInboundTunnel(
    destCompiled.value,
    { localIp: tunnelIp ?? '', authority: plan.authority, originalDstHeader: plan.headers['x-envoy-original-dst-host'], peerIdentity: plan.sourceIdentity, sourceIp: source.ip },
    (s) => inboundTrace.push(s),
  );
  const arrival = inboundTrace.find((s) => s.kind === 'arrival');
  if (!arrival) return walk.done('incomplete', `${there}'s ${INBOUND_LISTENER} has no filter chain for ${tunnelIp}`);
  const arrivalDump = records(inbound?.['filter_chains']).find((c) => str(c['name']) === arrival.chain.name);
  steps.push({
    proxy: there,
    title: `listener ${INBOUND_LISTENER} on ${inbound ? listenerAddressText(inbound) : `port ${inboundModel.port}`}: filter chain ${arrival.chain.name} (destination ${tunnelIp})${there === here ? ', same node' : ''}`,
    details: [
      ...(destinationWorkload.name ? [`${tunnelIp} is ${workloadLabel(destinationWorkload)}${destinationWorkload.node ? ` on ${destinationWorkload.node}` : ''}`] : []),
      `server certificate ${(arrivalDump ? tlsCertificateName(arrivalDump) : arrival.chain.identity) ?? '?'}; client certificate required (peer identity ${plan.sourceIdentity})`,
    ],
  });
  const authorized = inboundTrace.find((s) => s.kind === 'authorize');
  if (!authorized) return walk.done('incomplete', `ztunnel on ${there} refuses the CONNECT (${inboundPlan.kind === 'reject' ? `${inboundPlan.status}: ${inboundPlan.reason}` : '?'})`);
  const target = splitHostPort(inboundPlan.kind === 'accept' ? inboundPlan.target : plan.authority);
  // ztunnel's decision; the wording and per-filter detail from the same evaluator's trace.
  const verdict = rbacVerdict(authorized.chain.rbac, { peerIdentity: plan.sourceIdentity, sourceIp: source.ip, destinationIp: target[0] ?? '', destinationPort: Number(target[1]) });
  const decision = authorized.decision;
  steps.push({
    proxy: there,
    title: `authorization: ${decision.allowed ? 'ALLOW' : 'DENY'}${decision.policy ? ` by ${decision.policy}` : ''} (${verdict.reason})`,
    details: verdict.filters.map((f) => `RBAC ${f.action} filter${f.dryRun ? ' (dry run: not enforced)' : ''}: ${f.policyCount} polic${f.policyCount === 1 ? 'y' : 'ies'}, matching: ${f.matched.join(', ') || 'none'}`),
  });
  if (inboundPlan.kind !== 'accept') {
    return walk.done('denied', `denied: ${verdict.reason}${decision.policy ? ` (${decision.policy})` : ''}; the CONNECT gets 401`, decision.policy);
  }
  const inboundTarget = inboundTrace.find((s) => s.kind === 'target');
  steps.push({
    proxy: there,
    title: `CONNECT → cluster ${inboundTarget?.kind === 'target' ? inboundTarget.cluster : '?'}: connects to ${inboundPlan.target} (original destination from ${inboundTarget?.kind === 'target' ? inboundTarget.from : '?'})`,
    details: [],
  });
  return walk.done('allowed', `allowed: ${workloadLabel(source)} reaches ${workloadLabel(destinationWorkload)} at ${plan.authority} over HBONE`, decision.policy);
}
