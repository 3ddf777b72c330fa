import { describe, expect, it } from 'vitest';
import { buildSnapshot, parseManifests, type MeshResource, type MeshSnapshot } from '@mesh/mesh-model';
import { makeNamespace, makeNode, makePod, makeService } from '@mesh/mesh-model/testing';
import { canonicalResource, type ResourceJson } from '@mesh/xds';
import { generateZtunnelConfig, type ZtunnelConfig } from './index.js';
import { ipv4CidrToPrefixes } from './matcher.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * Evaluates `ztunnel_outbound`'s filter_chain_matcher as Envoy does: exact map, or longest prefix;
 * a nested matcher that finds nothing falls back to the nearest enclosing on_no_match. Returns
 * the selected filter chain's name.
 */
function chainFor(config: ZtunnelConfig, src: string, dstIp: string, dstPort: number): string {
  const listener = config.listeners.find((l) => l.name === 'ztunnel_outbound') as Obj;
  const inputs: Record<string, string> = { 'source-ip': src, ip: dstIp, port: String(dstPort) };
  const run = (onMatch: Obj | undefined): string | undefined => (onMatch?.action ? (onMatch.action.typed_config.value as string) : onMatch?.matcher ? evaluate(onMatch.matcher) : undefined);
  const evaluate = (matcher: Obj): string | undefined => {
    const tree = matcher.matcher_tree;
    const key = inputs[tree.input.name] as string;
    let found: Obj | undefined = tree.exact_match_map?.map[key];
    if (tree.prefix_match_map) {
      const best = Object.keys(tree.prefix_match_map.map).filter((p) => key.startsWith(p)).sort((a, b) => b.length - a.length)[0];
      found = best === undefined ? undefined : tree.prefix_match_map.map[best];
    }
    return run(found) ?? run(matcher.on_no_match);
  };
  const chain = evaluate(listener.filter_chain_matcher);
  if (chain === undefined) throw new Error('matcher selected nothing');
  expect(listener.filter_chains.map((c: Obj) => c.name), `chain ${chain} exists`).toContain(chain);
  return chain;
}

function endpointsOf(config: ZtunnelConfig, clusterName: string): Obj[] {
  const cla = config.endpoints.find((e) => e.cluster_name === clusterName) as Obj | undefined;
  if (!cla) throw new Error(`no endpoints for ${clusterName}`);
  return cla.endpoints.flatMap((l: Obj) => l.lb_endpoints);
}

function expectEncodable(config: ZtunnelConfig): void {
  for (const r of [...config.listeners, ...config.clusters, ...config.endpoints]) expect(canonicalResource(r as unknown as ResourceJson)).toEqual(r);
}

const SA = (sa: string) => `spiffe://cluster.local/ns/default/sa/${sa}`;
const httpPort = { name: 'http', port: 9080, targetPort: 9080, protocol: 'TCP' as const, appProtocol: 'http' };

/** Two nodes, a client and a server, plus whatever a test adds. */
function mesh(extra: MeshResource[] = []): MeshSnapshot {
  return buildSnapshot([
    makeNamespace('default'),
    { ...makeNode('node-a', '10.77.0.11'), podCidr: '10.77.1.0/24' },
    { ...makeNode('node-b', '10.77.0.12'), podCidr: '10.77.2.0/24' },
    makePod({ name: 'client', nodeName: 'node-a', podIP: '10.77.1.10', serviceAccountName: 'client' }),
    makePod({ name: 'server', nodeName: 'node-b', podIP: '10.77.2.10', serviceAccountName: 'server', labels: { app: 'server' } }),
    makeService({ name: 'server', clusterIP: '10.77.100.1', selector: { app: 'server' }, ports: [httpPort] }),
    ...extra,
  ]);
}

describe('outbound filter_chain_matcher', () => {
  const config = generateZtunnelConfig(mesh(), 'node-a');
  const toServer = `${SA('client')}_to_http_server.default.svc.cluster.local_outbound_internal`;

  it('routes a captured pod to a service VIP:port through its identity’s chain', () => {
    expect(chainFor(config, '10.77.1.10', '10.77.100.1', 9080)).toBe(toServer);
    const [endpoint] = endpointsOf(config, toServer);
    expect(endpoint?.endpoint.address.envoy_internal_address).toEqual({ server_listener_name: `outbound_tunnel_lis_${SA('client')}`, endpoint_id: '10.77.2.10:9080' });
    expect(endpoint?.metadata.filter_metadata.tunnel).toEqual({ address: '10.77.2.10:15008', destination: '10.77.2.10:9080' });
  });

  it('sends pod IPs in any node’s pod CIDR straight through the tunnel', () => {
    expect(chainFor(config, '10.77.1.10', '10.77.2.10', 8080)).toBe(`${SA('client')}_to_pod_outbound_direct`);
  });

  it('passes through unknown destinations, unknown ports and uncaptured sources; blackholes 15001', () => {
    expect(chainFor(config, '10.77.1.10', '8.8.8.8', 443)).toBe('PassthroughFilterChain');
    expect(chainFor(config, '10.77.1.10', '10.77.100.1', 80)).toBe('PassthroughFilterChain');
    expect(chainFor(config, '10.77.1.99', '10.77.100.1', 9080)).toBe('PassthroughFilterChain');
    expect(chainFor(config, '10.77.1.10', '10.77.100.1', 15001)).toBe('BlackHoleCluster');
  });

  it('creates one tunnel listener and cluster per local identity', () => {
    expect(config.listeners.map((l) => l.name)).toEqual([`outbound_tunnel_lis_${SA('client')}`, 'ztunnel_inbound', 'ztunnel_inbound_plaintext', 'ztunnel_outbound']);
    const tunnel = config.clusters.find((c) => c.name === `outbound_tunnel_clus_${SA('client')}`) as Obj;
    expect(tunnel).toMatchObject({ type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', original_dst_lb_config: { upstream_port_override: 15008 } });
    expect(tunnel.transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].name).toBe(SA('client'));
    expectEncodable(config);
  });
});

describe('destinations outside the mesh, waypoints and multi-port services', () => {
  const legacy = makeNamespace('legacy', {});
  const extra: MeshResource[] = [
    legacy,
    makePod({ name: 'old', namespace: 'legacy', nodeName: 'node-b', podIP: '10.77.2.50', labels: { app: 'old' } }),
    makeService({ name: 'old', namespace: 'legacy', clusterIP: '10.77.100.50', selector: { app: 'old' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] }),
    makeService({
      name: 'multi',
      clusterIP: '10.77.100.2',
      selector: { app: 'server' },
      ports: [
        { name: 'http', port: 80, targetPort: 9080, protocol: 'TCP', appProtocol: 'http' },
        { name: 'admin', port: 9000, targetPort: 9000, protocol: 'TCP' },
      ],
    }),
  ];
  const waypointManifests = parseManifests(
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: default }
spec: { gatewayClassName: istio-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }
status: { addresses: [{ type: IPAddress, value: 10.77.2.200 }] }
---
apiVersion: v1
kind: Service
metadata: { name: behind, namespace: default, labels: { istio.io/use-waypoint: waypoint } }
spec: { clusterIP: 10.77.100.3, selector: { app: server }, ports: [{ port: 9080, appProtocol: http }] }
`,
    'wp.yaml',
  );
  const config = generateZtunnelConfig(mesh([...extra, ...waypointManifests.resources]), 'node-a');

  it('reaches uncaptured pods over plain TCP, by service and by pod IP', () => {
    expect(waypointManifests.errors).toEqual([]);
    const name = `${SA('client')}_to_tcp_old.legacy.svc.cluster.local_outbound_internal`;
    expect(chainFor(config, '10.77.1.10', '10.77.100.50', 80)).toBe(name);
    const [endpoint] = endpointsOf(config, name);
    expect(endpoint?.endpoint.address).toEqual({ socket_address: { address: '10.77.2.50', port_value: 8080 } });
    expect(endpoint?.metadata.filter_metadata.tunnel).toBeUndefined();
    expect(chainFor(config, '10.77.1.10', '10.77.2.50', 8080)).toBe('PassthroughFilterChain');
  });

  it('tunnels to the waypoint, addressed to the service VIP, when the service uses one', () => {
    const name = `${SA('client')}_to_http_behind.default.svc.cluster.local_outbound_internal`;
    expect(endpointsOf(config, name).map((e) => e.metadata.filter_metadata.tunnel)).toEqual([{ address: '10.77.2.200:15008', destination: '10.77.100.3:9080' }]);
  });

  it('gives each port of a multi-port service its own chain and endpoints', () => {
    expect(chainFor(config, '10.77.1.10', '10.77.100.2', 80)).toBe(`${SA('client')}_to_http_multi.default.svc.cluster.local:80_outbound_internal`);
    expect(chainFor(config, '10.77.1.10', '10.77.100.2', 9000)).toBe(`${SA('client')}_to_tcp_multi.default.svc.cluster.local:9000_outbound_internal`);
    const admin = endpointsOf(config, `${SA('client')}_to_tcp_multi.default.svc.cluster.local:9000_outbound_internal`);
    expect(admin.map((e) => e.metadata.filter_metadata.tunnel.destination)).toEqual(['10.77.2.10:9000']);
    expectEncodable(config);
  });
});

describe('nodes', () => {
  it('gives a node without captured pods only the node-independent resources', () => {
    const config = generateZtunnelConfig(mesh(), 'node-z');
    expect(config.listeners.map((l) => l.name)).toEqual(['ztunnel_outbound']);
    expect(config.clusters.map((c) => c.name)).toEqual(['BlackHoleCluster', 'PassthroughCluster', 'virtual_inbound']);
    expect(config.endpoints).toEqual([]);
    expect(chainFor(config, '10.77.1.10', '10.77.100.1', 9080)).toBe('PassthroughFilterChain');
    expectEncodable(config);
  });

  it('lists captured pods of nodes without a pod CIDR exactly', () => {
    const snap = buildSnapshot([
      makeNamespace('default'),
      makeNode('n1', '10.0.0.1'),
      makePod({ name: 'a', nodeName: 'n1', podIP: '10.1.0.1' }),
      makePod({ name: 'b', nodeName: 'n2', podIP: '10.2.0.1' }),
    ]);
    const config = generateZtunnelConfig(snap, 'n1');
    expect(chainFor(config, '10.1.0.1', '10.2.0.1', 80)).toBe('spiffe://cluster.local/ns/default/sa/default_to_pod_outbound_direct');
    expect(chainFor(config, '10.1.0.1', '10.2.0.10', 80)).toBe('PassthroughFilterChain');
  });
});

describe('ipv4CidrToPrefixes', () => {
  it('turns octet-aligned blocks into string prefixes', () => {
    expect(ipv4CidrToPrefixes('10.77.1.0/24')).toEqual(['10.77.1.']);
    expect(ipv4CidrToPrefixes('10.77.0.0/16')).toEqual(['10.77.']);
    expect(ipv4CidrToPrefixes('10.77.3.0/23')).toEqual(['10.77.2.', '10.77.3.']);
    expect(ipv4CidrToPrefixes('10.0.0.0/20')).toHaveLength(16);
  });

  it('refuses prefixes a string match would get wrong', () => {
    expect(ipv4CidrToPrefixes('10.0.0.0/25')).toBeUndefined();
    expect(ipv4CidrToPrefixes('fd00::/64')).toBeUndefined();
  });
});
