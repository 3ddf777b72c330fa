import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createTestCa } from '@mesh/pki/testing';
import { buildConfigDump } from '@mesh/xds';
import { fixtureJson, fixturePath, runCli, tableRows } from './helpers.js';

const nodeA = fixturePath('bookinfo-node-a');
const ESC = '\u001b[';

describe('meshctl proxy-config over a saved config dump', () => {
  it('listeners: ztunnel_outbound on 15001 with MATCH source IP → destination IP → port', async () => {
    const { code, stdout, stderr } = await runCli(['proxy-config', 'listeners', '--file', nodeA]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const rows = tableRows(stdout);
    expect(rows[0]).toEqual(['ADDRESSES', 'PORT', 'MATCH', 'DESTINATION']);
    expect(rows).toContainEqual([
      '0.0.0.0',
      '15001',
      '10.77.1.11 → 10.77.100.11 → 9080',
      'Cluster: spiffe://cluster.local/ns/default/sa/bookinfo-productpage_to_http_reviews.default.svc.cluster.local_outbound_internal',
    ]);
    expect(rows).toContainEqual(['0.0.0.0', '15001', 'port 15001', 'Cluster: BlackHoleCluster']);
    expect(rows).toContainEqual(['0.0.0.0', '15001', '10.77.1.11 → 10.77.2.*', 'Cluster: outbound_tunnel_clus_spiffe://cluster.local/ns/default/sa/bookinfo-productpage (tunnel)']);
    expect(rows).toContainEqual(['0.0.0.0', '15008', 'dst 10.77.1.12', 'Cluster: virtual_inbound']);
    expect(rows).toContainEqual(['envoy://outbound_tunnel_lis_spiffe://cluster.local/ns/default/sa/sleep', '-', 'ALL', 'Cluster: outbound_tunnel_clus_spiffe://cluster.local/ns/default/sa/sleep (tunnel)']);
    expect(stdout).not.toContain(ESC);
  });

  it('listeners: ADDRESSES is as wide as 0.0.0.0, and an internal tunnel listener named after an identity stands on its own line', async () => {
    const { stdout } = await runCli(['pc', 'l', '--file', nodeA]);
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(/^ADDRESSES {3}PORT {4}MATCH/);
    expect(lines).toContain('0.0.0.0     15001   port 15001' + ' '.repeat(lines[0]!.indexOf('DESTINATION') - 'ADDRESSES   PORT    port 15001'.length) + 'Cluster: BlackHoleCluster');
    const at = lines.indexOf('envoy://outbound_tunnel_lis_spiffe://cluster.local/ns/default/sa/sleep');
    expect(at).toBeGreaterThan(0);
    // The row goes on under PORT, aligned with the rest.
    expect(lines[at + 1]).toMatch(/^ {12}- {7}ALL +Cluster: outbound_tunnel_clus_spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep \(tunnel\)$/);
    expect(lines[at + 1]!.indexOf('Cluster:')).toBe(lines[0]!.indexOf('DESTINATION'));
  });

  it('listeners --port and --address narrow the rows', async () => {
    const inbound = tableRows((await runCli(['pc', 'l', '-f', nodeA, '--port', '15008'])).stdout).slice(1);
    expect(inbound.map((r) => r[2])).toEqual(['dst 10.77.1.10', 'dst 10.77.1.11', 'dst 10.77.1.12']);
    const vip = tableRows((await runCli(['pc', 'l', '-f', nodeA, '--address', '10.77.100.11', '--port', '9080'])).stdout).slice(1);
    expect(vip.map((r) => r[2])).toEqual(['10.77.1.10 → 10.77.100.11 → 9080', '10.77.1.11 → 10.77.100.11 → 9080', '10.77.1.12 → 10.77.100.11 → 9080']);
  });

  it('a pod target narrows listeners to that pod', async () => {
    const rows = tableRows((await runCli(['pc', 'l', 'productpage-v1.default', '-f', nodeA])).stdout).slice(1);
    expect(rows.length).toBeGreaterThan(5);
    for (const row of rows) expect(`${row[0]} ${row[2]}`).toMatch(/10\.77\.1\.11|bookinfo-productpage/);
  });

  it('clusters: the reviews service as each local identity reaches it', async () => {
    const { stdout } = await runCli(['pc', 'c', '-f', nodeA, '--fqdn', 'reviews', '--direction', 'outbound']);
    expect(tableRows(stdout)).toEqual([
      ['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE', 'SOURCE'],
      ['reviews.default.svc.cluster.local', '9080', '-', 'outbound', 'EDS', 'default/bookinfo-productpage'],
      ['reviews.default.svc.cluster.local', '9080', '-', 'outbound', 'EDS', 'default/bookinfo-reviews'],
      ['reviews.default.svc.cluster.local', '9080', '-', 'outbound', 'EDS', 'default/sleep'],
    ]);
  });

  it('endpoints: the three reviews pods with their tunnel address and destination', async () => {
    const { stdout } = await runCli(['pc', 'ep', 'productpage-v1.default', '-f', nodeA, '--cluster', 'reviews']);
    const rows = tableRows(stdout);
    expect(rows[0]).toEqual(['ENDPOINT', 'STATUS', 'LOCALITY', 'CLUSTER', 'TUNNEL ADDRESS', 'TUNNEL DESTINATION', 'WORKLOAD']);
    expect(rows.slice(1).map((r) => [r[0], r[1], r[4], r[5], r[6]])).toEqual([
      ['10.77.1.12:9080', 'HEALTHY', '10.77.1.12:15008', '10.77.1.12:9080', 'reviews-v1.default'],
      ['10.77.2.10:9080', 'HEALTHY', '10.77.2.10:15008', '10.77.2.10:9080', 'reviews-v2.default'],
      ['10.77.2.11:9080', 'HEALTHY', '10.77.2.11:15008', '10.77.2.11:9080', 'reviews-v3.default'],
    ]);
  });

  it('routes: ztunnel_inbound CONNECT route to virtual_inbound', async () => {
    const { stdout } = await runCli(['pc', 'r', '-f', nodeA]);
    expect(tableRows(stdout)).toEqual([
      ['NAME', 'VHOST NAME', 'DOMAINS', 'MATCH', 'DESTINATION'],
      ['local_route', 'local_service', '*', 'CONNECT', 'virtual_inbound'],
    ]);
  });

  it('-o json and -o yaml print the Envoy resources themselves', async () => {
    const json = JSON.parse((await runCli(['pc', 'l', '-f', nodeA, '--port', '15001', '-o', 'json'])).stdout) as { name: string; '@type': string }[];
    expect(json.map((l) => l.name)).toEqual(['ztunnel_outbound']);
    expect(json[0]?.['@type']).toBe('type.googleapis.com/envoy.config.listener.v3.Listener');
    const yaml = parseYaml((await runCli(['pc', 'c', '-f', nodeA, '--fqdn', 'virtual_inbound', '-o', 'yaml'])).stdout) as { name: string; original_dst_lb_config: unknown }[];
    expect(yaml).toEqual([expect.objectContaining({ name: 'virtual_inbound', original_dst_lb_config: { use_http_header: true } })]);
  });

  it('all prints every table; all -o json prints the whole dump', async () => {
    const { stdout } = await runCli(['pc', 'all', '-f', nodeA]);
    for (const title of ['LISTENERS', 'CLUSTERS', 'ENDPOINTS', 'ROUTES', 'SECRETS']) expect(stdout).toMatch(new RegExp(`^${title}$`, 'm'));
    expect(JSON.parse((await runCli(['pc', 'a', '-f', nodeA, '-o', 'json'])).stdout)).toEqual(fixtureJson('bookinfo-node-a'));
  });

  it('--file - reads the dump from stdin', async () => {
    const { code, stdout } = await runCli(['pc', 'c', '--file', '-', '--fqdn', 'details', '--port', '9080'], {
      readInput: async (path) => (path === '-' ? JSON.stringify(fixtureJson('bookinfo-node-b')) : ''),
    });
    expect(code).toBe(0);
    expect(tableRows(stdout).length).toBeGreaterThan(1);
  });

  it('secret: serial number and validity of the certificates the proxy holds', async () => {
    const ca = createTestCa();
    const identity = 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage';
    const issued = ca.issue(identity);
    const dump = buildConfigDump({
      secrets: [
        {
          name: identity,
          version: '1',
          lastUpdated: '2026-11-21T12:00:00.000Z',
          secret: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret', name: identity, tls_certificate: { certificate_chain: { inline_string: issued.chainPem } } },
        },
        {
          name: 'ROOTCA',
          version: '1',
          lastUpdated: '2026-11-21T12:00:00.000Z',
          secret: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret', name: 'ROOTCA', validation_context: { trusted_ca: { inline_bytes: Buffer.from(ca.rootPem).toString('base64') } } },
        },
      ],
    });
    const { X509Certificate } = await import('node:crypto');
    const leaf = new X509Certificate(issued.certPem);
    const run = (now: Date) => runCli(['pc', 's', '-f', 'dump.json'], { readInput: async () => JSON.stringify(dump), now: () => now });
    const rows = tableRows((await run(new Date())).stdout);
    expect(rows[0]).toEqual(['RESOURCE NAME', 'TYPE', 'STATUS', 'VALID CERT', 'SERIAL NUMBER', 'NOT AFTER', 'NOT BEFORE']);
    expect(rows[1]).toEqual([identity, 'Cert Chain', 'ACTIVE', 'true', leaf.serialNumber.toLowerCase(), new Date(leaf.validTo).toISOString(), new Date(leaf.validFrom).toISOString()]);
    expect(rows[2]?.slice(0, 4)).toEqual(['ROOTCA', 'CA', 'ACTIVE', 'true']);
    const expired = tableRows((await run(new Date(Date.parse(leaf.validTo) + 1000))).stdout);
    expect(expired[1]?.[3]).toBe('false');
  });

  it('a file that is not a config dump is a clear error, exit code 1', async () => {
    const { code, stderr, stdout } = await runCli(['pc', 'l', '-f', 'x.json'], { readInput: async () => '{"listeners": []}' });
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^error: x\.json is not a config dump: expected an Envoy dump \(a JSON object with a "configs" array\) or a workload-dialect ztunnel's \(with a "workloads" array\)/);
  });

  it('a pod the dump does not hold lists the local pods', async () => {
    const { code, stderr } = await runCli(['pc', 'l', 'nope.default', '-f', nodeA]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/pod nope\.default is not in bookinfo-node-a\.config_dump\.json.*local to it: sleep\.default, productpage-v1\.default, reviews-v1\.default/);
  });

  it('rejects an unknown output format', async () => {
    const { code, stderr } = await runCli(['pc', 'l', '-f', nodeA, '-o', 'wide']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/-o wide is not an output format/);
  });

  it('listeners --type HTTP keeps the CONNECT-terminating inbound chains only', async () => {
    const rows = tableRows((await runCli(['pc', 'l', '-f', nodeA, '--type', 'http'])).stdout).slice(1);
    expect(rows.map((r) => `${r[1]} ${r[2]}`)).toEqual(['15008 dst 10.77.1.10', '15008 dst 10.77.1.11', '15008 dst 10.77.1.12']);
  });

  it('x explain from saved dumps, -o json for scripts', async () => {
    const { code, stdout } = await runCli([
      'x', 'explain', '--from', 'sleep.default', '--to', 'ratings:9080',
      '-f', `ztunnel-node-a=${nodeA}`, '-f', `ztunnel-node-b=${fixturePath('deny-node-b')}`, '-o', 'json',
    ]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as { outcome: string; policy: string; steps: { proxy: string }[] };
    expect(result).toMatchObject({ outcome: 'denied', policy: 'ns[default]-policy[deny-sleep]-rule[0]' });
    expect(new Set(result.steps.map((s) => s.proxy))).toEqual(new Set(['ztunnel-node-a', 'ztunnel-node-b']));
  });
});
