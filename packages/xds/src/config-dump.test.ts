import { describe, expect, it } from 'vitest';
import { buildConfigDump, configDumpInputFromTypeStates, CONFIG_DUMP_TYPE_URL } from './config-dump.js';
import { TYPE_URL } from './type-urls.js';
import { decodeMessage, encodeMessage } from './codec.js';
import { SEED_CLUSTER_LOAD_ASSIGNMENT, SEED_OUTBOUND_LISTENER, SEED_TUNNEL_CLUSTER, SEED_TUNNEL_LISTENER } from './testing/index.js';

const AT = '2022-11-08T06:40:06.619Z';

describe('buildConfigDump', () => {
  const input = {
    clusters: { version: 'v7', lastUpdated: AT, resources: [SEED_TUNNEL_CLUSTER] },
    listeners: { version: 'v3', lastUpdated: AT, resources: [SEED_TUNNEL_LISTENER, SEED_OUTBOUND_LISTENER] },
    endpoints: { version: 'v2', lastUpdated: AT, resources: [SEED_CLUSTER_LOAD_ASSIGNMENT] },
  };

  it('has the shape of Envoy config_dump and encodes through envoy.admin.v3.ConfigDump', () => {
    const dump = buildConfigDump({ ...input, includeEds: true });
    expect(dump.configs.map((c) => c['@type'])).toEqual([
      CONFIG_DUMP_TYPE_URL.CLUSTERS,
      CONFIG_DUMP_TYPE_URL.LISTENERS,
      CONFIG_DUMP_TYPE_URL.ENDPOINTS,
      CONFIG_DUMP_TYPE_URL.SECRETS,
    ]);
    const listeners = dump.configs[1]!['dynamic_listeners'] as Array<{ name: string; active_state: { version_info: string } }>;
    expect(listeners.map((l) => l.name)).toEqual(['outbound_tunnel_lis_spiffe://cluster.local/ns/default/sa/sleep', 'ztunnel_outbound']);
    expect(listeners[0]!.active_state.version_info).toBe('v3');
    // the dump is valid Envoy admin proto: it round-trips through the published types
    expect(decodeMessage('envoy.admin.v3.ConfigDump', encodeMessage('envoy.admin.v3.ConfigDump', dump))).toEqual(dump);
  });

  it('leaves endpoints out unless include_eds is asked for', () => {
    const dump = buildConfigDump(input);
    expect(dump.configs.some((c) => c['@type'] === CONFIG_DUMP_TYPE_URL.ENDPOINTS)).toBe(false);
  });

  it('builds the input from per-type-URL state such as XdsClient.currentAll()', () => {
    const states = new Map([
      [TYPE_URL.CLUSTER, input.clusters],
      [TYPE_URL.LISTENER, input.listeners],
      [TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, input.endpoints],
    ]);
    expect(buildConfigDump(configDumpInputFromTypeStates(states, { includeEds: true }))).toEqual(buildConfigDump({ ...input, includeEds: true }));
  });
});
