/**
 * meshctl against a workload-dialect ztunnel (`--xds-dialect workload`): ztunnel-config shows its
 * records with istioctl's columns, proxy-config says there are no Envoy listeners and where to
 * look instead, and x explain compiles the workload API into ztunnel's model and decides with
 * ztunnel's planner, as for the Envoy dialect. The dumps are the ones ztunnel serves
 * (fixtures/*.ztunnel_dump.json, kept equal to ztunnel's output by
 * apps/ztunnel/test/workload-dump-fixtures.test.ts).
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli, tableRows } from './helpers.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}.ztunnel_dump.json`, import.meta.url));
const BOOKINFO = fixture('workload-bookinfo-node-a');
const DENY = fixture('workload-deny-node-b');
const WAYPOINT = fixture('workload-waypoint-node-a');
const WAYPOINT_FOR_ALL = fixture('workload-waypoint-for-all-node-a');

describe('meshctl ztunnel-config on a workload-dialect ztunnel', () => {
  it("workloads: istioctl's columns, every workload with its node, sorted by namespace.name", async () => {
    const { code, stdout } = await runCli(['zc', 'workloads', '-f', WAYPOINT]);
    expect(code).toBe(0);
    expect(tableRows(stdout)).toEqual([
      ['NAMESPACE', 'POD NAME', 'ADDRESS', 'NODE', 'WAYPOINT', 'PROTOCOL'],
      ['default', 'details-v1', '10.77.2.12', 'node-b', 'None', 'HBONE'],
      ['default', 'productpage-v1', '10.77.1.11', 'node-a', 'None', 'HBONE'],
      ['default', 'ratings-v1', '10.77.2.13', 'node-b', 'None', 'HBONE'],
      ['default', 'reviews-v1', '10.77.1.12', 'node-a', 'None', 'HBONE'],
      ['default', 'reviews-v2', '10.77.2.10', 'node-b', 'None', 'HBONE'],
      ['default', 'reviews-v3', '10.77.2.11', 'node-b', 'None', 'HBONE'],
      ['default', 'sleep', '10.77.1.10', 'node-a', 'None', 'HBONE'],
      ['echo', 'echo-v1', '10.77.1.20', 'node-a', 'None', 'HBONE'],
      ['echo', 'echo-v2', '10.77.2.20', 'node-b', 'None', 'HBONE'],
      ['echo', 'waypoint-0', '10.77.2.30', 'node-b', 'None', 'HBONE'],
    ]);
  });

  it('workloads: filters by namespace, node and address, and narrows to a pod target', async () => {
    expect(tableRows((await runCli(['zc', 'workloads', '-f', BOOKINFO, '--node', 'node-a', '--namespace', 'default'])).stdout).slice(1).map((r) => r[1])).toEqual([
      'productpage-v1',
      'reviews-v1',
      'sleep',
    ]);
    expect(tableRows((await runCli(['zc', 'workloads', 'ratings-v1.default', '-f', BOOKINFO])).stdout).slice(1)).toEqual([['default', 'ratings-v1', '10.77.2.13', 'node-b', 'None', 'HBONE']]);
    expect(tableRows((await runCli(['zc', 'workloads', '-f', BOOKINFO, '--address', '10.77.2.11'])).stdout).slice(1).map((r) => r[1])).toEqual(['reviews-v3']);
  });

  it("services: VIP, the waypoint by name, healthy/total endpoints; -o json gives ztunnel's records", async () => {
    const { stdout } = await runCli(['zc', 'services', '-f', WAYPOINT]);
    expect(tableRows(stdout)).toEqual([
      ['NAMESPACE', 'SERVICE NAME', 'SERVICE VIP', 'WAYPOINT', 'ENDPOINTS'],
      ['default', 'details', '10.77.100.12', 'None', '1/1'],
      ['default', 'productpage', '10.77.100.10', 'None', '1/1'],
      ['default', 'ratings', '10.77.100.13', 'None', '1/1'],
      ['default', 'reviews', '10.77.100.11', 'None', '3/3'],
      ['default', 'sleep', '10.77.100.14', 'None', '1/1'],
      ['echo', 'echo', '10.77.100.20', 'waypoint', '2/2'],
      ['echo', 'echo-v1', '10.77.100.21', 'waypoint', '1/1'],
      ['echo', 'echo-v2', '10.77.100.22', 'waypoint', '1/1'],
      ['echo', 'waypoint', '-', 'None', '1/1'],
    ]);
    const json = JSON.parse((await runCli(['zc', 'services', '-f', WAYPOINT, '--namespace', 'echo', '-o', 'json'])).stdout) as Array<Record<string, unknown>>;
    expect(json[0]).toMatchObject({ name: 'echo', hostname: 'echo.echo.svc.cluster.local', vips: ['/10.77.100.20'], waypoint: { destination: 'echo/waypoint.echo.svc.cluster.local', hboneMtlsPort: 15008 } });
  });

  it("policies: istioctl's action and scope", async () => {
    expect(tableRows((await runCli(['zc', 'policies', '-f', DENY])).stdout)).toEqual([
      ['NAMESPACE', 'POLICY NAME', 'ACTION', 'SCOPE'],
      ['default', 'deny-sleep', 'Deny', 'WorkloadSelector'],
    ]);
  });

  it('certificates: the identities of its local workloads (pending without a CA)', async () => {
    const rows = tableRows((await runCli(['zc', 'certificates', '-f', DENY])).stdout);
    expect(rows[0]).toEqual(['CERTIFICATE NAME', 'TYPE', 'STATUS', 'VALID CERT', 'SERIAL NUMBER', 'NOT AFTER', 'NOT BEFORE']);
    // istioctl's words for ztunnel's certificate states, and NA for what is not there yet.
    expect(rows.slice(1)).toEqual([
      ['spiffe://cluster.local/ns/default/sa/bookinfo-details', 'Cert Chain', 'Initializing', 'false', 'NA', 'NA', 'NA'],
      ['spiffe://cluster.local/ns/default/sa/bookinfo-ratings', 'Cert Chain', 'Initializing', 'false', 'NA', 'NA', 'NA'],
      ['spiffe://cluster.local/ns/default/sa/bookinfo-reviews', 'Cert Chain', 'Initializing', 'false', 'NA', 'NA', 'NA'],
    ]);
  });

  it('all: every view', async () => {
    const { stdout } = await runCli(['zc', 'all', '-f', DENY]);
    for (const title of ['WORKLOADS', 'SERVICES', 'POLICIES', 'CERTIFICATES']) expect(stdout).toMatch(new RegExp(`^${title}$`, 'm'));
  });
});

describe('meshctl proxy-config on a workload-dialect ztunnel', () => {
  it.each([['listeners'], ['clusters'], ['endpoints'], ['routes'], ['secret'], ['all']])('%s says it runs no Envoy config and points to ztunnel-config, never an empty table', async (view) => {
    const { code, stdout, stderr } = await runCli(['pc', view, '-f', BOOKINFO]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/runs Istio's workload API \(ztunnel --xds-dialect workload\): it has no Envoy listeners/);
    expect(stderr).toMatch(/meshctl ztunnel-config workloads\|services\|policies\|certificates\|all --file <dump>/);
  });
});

describe('meshctl x explain on a workload-dialect mesh', () => {
  it('sleep → ratings: service, endpoint, HBONE, the destination ztunnel, ALLOW', async () => {
    const { code, stdout } = await runCli(['x', 'explain', '--from', 'sleep.default', '--to', 'ratings:9080', '-f', BOOKINFO]);
    expect(code).toBe(0);
    expect(stdout).toContain('sleep.default (10.77.1.10) → ratings.default.svc.cluster.local:9080 (10.77.100.13:9080)');
    expect(stdout).toMatch(/\[ztunnel-node-a\] source sleep\.default \(10\.77\.1\.10\) is a workload on node-a \(protocol HBONE\)/);
    expect(stdout).toMatch(/\[ztunnel-node-a\] destination 10\.77\.100\.13:9080 is service ratings\.default\.svc\.cluster\.local/);
    expect(stdout).toMatch(/\[ztunnel-node-a\] endpoint 10\.77\.2\.13:9080 chosen/);
    expect(stdout).toMatch(/\[ztunnel-node-a\] tunnel cluster outbound_tunnel_clus_spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep \(ORIGINAL_DST\): HBONE to 10\.77\.2\.13:15008\n.*\n +CONNECT :authority 10\.77\.2\.13:9080; the server must present spiffe:\/\/cluster\.local\/ns\/default\/sa\/bookinfo-ratings/);
    expect(stdout).toMatch(/\[ztunnel-node-b\] listener ztunnel_inbound on port 15008: filter chain inbound_10\.77\.2\.13 \(destination 10\.77\.2\.13\)\n +10\.77\.2\.13 is ratings-v1\.default on node-b/);
    expect(stdout).toMatch(/\[ztunnel-node-b\] authorization: ALLOW \(no authorization policy applies\)/);
    expect(stdout).toMatch(/Result: allowed: sleep\.default reaches ratings-v1\.default at 10\.77\.2\.13:9080 over HBONE/);
  });

  it('the DENY policy decides, named as ztunnel logs it', async () => {
    const json = JSON.parse((await runCli(['x', 'explain', '--from', 'sleep.default', '--to', 'ratings.default:9080', '-f', DENY, '-o', 'json'])).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ outcome: 'denied', policy: 'ns[default]-policy[deny-sleep]-rule[0]' });
    const allowed = JSON.parse((await runCli(['x', 'explain', '--from', 'productpage-v1.default', '--to', 'ratings:9080', '-f', DENY, '-o', 'json'])).stdout) as Record<string, unknown>;
    expect(allowed).toMatchObject({ outcome: 'allowed' });
  });

  it('round robin is left to ztunnel; --endpoint follows one; a pod IP goes direct; outside is passthrough; 15001 is a loop', async () => {
    const ep = JSON.parse((await runCli(['x', 'explain', '--from', 'productpage-v1.default', '--to', 'reviews:9080', '--endpoint', '10.77.2.11', '-f', BOOKINFO, '-o', 'json'])).stdout) as { outcome: string; summary: string };
    expect(ep).toMatchObject({ outcome: 'allowed', summary: expect.stringContaining('reviews-v3.default at 10.77.2.11:9080') });
    const direct = JSON.parse((await runCli(['x', 'explain', '--from', 'sleep.default', '--to', '10.77.2.12:9080', '-f', BOOKINFO, '-o', 'json'])).stdout) as { outcome: string; steps: { title: string }[] };
    expect(direct.outcome).toBe('allowed');
    expect(direct.steps.map((s) => s.title)).toEqual(
      expect.arrayContaining(['destination 10.77.2.12 is workload details-v1.default on node-b (protocol HBONE)', 'filter chain spiffe://cluster.local/ns/default/sa/sleep_to_pod_outbound_direct: tcp_proxy → cluster outbound_tunnel_clus_spiffe://cluster.local/ns/default/sa/sleep']),
    );
    expect(JSON.parse((await runCli(['x', 'explain', '--from', 'sleep.default', '--to', '192.0.2.1:443', '-f', BOOKINFO, '-o', 'json'])).stdout)).toMatchObject({ outcome: 'passthrough' });
    expect(JSON.parse((await runCli(['x', 'explain', '--from', 'sleep.default', '--to', 'ratings:15001', '-f', BOOKINFO, '-o', 'json'])).stdout)).toMatchObject({ outcome: 'blackhole' });
  });

  it('a service behind a waypoint: the tunnel goes to the waypoint, with the VIP as :authority', async () => {
    const { stdout } = await runCli(['x', 'explain', '--from', 'sleep.default', '--to', 'echo.echo:80', '-f', WAYPOINT]);
    expect(stdout).toMatch(/service echo uses waypoint echo\/waypoint\.echo\.svc\.cluster\.local/);
    expect(stdout).toMatch(/endpoint 10\.77\.2\.30:15008 chosen/);
    expect(stdout).toMatch(/HBONE to 10\.77\.2\.30:15008\n.*\n +CONNECT :authority 10\.77\.100\.20:80;/);
    expect(stdout).toMatch(/Result: the tunnel goes to 10\.77\.2\.30:15008 \(waypoint-0\.echo\), not to the destination 10\.77\.100\.20:80: a waypoint/);
  });

  it('a pod enrolled in a waypoint for workload traffic (waypoint-for: all): the tunnel goes to the waypoint, with the pod as :authority', async () => {
    const { stdout } = await runCli(['x', 'explain', '--from', 'sleep.default', '--to', '10.77.2.41:8080', '-f', WAYPOINT_FOR_ALL]);
    expect(stdout).toMatch(/destination 10\.77\.2\.41 is workload web-b\.wpfor, which uses waypoint wpfor\/waypoint\.wpfor\.svc\.cluster\.local: the connection goes to the waypoint, :authority 10\.77\.2\.41:8080/);
    expect(stdout).toMatch(/tcp_proxy tunnels to the waypoint 10\.77\.2\.40:15008: CONNECT :authority 10\.77\.2\.41:8080/);
    expect(stdout).toMatch(/Result: the tunnel goes to 10\.77\.2\.40:15008 \(waypoint-0\.wpfor\), not to the destination 10\.77\.2\.41:8080: a waypoint/);
    // The opted-out pod goes direct.
    const direct = JSON.parse((await runCli(['x', 'explain', '--from', 'sleep.default', '--to', '10.77.2.42:8080', '-f', WAYPOINT_FOR_ALL, '-o', 'json'])).stdout) as { steps: { title: string }[] };
    expect(direct.steps.map((s) => s.title)).toContain('destination 10.77.2.42 is workload web-direct.wpfor on node-b (protocol HBONE)');
    expect(direct.steps.map((s) => s.title)).toContain('filter chain spiffe://cluster.local/ns/default/sa/sleep_to_pod_outbound_direct: tcp_proxy → cluster outbound_tunnel_clus_spiffe://cluster.local/ns/default/sa/sleep');
  });

  it("a source no ztunnel captures (a waypoint's own pod) passes through, on its node", async () => {
    const json = JSON.parse((await runCli(['x', 'explain', '--from', 'waypoint-0.echo', '--to', 'echo.echo:80', '-f', WAYPOINT, '-o', 'json'])).stdout) as { outcome: string; steps: { proxy: string; title: string }[] };
    expect(json.outcome).toBe('passthrough');
    expect(json.steps).toEqual([{ proxy: 'ztunnel-node-b', title: 'source waypoint-0.echo (10.77.2.30) is not captured (protocol HBONE, native tunnel): no ztunnel handles its outbound traffic', details: [] }]);
  });

  it('an unknown source is refused with the pods it knows', async () => {
    const { code, stderr } = await runCli(['x', 'explain', '--from', 'nope.default', '--to', 'ratings:9080', '-f', BOOKINFO]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/unknown source pod nope\.default/);
  });
});
