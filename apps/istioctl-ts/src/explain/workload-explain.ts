/**
 * `meshctl x explain` for a workload-dialect mesh: the path one connection takes through what
 * the ztunnels hold (Istio's workload API), as numbered steps in the order ztunnel decides:
 * the source workload and its node's ztunnel, what the destination address is (a service VIP and
 * port, a workload, or neither), the service's endpoints (or its waypoint's), the endpoint chosen
 * and the HBONE tunnel to it, then the destination node's ztunnel and the authorization verdict
 * of the policies that apply to the destination workload (global, its namespace's, and the ones
 * it lists), evaluated with ztunnel's own semantics (@mesh/workload-api).
 *
 * Every workload-dialect ztunnel holds the whole mesh, so one dump answers for both ends; the
 * steps are still tagged with the ztunnel that takes each decision (`ztunnel-<node>`).
 *
 * Pure: dumps in, steps out (live proxies or saved files alike).
 */
import { MeshError } from '@mesh/errors';
import { ZTUNNEL_OUTBOUND_PORT, traceRbac, type RbacFilter } from '@mesh/envoy-config';
import {
  endpointTargetPort,
  policiesFor,
  policyKey,
  splitNetworkAddress,
  workloadIdentity,
  workloadRbacFilters,
  type ZtunnelDump,
  type ZtunnelGatewayAddress,
  type ZtunnelService,
  type ZtunnelWorkload,
} from '@mesh/workload-api';
import { rbacVerdict } from './rbac.js';
import type { ExplainInput, ExplainOutcome, ExplainStep, Explanation } from './types.js';


function explainError(message: string, hint: string): MeshError {
  return new MeshError('MESHCTL_ERR_EXPLAIN', message, { hint });
}

const label = (w: ZtunnelWorkload) => `${w.name}.${w.namespace}`;
const proxyOf = (w: ZtunnelWorkload) => `ztunnel-${w.node}`;
const captured = (w: ZtunnelWorkload) => w.protocol === 'HBONE' && w.nativeTunnel !== true;

function ipOf(text: string): string {
  return splitNetworkAddress(text).ip;
}

function findWorkload(dump: ZtunnelDump, ref: string): ZtunnelWorkload | undefined {
  if (/^[0-9.]+$|:/.test(ref)) return dump.workloads.find((w) => w.workloadIps.includes(ref));
  const [name, namespace = 'default'] = ref.split('.');
  return dump.workloads.find((w) => w.name === name && w.namespace === namespace);
}

interface Destination {
  label: string;
  ip: string;
  port: number;
  service: ZtunnelService | undefined;
  workload: ZtunnelWorkload | undefined;
}

function resolveDestination(dump: ZtunnelDump, to: string, source: ZtunnelWorkload): Destination {
  const colon = to.lastIndexOf(':');
  const host = colon < 0 ? to : to.slice(0, colon);
  const port = Number(colon < 0 ? '' : to.slice(colon + 1));
  if (!host || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw explainError(`--to ${to} is not host:port`, 'e.g. --to reviews:9080, --to reviews.default.svc.cluster.local:9080 or --to 10.77.100.11:9080');
  }
  const byVip = (ip: string) => dump.services.find((s) => s.vips.some((v) => ipOf(v) === ip));
  if (/^[0-9.]+$/.test(host)) {
    const service = byVip(host);
    const workload = service ? undefined : dump.workloads.find((w) => w.workloadIps.includes(host));
    return { label: to, ip: host, port, service, workload };
  }
  const parts = host.split('.');
  const fqdn = parts.length >= 3 ? host : `${parts[0]}.${parts[1] ?? source.namespace}.svc.cluster.local`;
  const service = dump.services.find((s) => s.hostname === fqdn && s.vips.length > 0);
  if (service) return { label: `${fqdn}:${port}`, ip: ipOf(service.vips[0] as string), port, service, workload: undefined };
  const workload = findWorkload(dump, host);
  if (workload?.workloadIps[0]) return { label: `${label(workload)}:${port}`, ip: workload.workloadIps[0], port, service: undefined, workload };
  throw explainError(`no Service ${fqdn} with a VIP and no pod ${host}`, 'services: meshctl ztunnel-config services; pods: meshctl ztunnel-config workloads');
}

interface Hop {
  /** ip:15008 */
  address: string;
  authority: string;
  /** The workload the tunnel goes to (a pod, or a waypoint's). */
  peer: ZtunnelWorkload | undefined;
  /** Identities the server may present; undefined: any of the trust domain. */
  expected: string | undefined;
}

/** The workload dialect's explanation; `dump` is any workload-dialect ztunnel's (they hold the same mesh). */
export function explainWorkloadPath(input: ExplainInput, dump: ZtunnelDump): Explanation {
  const source = findWorkload(dump, input.from);
  if (!source?.workloadIps[0]) {
    throw explainError(`unknown source pod ${input.from}`, `known pods: ${dump.workloads.map(label).join(', ')}`);
  }
  const sourceIp = source.workloadIps[0];
  const destination = resolveDestination(dump, input.to, source);
  const here = proxyOf(source);
  const identity = workloadIdentity(source);
  const steps: ExplainStep[] = [];
  const done = (outcome: ExplainOutcome, summary: string, policy?: string): Explanation => ({
    source: { label: label(source), ip: sourceIp, proxy: here, identity },
    destination: { label: destination.label, ip: destination.ip, port: destination.port },
    steps,
    outcome,
    policy,
    summary,
  });

  if (!captured(source)) {
    steps.push({ proxy: here, title: `source ${label(source)} (${sourceIp}) is not captured (protocol ${source.protocol}${source.nativeTunnel ? ', native tunnel' : ''}): no ztunnel handles its outbound traffic`, details: [] });
    return done('passthrough', `passthrough: ${label(source)} connects to ${destination.ip}:${destination.port} directly, outside the mesh`);
  }
  steps.push({
    proxy: here,
    title: `source ${label(source)} (${sourceIp}) is a workload on ${source.node} (protocol HBONE): ${here} captures its outbound connections`,
    details: [`identity ${identity}`],
  });
  if (destination.port === ZTUNNEL_OUTBOUND_PORT) return done('blackhole', 'port 15001 is ztunnel itself: the connection is dropped (BlackHoleCluster)');

  let hop: Hop;
  const service = destination.service;
  if (service) {
    const servicePort = service.ports[String(destination.port)];
    steps.push({
      proxy: here,
      title: `destination ${destination.ip}:${destination.port} is service ${service.hostname} (${service.namespace}/${service.hostname})${servicePort === undefined ? `, which has no port ${destination.port}` : `, port ${destination.port}`}`,
      details: [`ports: ${Object.entries(service.ports).map(([p, t]) => `${p} → ${t === 0 ? 'per endpoint' : t}`).join(', ')}`],
    });
    if (servicePort === undefined) return done('passthrough', `passthrough: ${service.hostname} has no port ${destination.port}, so ztunnel sends plain TCP to ${destination.ip}:${destination.port}`);
    const candidates = serviceCandidates(dump, service, destination);
    if (service.waypoint) {
      steps.push({ proxy: here, title: `service ${service.name} uses waypoint ${service.waypoint.destination}: the connection goes to the waypoint, :authority ${destination.ip}:${destination.port}`, details: [] });
    }
    steps.push({
      proxy: here,
      title: `${service.waypoint ? 'waypoint' : `service ${service.name}`}: ${candidates.length} endpoint${candidates.length === 1 ? '' : 's'}`,
      details: candidates.length > 0 ? candidates.map((c) => `${c.target} ${c.workload?.status ?? 'Healthy'}${c.workload ? ` (${label(c.workload)}, ${c.workload.protocol})` : ''}`) : ['no workload backs this port'],
    });
    const wanted = input.endpoint;
    const chosen = wanted ? candidates.find((c) => c.target === wanted || c.target.split(':')[0] === wanted) : candidates.find((c) => (c.workload?.status ?? 'Healthy') === 'Healthy');
    if (!chosen) return done('no-endpoint', wanted ? `endpoint ${wanted} is not an endpoint of ${service.hostname}:${destination.port}` : `no healthy endpoint for ${service.hostname}:${destination.port}: ztunnel refuses the connection`);
    steps.push({ proxy: here, title: `endpoint ${chosen.target} chosen${wanted ? ' (--endpoint)' : ' (round robin over healthy endpoints; --endpoint follows another)'}`, details: [] });
    if (chosen.workload && !captured(chosen.workload) && !service.waypoint) {
      return done('passthrough', `plain TCP to ${chosen.target}: ${label(chosen.workload)} is not captured (protocol ${chosen.workload.protocol})`);
    }
    hop = {
      address: chosen.tunnel,
      authority: service.waypoint ? `${destination.ip}:${destination.port}` : chosen.target,
      peer: chosen.workload,
      expected: chosen.workload ? workloadIdentity(chosen.workload) : undefined,
    };
  } else if (destination.workload && captured(destination.workload) && destination.workload.waypoint) {
    // Enrolled in a waypoint that takes workload traffic (istio.io/waypoint-for: workload|all).
    const waypoint = destination.workload.waypoint;
    const candidates = waypointCandidates(dump, waypoint);
    steps.push({
      proxy: here,
      title: `destination ${destination.ip} is workload ${label(destination.workload)}, which uses waypoint ${waypoint.destination}: the connection goes to the waypoint, :authority ${destination.ip}:${destination.port}`,
      details: candidates.length > 0 ? candidates.map((c) => `${c.target} ${c.workload?.status ?? 'Healthy'}${c.workload ? ` (${label(c.workload)})` : ''}`) : ['no workload runs this waypoint'],
    });
    const chosen = candidates.find((c) => (c.workload?.status ?? 'Healthy') === 'Healthy');
    if (!chosen) return done('no-endpoint', `no healthy workload runs waypoint ${waypoint.destination}: ztunnel refuses the connection`);
    hop = { address: chosen.tunnel, authority: `${destination.ip}:${destination.port}`, peer: chosen.workload, expected: chosen.workload ? workloadIdentity(chosen.workload) : undefined };
  } else if (destination.workload && captured(destination.workload)) {
    steps.push({ proxy: here, title: `destination ${destination.ip} is workload ${label(destination.workload)} on ${destination.workload.node} (protocol HBONE): tunnel directly to it`, details: [] });
    hop = { address: `${destination.ip}:15008`, authority: `${destination.ip}:${destination.port}`, peer: destination.workload, expected: undefined };
  } else {
    steps.push({
      proxy: here,
      title: destination.workload
        ? `destination ${destination.ip} is workload ${label(destination.workload)}, which is not captured (protocol ${destination.workload.protocol})`
        : `destination ${destination.ip}:${destination.port} is neither a service VIP nor a workload the mesh knows`,
      details: [],
    });
    return done('passthrough', `passthrough: ${sourceIp} → ${destination.ip}:${destination.port} leaves the mesh as plain TCP`);
  }

  steps.push({
    proxy: here,
    title: `HBONE to ${hop.address}, CONNECT :authority ${hop.authority}`,
    details: [`mTLS, client certificate ${identity}; the server must present ${hop.expected ?? 'any identity of the trust domain'}`],
  });
  const [tunnelIp] = hop.address.split(':');
  const [authorityIp, authorityPort] = hop.authority.split(':');
  if (tunnelIp !== authorityIp) {
    return done('incomplete', `the tunnel goes to ${hop.address}${hop.peer ? ` (${label(hop.peer)})` : ''}, not to the destination ${hop.authority}: the waypoint takes it from here (its routes and L7 policies: meshctl proxy-config all <waypoint>)`);
  }
  const target = hop.peer;
  if (!target) return done('incomplete', `no workload has the address ${tunnelIp}`);
  const there = proxyOf(target);
  steps.push({
    proxy: there,
    title: `inbound: ${tunnelIp} is ${label(target)} on ${target.node}, served by ${there}${there === here ? ' (same node)' : ''}`,
    details: [`server certificate ${workloadIdentity(target)}; client certificate required (peer identity ${identity})`],
  });
  const byKey = new Map(dump.policies.map((p) => [policyKey(p), p]));
  const applying = policiesFor(target, byKey);
  const filters: RbacFilter[] = workloadRbacFilters(applying);
  const facts = { peerIdentity: identity, sourceIp, destinationIp: authorityIp ?? '', destinationPort: Number(authorityPort) };
  const verdict = rbacVerdict(filters, facts);
  const matched = new Set(traceRbac(filters, facts).filters.flatMap((f) => f.matched));
  steps.push({
    proxy: there,
    title: `authorization: ${verdict.allowed ? 'ALLOW' : 'DENY'}${verdict.policy ? ` by ${verdict.policy}` : ''} (${verdict.reason})`,
    details: applying.map((p) => {
      const hits = [...matched].filter((name) => name.startsWith(`ns[${p.namespace}]-policy[${p.name}]-`));
      return `${p.action} ${policyKey(p)} (${p.scope}${p.dryRun ? ', dry run: not enforced' : ''}): ${p.rules.length} rule${p.rules.length === 1 ? '' : 's'}, matching: ${hits.join(', ') || 'none'}`;
    }),
  });
  if (!verdict.allowed) return done('denied', `denied: ${verdict.reason}${verdict.policy ? ` (${verdict.policy})` : ''}; the CONNECT gets 401`, verdict.policy);
  steps.push({ proxy: there, title: `connects to ${hop.authority}`, details: [] });
  return done('allowed', `allowed: ${label(source)} reaches ${label(target)} at ${hop.authority} over HBONE`, verdict.policy);
}

/** Where a waypoint accepts HBONE: the workloads of its generated Service, or its address. */
function waypointCandidates(dump: ZtunnelDump, waypoint: ZtunnelGatewayAddress): { target: string; tunnel: string; workload: ZtunnelWorkload | undefined }[] {
  const byUid = new Map(dump.workloads.map((w) => [w.uid, w]));
  const port = waypoint.hboneMtlsPort;
  const gateway = dump.services.find((s) => `${s.namespace}/${s.hostname}` === waypoint.destination);
  if (!gateway) {
    const ip = ipOf(waypoint.destination);
    return [{ target: `${ip}:${port}`, tunnel: `${ip}:${port}`, workload: dump.workloads.find((w) => w.workloadIps.includes(ip)) }];
  }
  const out: { target: string; tunnel: string; workload: ZtunnelWorkload | undefined }[] = [];
  for (const e of Object.values(gateway.endpoints ?? {})) {
    const w = byUid.get(e.workloadUid);
    if (w?.workloadIps[0]) out.push({ target: `${w.workloadIps[0]}:${port}`, tunnel: `${w.workloadIps[0]}:${port}`, workload: w });
  }
  return out.sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
}

/** A service port's endpoints as ztunnel balances them: its workloads, or its waypoint's. */
function serviceCandidates(dump: ZtunnelDump, service: ZtunnelService, destination: Destination): { target: string; tunnel: string; workload: ZtunnelWorkload | undefined }[] {
  const byUid = new Map(dump.workloads.map((w) => [w.uid, w]));
  const out: { target: string; tunnel: string; workload: ZtunnelWorkload | undefined }[] = [];
  if (service.waypoint) {
    out.push(...waypointCandidates(dump, service.waypoint));
  } else {
    for (const e of Object.values(service.endpoints ?? {})) {
      const w = byUid.get(e.workloadUid);
      const target = w ? endpointTargetPort(service, e, destination.port) : undefined;
      if (!w?.workloadIps[0] || target === undefined) continue;
      out.push({ target: `${w.workloadIps[0]}:${target}`, tunnel: `${w.workloadIps[0]}:15008`, workload: w });
    }
  }
  return out.sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
}
