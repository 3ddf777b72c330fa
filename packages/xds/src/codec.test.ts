import { describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import {
  canonicalResource,
  decodeMessage,
  decodeResource,
  decodeResourceResult,
  encodeMessage,
  encodeResource,
  encodeResourceResult,
} from './codec.js';
import type { ResourceJson } from './codec.js';
import { envoyProtoLoadTimeMs } from './protos.js';
import {
  SEED_CLUSTER_LOAD_ASSIGNMENT,
  SEED_OUTBOUND_INTERNAL_CLUSTER,
  SEED_OUTBOUND_LISTENER,
  SEED_TUNNEL_CLUSTER,
  SEED_TUNNEL_LISTENER,
} from './testing/seed-resources.js';
import { TYPE_URL } from './type-urls.js';

describe('codec round trip on Istio-shaped ztunnel resources', () => {
  it.each([
    ['ztunnel_outbound listener with filter_chain_matcher', SEED_OUTBOUND_LISTENER],
    ['internal listener with TypedStruct and tunneling_config', SEED_TUNNEL_LISTENER],
    ['EDS cluster with transport_socket_matches', SEED_OUTBOUND_INTERNAL_CLUSTER],
    ['ORIGINAL_DST tunnel cluster with TLS and protocol options', SEED_TUNNEL_CLUSTER],
    ['ClusterLoadAssignment with envoy_internal_address and tunnel metadata', SEED_CLUSTER_LOAD_ASSIGNMENT],
  ])('%s decodes to exactly what was encoded', (_name, resource) => {
    const any = encodeResource(resource);
    expect(any.type_url).toBe(resource['@type']);
    expect(any.value.byteLength).toBeGreaterThan(10);
    expect(decodeResource(any)).toEqual(resource);
    // the binary form is stable: re-encoding the decoded JSON gives the same bytes
    expect(Buffer.from(encodeResource(decodeResource(any)).value)).toEqual(Buffer.from(any.value));
  });

  it('loads the protos once and reports how long that took', () => {
    encodeResource(SEED_TUNNEL_CLUSTER);
    expect(envoyProtoLoadTimeMs()).toBeGreaterThan(0);
  });

  it('writes well-known types in proto3 JSON form', () => {
    const decoded = decodeResource(encodeResource(SEED_TUNNEL_CLUSTER));
    expect(decoded['connect_timeout']).toBe('2s'); // Duration
    expect(decoded['original_dst_lb_config']).toEqual({ upstream_port_override: 15008 }); // UInt32Value
    const cla = decodeResource(encodeResource(SEED_CLUSTER_LOAD_ASSIGNMENT));
    const endpoint = (cla['endpoints'] as Array<{ lb_endpoints: Array<Record<string, unknown>> }>)[0]!.lb_endpoints[0]!;
    expect(endpoint['metadata']).toEqual({
      filter_metadata: {
        'envoy.transport_socket_match': { tunnel: 'h2' },
        tunnel: { address: '10.4.3.20:15008', destination: '10.4.3.20:9080' },
      },
    }); // Struct as plain JSON
  });

  it('formats sub-second durations and timestamps with 3, 6 or 9 digits', () => {
    const cluster = { '@type': TYPE_URL.CLUSTER, name: 'c', connect_timeout: '0.25s', cleanup_interval: '1.000000001s' };
    const decoded = decodeResource(encodeResource(cluster));
    expect(decoded['connect_timeout']).toBe('0.250s');
    expect(decoded['cleanup_interval']).toBe('1.000000001s');
    const dump = decodeMessage('envoy.admin.v3.ClustersConfigDump', encodeMessage('envoy.admin.v3.ClustersConfigDump', {
      version_info: 'v1',
      dynamic_active_clusters: [{ version_info: 'v1', last_updated: '2022-11-08T06:40:06.619Z', cluster }],
    }));
    expect((dump['dynamic_active_clusters'] as Array<Record<string, unknown>>)[0]!['last_updated']).toBe('2022-11-08T06:40:06.619Z');
  });

  it('accepts lowerCamel JSON names and 64-bit integers as numbers, writing the canonical form', () => {
    const canonical = canonicalResource({
      '@type': TYPE_URL.LISTENER,
      name: 'l',
      socketOptions: [{ level: 1, name: 36, int_value: 1025 }],
    });
    expect(canonical).toEqual({ '@type': TYPE_URL.LISTENER, name: 'l', socket_options: [{ level: '1', name: '36', int_value: '1025' }] });
  });
});

describe('codec errors name the field path', () => {
  function encodeError(resource: ResourceJson) {
    const result = encodeResourceResult(resource);
    expect(result.error).toBeDefined();
    return result.error!;
  }

  it('rejects an unknown field deep inside an Any', () => {
    const typo = structuredClone(SEED_TUNNEL_LISTENER) as ResourceJson & { filter_chains: Array<{ filters: Array<{ typed_config: Record<string, unknown> }> }> };
    typo.filter_chains[0]!.filters[0]!.typed_config['stat_prefx'] = 'x';
    const error = encodeError(typo);
    expect(hasCode(error, 'XDS_ERR_UNKNOWN_FIELD')).toBe(true);
    expect(error.message).toContain('Listener.filter_chains[0].filters[0].typed_config(TcpProxy).stat_prefx');
    expect(() => encodeResource(typo)).toThrow(/stat_prefx/);
  });

  it('rejects an unknown enum name, a bad duration and a wrong scalar type', () => {
    expect(encodeError({ '@type': TYPE_URL.CLUSTER, name: 'c', type: 'EDSS' }).message).toMatch(/Cluster\.type: "EDSS" is not a value of enum DiscoveryType/);
    expect(encodeError({ '@type': TYPE_URL.CLUSTER, name: 'c', connect_timeout: '2 seconds' }).message).toMatch(/Cluster\.connect_timeout: expected a duration/);
    expect(encodeError({ '@type': TYPE_URL.LISTENER, name: 7 }).message).toMatch(/Listener\.name: expected a string/);
    expect(encodeError({ '@type': TYPE_URL.LISTENER, name: 'l', address: { socket_address: { port_value: -1 } } }).message).toMatch(/port_value: -1 is out of range/);
  });

  it('rejects two members of one oneof and an unknown @type', () => {
    expect(encodeError({ '@type': TYPE_URL.CLUSTER, name: 'c', type: 'EDS', cluster_type: { name: 'x' } }).message).toMatch(/oneof/);
    const error = encodeError({ '@type': 'type.googleapis.com/envoy.nope.v3.Nope' });
    expect(hasCode(error, 'XDS_ERR_UNKNOWN_TYPE')).toBe(true);
  });

  it('returns an error instead of throwing for bytes that are not the named type', () => {
    const result = decodeResourceResult({ type_url: TYPE_URL.LISTENER, value: new Uint8Array([0xff, 0xff, 0xff]) });
    expect(result.error && hasCode(result.error, 'XDS_ERR_DECODE')).toBe(true);
  });
});

describe("Istio's workload API (istio.workload.Address, istio.security.Authorization)", () => {
  const workload: ResourceJson = {
    '@type': TYPE_URL.ADDRESS,
    workload: {
      uid: 'Kubernetes//Pod/default/sleep',
      name: 'sleep',
      namespace: 'default',
      addresses: [Buffer.from([10, 77, 1, 10]).toString('base64')],
      tunnel_protocol: 'HBONE',
      trust_domain: 'cluster.local',
      service_account: 'sleep',
      node: 'node-a',
      services: { 'default/sleep.default.svc.cluster.local': { ports: [{ service_port: 80, target_port: 8080, app_protocol: 'HTTP11' }] } },
      authorization_policies: ['default/deny-sleep'],
      status: 'UNHEALTHY',
      capacity: 2,
    },
  };
  const service: ResourceJson = {
    '@type': TYPE_URL.ADDRESS,
    service: {
      name: 'echo',
      namespace: 'echo',
      hostname: 'echo.echo.svc.cluster.local',
      addresses: [{ network: '', address: Buffer.from([10, 77, 100, 20]).toString('base64') }],
      ports: [{ service_port: 80, target_port: 8080 }],
      waypoint: { address: { address: Buffer.from([10, 77, 2, 30]).toString('base64') }, hbone_mtls_port: 15008 },
    },
  };
  const authorization: ResourceJson = {
    '@type': TYPE_URL.AUTHORIZATION,
    name: 'deny-sleep',
    namespace: 'default',
    scope: 'WORKLOAD_SELECTOR',
    action: 'DENY',
    groups: [
      {
        rules: [
          { matches: [{ principals: [{ exact: 'cluster.local/ns/default/sa/sleep' }, { presence: {} }], not_destination_ports: [15021] }] },
          { matches: [{ service_accounts: [{ namespace: 'default', serviceAccount: 'sleep' }], source_ips: [{ address: Buffer.from([10, 0, 0, 0]).toString('base64'), length: 8 }] }] },
        ],
      },
    ],
  };

  it.each([
    ['a Workload', workload],
    ['a Service with a waypoint', service],
    ['an Authorization', authorization],
  ])('%s decodes to exactly what was encoded', (_name, resource) => {
    const any = encodeResource(resource);
    expect(any.type_url).toBe(resource['@type']);
    expect(decodeResource(any)).toEqual(resource);
  });

  it("uses Istio's field numbers (bytes written by hand from the public definition)", () => {
    // Address.workload = 1 (LEN) holding Workload.uid = 20 (tag 0xa2 0x01).
    expect(Buffer.from(encodeResource({ '@type': TYPE_URL.ADDRESS, workload: { uid: 'u' } }).value).toString('hex')).toBe('0a04a2010175');
    // Address.service = 2 holding Service.hostname = 3.
    expect(Buffer.from(encodeResource({ '@type': TYPE_URL.ADDRESS, service: { hostname: 'h' } }).value).toString('hex')).toBe('12031a0168');
    // Authorization.name = 1, scope = 3 (WORKLOAD_SELECTOR = 2), action = 4 (DENY = 1), dry_run = 6.
    expect(Buffer.from(encodeResource({ '@type': TYPE_URL.AUTHORIZATION, name: 'n', scope: 'WORKLOAD_SELECTOR', action: 'DENY', dry_run: true }).value).toString('hex')).toBe(
      '0a016e180220013001',
    );
    // Group.rules = 1 → Rules.matches = 2 → Match.service_accounts = 11 → ServiceAccountMatch {namespace = 1, serviceAccount = 2}.
    const sa = { '@type': TYPE_URL.AUTHORIZATION, groups: [{ rules: [{ matches: [{ service_accounts: [{ namespace: 'a', serviceAccount: 'b' }] }] }] }] };
    expect(Buffer.from(encodeResource(sa).value).toString('hex')).toBe('2a0c0a0a12085a060a0161120162');
  });

  it('names the field of a malformed workload resource', () => {
    const error = encodeResourceResult({ '@type': TYPE_URL.ADDRESS, workload: { uid: 'u', tunnel_protocol: 'QUIC' } }).error;
    expect(error?.message).toMatch(/Address\.workload\.tunnel_protocol: "QUIC" is not a value of enum TunnelProtocol/);
  });
});

describe('encoding a sub-message object met twice', () => {
  it('gives the same bytes as encoding a copy of it', () => {
    // One destination matcher shared by many source IPs, as the ztunnel generator builds it (big enough to be kept).
    const ports = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [String(9000 + i), { action: { name: `chain-${i}`, typed_config: { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: `chain-${i}` } } }]));
    const shared = { matcher: { matcher_tree: { input: { name: 'port', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.DestinationPortInput' } }, exact_match_map: { map: ports } } } };
    const bySource = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`10.0.0.${i}`, shared]));
    const listener: ResourceJson = {
      '@type': TYPE_URL.LISTENER,
      name: 'shared',
      filter_chain_matcher: { matcher_tree: { input: { name: 'source-ip', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.SourceIPInput' } }, exact_match_map: { map: bySource } } },
    };
    const copy = JSON.parse(JSON.stringify(listener)) as ResourceJson;
    expect(Buffer.from(encodeResource(listener).value).equals(Buffer.from(encodeResource(copy).value))).toBe(true);
    expect(decodeResource(encodeResource(listener))).toEqual(decodeResource(encodeResource(copy)));
  });
});
