/**
 * The two dialects are one behaviour: for each sample mesh, istiod-lite's golden Envoy config of
 * a node and its golden workload-API resources (apps/istiod-lite/test/golden, read as data; apps
 * never import each other) compile into models that plan every connection alike — every source
 * pod (and an unknown one) to every service port, pod port and an outside address, outbound; and
 * every peer identity and source to every local pod, inbound, over HBONE and plaintext.
 *
 * The one expected difference is the name of the rule that refuses plaintext under STRICT mTLS:
 * the Envoy dialect names its own deny-all filter, the workload dialect Istio's static STRICT
 * Authorization.
 */
import { describe, expect, it } from 'vitest';
import { ipFromBase64 } from '@mesh/workload-api';
import { localIdentities, localWorkloads, serviceVipOf, workloadOfIp, type RuntimeModel, planOutbound, planInboundPlaintext, planInboundTunnel } from '@mesh/ztunnel-plan';
import { modelOf } from '../testing/model.js';
import { RoundRobin } from '@mesh/proxy-runtime';
import { hasIstiodGolden as has, readIstiodGolden as read, workloadStoreOf, type WorkloadGolden } from '../testing/istiod-goldens.js';

const STRICT_ENVOY = 'peer-authentication-strict-denies-plaintext';
const STRICT_WORKLOAD_POLICIES = /^ns\[istio-system\]-policy\[istio_converted_static_strict\]-rule\[0\]$|^ns\[[^\]]+\]-policy\[converted_peer_authentication_[^\]]+\]-rule\[\d+\]$/;
const OUTSIDE = '192.0.2.1';

/** Pods and services of the mesh, read off the workload golden. */
function meshFacts(golden: WorkloadGolden) {
  const pods: { ip: string; identity: string; node: string; ports: number[] }[] = [];
  const services: { vip: string; ports: number[] }[] = [];
  for (const resource of Object.values(golden.addresses)) {
    const w = resource['workload'] as Record<string, unknown> | undefined;
    const s = resource['service'] as Record<string, unknown> | undefined;
    if (w) {
      const ports = Object.values((w['services'] ?? {}) as Record<string, { ports?: { target_port: number }[] }>).flatMap((l) => (l.ports ?? []).map((p) => p.target_port));
      pods.push({
        ip: ipFromBase64((w['addresses'] as string[])[0], 'address'),
        identity: `spiffe://cluster.local/ns/${String(w['namespace'])}/sa/${String(w['service_account'])}`,
        node: String(w['node']),
        ports: [...new Set([...ports, 7777])],
      });
    }
    if (s && Array.isArray(s['addresses'])) {
      for (const a of s['addresses'] as { address: string }[]) services.push({ vip: ipFromBase64(a.address, 'vip'), ports: [...((s['ports'] ?? []) as { service_port: number }[]).map((p) => p.service_port), 7777] });
    }
  }
  return { pods, services };
}

function compareOutbound(envoy: RuntimeModel, workload: RuntimeModel, golden: WorkloadGolden): number {
  const { pods, services } = meshFacts(golden);
  const sources = [...pods.map((p) => p.ip), '10.77.9.9'];
  const destinations = [
    ...services.flatMap((s) => s.ports.map((port) => ({ ip: s.vip, port }))),
    ...pods.flatMap((p) => p.ports.map((port) => ({ ip: p.ip, port }))),
    { ip: OUTSIDE, port: 443 },
    { ip: services[0]?.vip ?? OUTSIDE, port: 15001 },
  ];
  let compared = 0;
  // One round robin per ztunnel, as each dialect's ztunnel would hold.
  const workloadPicks = new RoundRobin();
  const envoyPicks = new RoundRobin();
  for (const src of sources) {
    for (const dst of destinations) {
      const conn = { src: { ip: src, port: 40000 }, dst };
      // Twice: round robin over the same endpoints in the same order.
      for (let i = 0; i < 2; i++) {
        expect(planOutbound(workload, conn, workloadPicks), `${src} → ${dst.ip}:${dst.port}`).toEqual(planOutbound(envoy, conn, envoyPicks));
        compared++;
      }
    }
  }
  return compared;
}

function compareInbound(envoy: RuntimeModel, workload: RuntimeModel, golden: WorkloadGolden): number {
  const { pods } = meshFacts(golden);
  const peers = [...new Set(pods.map((p) => p.identity)), undefined];
  let compared = 0;
  for (const local of localWorkloads(envoy)) {
    const ports = pods.find((p) => p.ip === local.ip)?.ports ?? [7777];
    for (const port of ports) {
      for (const peer of peers) {
        for (const sourceIp of [pods[0]?.ip ?? '10.0.0.1', OUTSIDE]) {
          const target = `${local.ip}:${port}`;
          if (peer) {
            const facts = { localIp: local.ip, authority: target, originalDstHeader: target, peerIdentity: peer, sourceIp };
            expect(planInboundTunnel(workload, facts), `HBONE ${peer} → ${target}`).toEqual(planInboundTunnel(envoy, facts));
          }
          const plaintext = { src: { ip: sourceIp, port: 1 }, dst: { ip: local.ip, port } };
          const expected = planInboundPlaintext(envoy, plaintext);
          const actual = planInboundPlaintext(workload, plaintext);
          if (expected.kind === 'reject' && expected.policy === STRICT_ENVOY) {
            // The same refusal, by the policy the workload dialect sends for it: the static STRICT
            // one, or the converted PeerAuthentication of a workload with port-level modes.
            const policy = actual.kind === 'reject' ? actual.policy : undefined;
            expect(policy, `plaintext ${sourceIp} → ${target}`).toMatch(STRICT_WORKLOAD_POLICIES);
            expect(actual).toEqual({ ...expected, policy, reason: `denied by policy ${policy}`, decision: { allowed: false, policy, reason: `denied by policy ${policy}` } });
          } else {
            expect(actual, `plaintext ${sourceIp} → ${target}`).toEqual(expected);
          }
          compared += 2;
        }
      }
    }
  }
  // A tunnel for a pod of another node is refused alike.
  const remote = pods.find((p) => !localWorkloads(envoy).some((l) => l.ip === p.ip));
  if (remote) {
    const facts = { localIp: remote.ip, authority: `${remote.ip}:80`, originalDstHeader: undefined, peerIdentity: peers[0] as string, sourceIp: OUTSIDE };
    expect(planInboundTunnel(workload, facts)).toEqual(planInboundTunnel(envoy, facts));
  }
  return compared;
}

const SCENARIOS: { envoy: string; workload: string; node: string }[] = [
  { envoy: 'bookinfo-node-a', workload: 'workload-bookinfo', node: 'node-a' },
  { envoy: 'bookinfo-node-b', workload: 'workload-bookinfo', node: 'node-b' },
  { envoy: 'deny-node-b', workload: 'workload-deny', node: 'node-b' },
  { envoy: 'allow-node-a', workload: 'workload-allow', node: 'node-a' },
  { envoy: 'strict-node-a', workload: 'workload-strict', node: 'node-a' },
  { envoy: 'portlevel-node-b', workload: 'workload-portlevel', node: 'node-b' },
  { envoy: 'waypoint-node-a', workload: 'workload-waypoint', node: 'node-a' },
  // istio.io/waypoint-for: pod-addressed traffic to wpfor through its waypoint (workload|all) or not.
  ...['service', 'workload', 'all', 'none'].map((value) => ({ envoy: `waypoint-for-${value}-node-a`, workload: `workload-waypoint-for-${value}`, node: 'node-a' })),
];

describe('Envoy and workload dialects plan every connection alike', () => {
  for (const s of SCENARIOS) {
    it.skipIf(!has(s.envoy) || !has(s.workload))(`${s.envoy} ≡ ${s.workload} on ${s.node}`, () => {
      const golden = read<WorkloadGolden>(s.workload);
      const envoy = modelOf(read(s.envoy) as { listeners: unknown[]; clusters: unknown[]; endpoints: unknown[] });
      const workload = workloadStoreOf(golden, s.node).model;
      expect(localWorkloads(workload)).toEqual(localWorkloads(envoy));
      expect(localIdentities(workload)).toEqual(localIdentities(envoy));
      for (const { ip } of meshFacts(golden).pods) expect(workloadOfIp(workload, ip), ip).toEqual(workloadOfIp(envoy, ip));
      for (const host of ['reviews', 'ratings.default', 'echo.echo', 'web.wpfor', 'details.default.svc.cluster.local', 'nope']) expect(serviceVipOf(workload, host)).toEqual(serviceVipOf(envoy, host));
      expect(compareOutbound(envoy, workload, golden)).toBeGreaterThan(100);
      expect(compareInbound(envoy, workload, golden)).toBeGreaterThan(10);
    });
  }
});
