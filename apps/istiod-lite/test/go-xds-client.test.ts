/**
 * istiod-lite's ADS against an independent client: `tools/go-xds-client`, built on Envoy's own
 * Go protos (go-control-plane). It speaks both ADS methods, unmarshals every resource into its
 * Envoy type and checks it with the proto's validation rules (what Envoy enforces), NACKing what
 * fails. Built by the set-up (`tools/go-xds-client`); skipped, saying so, when it is not built.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TYPE_URL } from '@mesh/xds';
import { generateZtunnelConfig } from '../src/xds/generate/index.js';
import { GeneratorRegistry, meshGenerators } from '../src/xds/proxy-resources.js';
import { waitFor } from '@mesh/testing';
import { missingToolReason, testToolPath } from '@mesh/hbone-core/testing';
import { proxyNode, startTestIstiod } from './helpers.js';
import type { TestIstiod } from './helpers.js';

const BINARY = testToolPath('go-xds-client');
const BOOKINFO_DIR = fileURLToPath(new URL('../../../examples/bookinfo', import.meta.url));
const run = promisify(execFile);

interface GoReport {
  protocol: string;
  responses: Array<{ typeUrl: string; nonce: string; version: string; resources: Array<{ name: string; version?: string; bytes: number }>; removed?: string[]; nack?: string }>;
  types: Record<string, Record<string, string>>;
  errors?: string[];
}

describe.skipIf(!BINARY)(`ADS against go-control-plane (tools/go-xds-client)${BINARY ? '' : `: ${missingToolReason('go-xds-client')}`}`, () => {
  let env: TestIstiod;
  beforeAll(async () => {
    const files: Record<string, string> = {};
    for (const name of await readdir(BOOKINFO_DIR)) if (name.endsWith('.yaml')) files[name] = await readFile(path.join(BOOKINFO_DIR, name), 'utf8');
    env = await startTestIstiod(files, meshGenerators);
  });
  afterAll(() => env?.cleanup());

  const goClient = async (protocol: 'delta' | 'sotw', initial?: GoReport['types'], istiod = env, types = 'cds,eds,lds'): Promise<GoReport> => {
    const node = proxyNode('node-a');
    const args = ['-target', `127.0.0.1:${istiod.istiod.ports.xds}`, '-protocol', protocol, '-node-id', node.id, '-node-name', 'node-a', '-types', types];
    if (initial) args.push('-initial-versions', JSON.stringify(initial));
    const { stdout } = await run(BINARY!, args, { timeout: 30_000 });
    return JSON.parse(stdout) as GoReport;
  };
  const expected = () => {
    const config = generateZtunnelConfig(env.istiod.source.current(), 'node-a');
    const names = (rs: readonly Record<string, unknown>[]) => rs.map((r) => String(r['name'] ?? r['cluster_name'])).sort();
    return { [TYPE_URL.CLUSTER]: names(config.clusters), [TYPE_URL.CLUSTER_LOAD_ASSIGNMENT]: names(config.endpoints), [TYPE_URL.LISTENER]: names(config.listeners) };
  };

  it('delta: every resource unmarshals into its Envoy type and passes Envoy\'s validation rules; nothing is NACKed', async () => {
    const report = await goClient('delta');
    expect(report.errors ?? []).toEqual([]);
    expect(report.responses.filter((r) => r.nack)).toEqual([]);
    for (const [typeUrl, names] of Object.entries(expected())) expect(Object.keys(report.types[typeUrl] ?? {}).sort()).toEqual(names);
    expect(env.logger.entries.filter((e) => e.msg === 'proxy rejected config (NACK)')).toEqual([]);
  });

  it('delta: a reconnect listing its versions is answered, and sent nothing', async () => {
    const first = await goClient('delta');
    const again = await goClient('delta', first.types);
    expect(again.responses.map((r) => r.typeUrl).sort()).toEqual([TYPE_URL.CLUSTER, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, TYPE_URL.LISTENER].sort());
    for (const response of again.responses) expect({ resources: response.resources, removed: response.removed ?? [] }).toEqual({ resources: [], removed: [] });
  });

  it('delta: versions it does not have are sent, names that are gone are removed', async () => {
    const first = await goClient('delta');
    const clusters = { ...first.types[TYPE_URL.CLUSTER]!, gone_cluster: 'v0', BlackHoleCluster: 'stale' };
    const again = await goClient('delta', { ...first.types, [TYPE_URL.CLUSTER]: clusters });
    const cds = again.responses.filter((r) => r.typeUrl === TYPE_URL.CLUSTER);
    expect(cds.flatMap((r) => r.resources.map((x) => x.name))).toEqual(['BlackHoleCluster']);
    expect(cds.flatMap((r) => r.removed ?? [])).toEqual(['gone_cluster']);
  });

  it('delta: a resource Envoy would refuse is NACKed by name, the rest ACKed; istiod-lite logs which', async () => {
    const cluster = (name: string, timeout: string) => ({ '@type': TYPE_URL.CLUSTER, name, type: 'STATIC', connect_timeout: timeout });
    const generator = {
      name: 'envoy-would-refuse',
      typeUrls: [TYPE_URL.CLUSTER],
      scopeOf: () => '',
      generate: () => new Map([[TYPE_URL.CLUSTER, new Map([['good', cluster('good', '1s')], ['negative-timeout', cluster('negative-timeout', '-1s')]])]]),
    };
    const other = await startTestIstiod({ 'mesh.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: default\n' }, new GeneratorRegistry([{ generator, serves: () => true }]));
    try {
      const report = await goClient('delta', undefined, other, 'cds');
      expect(report.responses).toHaveLength(1);
      expect(report.responses[0]!.nack).toMatch(/^negative-timeout: invalid Cluster.ConnectTimeout: value must be greater than 0s/);
      expect(Object.keys(report.types[TYPE_URL.CLUSTER] ?? {})).toEqual(['good']);
      await waitFor(() => other.logger.entries.some((e) => e.msg === 'proxy rejected config (NACK)'), 3_000, 'NACK logged');
      expect(other.logger.entries.find((e) => e.msg === 'proxy rejected config (NACK)')).toMatchObject({ rejected: ['negative-timeout'] });
    } finally {
      await other.cleanup();
    }
  });

  it('state of the world: the same resources, ACKed', async () => {
    const report = await goClient('sotw');
    expect(report.responses.filter((r) => r.nack)).toEqual([]);
    for (const [typeUrl, names] of Object.entries(expected())) expect(Object.keys(report.types[typeUrl] ?? {}).sort()).toEqual(names);
  });
});
