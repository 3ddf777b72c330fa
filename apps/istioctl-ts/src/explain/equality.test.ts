/**
 * `x explain` decides as ztunnel does (issue 16), in both config dialects, through one path: each
 * dialect's config is compiled into ztunnel's runtime model (`compileEnvoyModel`,
 * `compileWorkloadModel`) and run through its planners with a trace (explain.ts, nodes.ts).
 *
 * 1. Over every source pod of the sample meshes × every Service VIP and pod address (their ports,
 *    an unknown port, 15001) and an outside address, ztunnel's planner driven directly on the
 *    node's model and `explainPath` on the node's config dump reach the same decision:
 *    passthrough / black hole / no endpoint / refused, or HBONE to the same tunnel endpoint with
 *    the same authorization verdict and deciding policy at the destination's ztunnel. This holds
 *    explain's own part (resolving names, choosing each end's ztunnel, reading the trace) to the
 *    planner's decision.
 * 2. The same bookinfo mesh configured in each dialect (istiod-lite's Envoy resources for two
 *    nodes; the workload API records of the same pods, Services and policies) gets the same
 *    verdict for every source × destination. A policy in one dialect only (bookinfo against the
 *    DENY records) makes it fail.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  compileEnvoyModel,
  compileWorkloadModel,
  emptyModel,
  FIRST_ENDPOINT,
  isCapturedWorkload,
  planInboundTunnel,
  planOutbound,
  withPart,
  type OutboundPlan,
  type RuntimeModel,
} from '@mesh/ztunnel-plan';
import { policyKey, serviceKey, splitNetworkAddress } from '@mesh/workload-api';
import { fixtureDump, type FixtureName } from '../../test/helpers.js';
import { parseConfigDump, type ConfigDump } from '../config-dump/config-dump.js';
import { meshWorkloads } from '../config-dump/workloads.js';
import { explainPath, type ExplainInput, type Explanation } from './explain.js';

const OUTSIDE = { ip: '192.0.2.1', port: 443 };
const EXTRA_PORTS = [7777, 15001];

interface Mesh {
  name: string;
  proxies: ExplainInput['proxies'];
  /** The model ztunnel on a proxy's node runs, freshly compiled. */
  modelOf(proxy: string): RuntimeModel;
  sources: { ip: string; proxy: string }[];
  /** Every pod and the ztunnel that serves it (tunnels to one end there). */
  pods: { ip: string; proxy: string }[];
  destinations: { ip: string; port: number }[];
}

/** What a decision comes to, in terms both sides can state. */
function expected(plan: OutboundPlan, inbound: (plan: Extract<OutboundPlan, { kind: 'hbone' }>) => { allowed: boolean; policy: string | undefined } | undefined): string {
  switch (plan.kind) {
    case 'passthrough':
      return 'passthrough';
    case 'blackhole':
      return 'blackhole';
    case 'reject':
      return plan.responseFlag === 'UH' ? 'no-endpoint' : 'incomplete';
    case 'hbone': {
      const verdict = inbound(plan);
      const outcome = verdict === undefined ? 'incomplete' : verdict.allowed ? 'allowed' : 'denied';
      return `${outcome} via ${plan.destination}${verdict?.policy ? ` by ${verdict.policy}` : ''}`;
    }
  }
}

function explained(e: Explanation): string {
  const tunnel = e.steps.map((s) => /HBONE to ([^\s,]+)/.exec(s.title)?.[1]).find((t) => t !== undefined);
  return tunnel ? `${e.outcome} via ${tunnel}${e.policy ? ` by ${e.policy}` : ''}` : e.outcome;
}

function envoyMesh(a: FixtureName, b: FixtureName): Mesh {
  const proxies = [
    { name: 'ztunnel-node-a', dump: fixtureDump(a) },
    { name: 'ztunnel-node-b', dump: fixtureDump(b) },
  ];
  const dumps = new Map(proxies.map((p) => [p.name, p.dump]));
  const pods = meshWorkloads(proxies);
  const vips = new Set<string>();
  for (const p of proxies) for (const vip of mustCompile(p.dump).listeners.outbound?.serviceVips.values() ?? []) vips.add(vip);
  return {
    name: `${a} + ${b} (Envoy dialect)`,
    proxies,
    modelOf: (proxy) => {
      const dump = dumps.get(proxy);
      return dump ? mustCompile(dump) : emptyModel();
    },
    sources: pods.filter((p) => p.proxy !== undefined).map((p) => ({ ip: p.ip, proxy: p.proxy ?? '' })),
    pods: pods.filter((p) => p.proxy !== undefined).map((p) => ({ ip: p.ip, proxy: p.proxy ?? '' })),
    destinations: [...[...vips, ...pods.map((p) => p.ip)].flatMap((ip) => [9080, ...EXTRA_PORTS].map((port) => ({ ip, port }))), OUTSIDE],
  };
}

function mustCompile(dump: ConfigDump): RuntimeModel {
  const compiled = compileEnvoyModel(dump);
  if (compiled.error !== undefined) throw new Error(compiled.error);
  return compiled.value;
}

function workloadMesh(fixture: string): Mesh {
  const path = fileURLToPath(new URL(`../../test/fixtures/${fixture}.ztunnel_dump.json`, import.meta.url));
  const dump = parseConfigDump(JSON.parse(readFileSync(path, 'utf8')) as unknown, fixture);
  const held = dump.workload;
  if (!held) throw new Error(`${fixture} is not a workload-dialect dump`);
  const state = {
    workloads: new Map(held.workloads.map((w) => [w.uid, w])),
    services: new Map(held.services.map((s) => [serviceKey(s), s])),
    policies: new Map(held.policies.map((p) => [policyKey(p), p])),
  };
  const nodes = [...new Set(held.workloads.map((w) => w.node))];
  const modelOf = (proxy: string): RuntimeModel => {
    const node = nodes.find((n) => `ztunnel-${n}` === proxy);
    if (node === undefined) return emptyModel();
    const { listeners, clusters, endpoints } = compileWorkloadModel(state, node);
    return withPart(emptyModel(), { listeners, clusters, endpoints });
  };
  const podIps = held.workloads.flatMap((w) => w.workloadIps.map((ip) => ({ ip, proxy: `ztunnel-${w.node}`, captured: isCapturedWorkload(w) })));
  const vips = held.services.flatMap((s) => s.vips.map((v) => splitNetworkAddress(v).ip));
  return {
    name: `${fixture} (workload dialect)`,
    // Every workload-dialect ztunnel holds the whole mesh: one dump answers for all nodes.
    proxies: nodes.map((node) => ({ name: `ztunnel-${node}`, dump })),
    modelOf,
    // Only captured pods' connections reach ztunnel (a waypoint's, say, do not: explain says
    // passthrough, while the planner, asked anyway, would apply the node's port-15001 rule).
    sources: podIps.filter((p) => p.captured),
    pods: podIps,
    destinations: [...[...vips, ...podIps.map((p) => p.ip)].flatMap((ip) => [9080, ...EXTRA_PORTS].map((port) => ({ ip, port }))), OUTSIDE],
  };
}

function compare(mesh: Mesh): { compared: number; differences: string[] } {
  const differences: string[] = [];
  let compared = 0;
  const owner = (ip: string) => mesh.pods.find((s) => s.ip === ip)?.proxy;
  for (const src of mesh.sources) {
    for (const dst of mesh.destinations) {
      // A fresh round robin per case: its first pick is the first healthy endpoint, as explain's is.
      const plan = planOutbound(mesh.modelOf(src.proxy), { src: { ip: src.ip, port: 40000 }, dst }, FIRST_ENDPOINT);
      const want = expected(plan, (hbone) => {
        const [tunnelIp] = hbone.destination.split(':');
        const there = owner(tunnelIp ?? '');
        if (!there) return undefined;
        const inbound = planInboundTunnel(mesh.modelOf(there), {
          localIp: tunnelIp ?? '',
          authority: hbone.authority,
          originalDstHeader: hbone.headers['x-envoy-original-dst-host'],
          peerIdentity: hbone.sourceIdentity,
          sourceIp: src.ip,
        });
        if (inbound.kind === 'accept') return { allowed: true, policy: inbound.decision.policy };
        return inbound.status === 401 ? { allowed: false, policy: inbound.policy } : undefined;
      });
      let got: string;
      try {
        got = explained(explainPath({ proxies: mesh.proxies, from: src.ip, to: `${dst.ip}:${dst.port}` }));
      } catch (err) {
        got = `error: ${(err as Error).message}`;
      }
      compared++;
      if (got !== want) differences.push(`${src.ip} → ${dst.ip}:${dst.port}: ztunnel ${want}, explain ${got}`);
    }
  }
  return { compared, differences };
}

describe('x explain decides with ztunnel planner', () => {
  const meshes: Array<[string, () => Mesh]> = [
    ['bookinfo, Envoy dialect', () => envoyMesh('bookinfo-node-a', 'bookinfo-node-b')],
    ['ALLOW policies, Envoy dialect', () => envoyMesh('allow-node-a', 'bookinfo-node-b')],
    ['DENY policy, Envoy dialect', () => envoyMesh('bookinfo-node-a', 'deny-node-b')],
    ['bookinfo, workload dialect', () => workloadMesh('workload-bookinfo-node-a')],
    ['DENY policy, workload dialect', () => workloadMesh('workload-deny-node-b')],
    ['a waypoint for service traffic, workload dialect', () => workloadMesh('workload-waypoint-node-a')],
    ['a waypoint for all traffic, workload dialect', () => workloadMesh('workload-waypoint-for-all-node-a')],
  ];
  it.each(meshes)('%s', (_name, build) => {
    const mesh = build();
    const { compared, differences } = compare(mesh);
    expect(compared).toBeGreaterThan(50);
    expect(differences).toEqual([]);
  });
});

/**
 * The same mesh in both dialects: istiod-lite's Envoy-dialect config of bookinfo's two nodes and
 * the workload-dialect records of the same pods, Services and policies. Through the one path
 * (compile → planner → trace), every source × destination gets the same verdict in both.
 */
function verdicts(mesh: Mesh, sources: readonly string[], destinations: readonly { ip: string; port: number }[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const src of sources) {
    for (const dst of destinations) {
      let got: string;
      try {
        got = explained(explainPath({ proxies: mesh.proxies, from: src, to: `${dst.ip}:${dst.port}` }));
      } catch (err) {
        got = `error: ${(err as Error).message}`;
      }
      out.set(`${src} → ${dst.ip}:${dst.port}`, got);
    }
  }
  return out;
}

describe('x explain: both dialects, same verdicts', () => {
  const pairs: Array<[string, () => Mesh, () => Mesh]> = [
    ['bookinfo', () => envoyMesh('bookinfo-node-a', 'bookinfo-node-b'), () => workloadMesh('workload-bookinfo-node-a')],
    ['DENY policy', () => envoyMesh('bookinfo-node-a', 'deny-node-b'), () => workloadMesh('workload-deny-node-b')],
  ];
  it.each(pairs)('%s', (_name, envoy, workload) => {
    const a = envoy();
    const b = workload();
    const sources = [...new Set([...a.sources, ...b.sources].map((s) => s.ip))];
    const seen = new Set<string>();
    const destinations = [...a.destinations, ...b.destinations].filter((d) => !seen.has(`${d.ip}:${d.port}`) && seen.add(`${d.ip}:${d.port}`));
    const left = verdicts(a, sources, destinations);
    const right = verdicts(b, sources, destinations);
    expect(left.size).toBeGreaterThan(50);
    const differences = [...left].filter(([key, v]) => right.get(key) !== v).map(([key, v]) => `${key}: Envoy dialect ${v}, workload dialect ${right.get(key) ?? '?'}`);
    expect(differences).toEqual([]);
    // Not all one verdict: the meshes allow, deny, pass through and black-hole.
    expect(new Set([...left.values()].map((v) => v.split(' ')[0])).size).toBeGreaterThan(2);
  });
});
