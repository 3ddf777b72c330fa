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

describe('codec round trip on seed 002 resources', () => {
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
