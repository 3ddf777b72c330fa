/** `meshctl waypoint generate|list|status` over manifest files (the sample mesh and temporary ones). */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { buildSnapshot, parseManifestFiles } from '@mesh/mesh-model';
import { runCli, tableRows } from './helpers.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples', import.meta.url));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshctl-waypoint-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('meshctl waypoint', () => {
  it("list: the sample's waypoint with istioctl's columns, programmed because its pod is declared", async () => {
    const { code, stdout } = await runCli(['waypoint', 'list', EXAMPLES]);
    expect(code).toBe(0);
    expect(tableRows(stdout)).toEqual([
      ['NAMESPACE', 'NAME', 'REVISION', 'TRAFFIC TYPE', 'PROGRAMMED'],
      ['echo', 'waypoint', 'default', 'service', 'True'],
      ['wpfor', 'waypoint', 'default', 'workload', 'True'],
    ]);
    const none = await runCli(['waypoint', 'list', EXAMPLES, '-n', 'default']);
    expect(tableRows(none.stdout)).toHaveLength(1);
    expect(none.stderr).toBe('note: no waypoints in namespace default\n');
  });

  it('status: Accepted and Programmed, with the pod that runs it; without a pod, Programmed False', async () => {
    const { stdout } = await runCli(['waypoint', 'status', EXAMPLES]);
    expect(tableRows(stdout)).toEqual([
      ['NAMESPACE', 'NAME', 'STATUS', 'TYPE', 'REASON', 'MESSAGE'],
      ['echo', 'waypoint', 'True', 'Accepted', 'Accepted', 'Resource accepted'],
      ['echo', 'waypoint', 'True', 'Programmed', 'Programmed', 'Resource programmed, run by pod waypoint-0 on node-b'],
      ['wpfor', 'waypoint', 'True', 'Accepted', 'Accepted', 'Resource accepted'],
      ['wpfor', 'waypoint', 'True', 'Programmed', 'Programmed', 'Resource programmed, run by pod waypoint-0 on node-b'],
    ]);
    const generated = (await runCli(['waypoint', 'generate', '-n', 'default', '--name', 'lonely', '--for', 'all'])).stdout;
    await writeFile(join(dir, 'gw.yaml'), generated);
    const lonely = await runCli(['waypoint', 'status', dir, '--name', 'lonely']);
    expect(tableRows(lonely.stdout)[2]).toEqual(['default', 'lonely', 'False', 'Programmed', 'Pending', 'no pod labelled gateway.networking.k8s.io/gateway-name: lonely in default: nothing runs this waypoint']);
    expect(tableRows((await runCli(['waypoint', 'list', dir])).stdout)[1]).toEqual(['default', 'lonely', 'default', 'all', 'False']);
    const missing = await runCli(['waypoint', 'status', dir, '--name', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: no waypoint nope/);
  });

  it('generate: the Gateway istioctl prints, and with --node/--ip the pod; the mesh reads them as a running waypoint', async () => {
    const { code, stdout, stderr } = await runCli(['waypoint', 'generate', '-n', 'echo', '--for', 'workload', '--node', 'node-b', '--ip', '10.77.2.31']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    const [gateway, pod] = parseAllDocuments(stdout).map((d) => d.toJS() as Record<string, unknown>);
    expect(gateway).toEqual({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { labels: { 'istio.io/waypoint-for': 'workload' }, name: 'waypoint', namespace: 'echo' },
      spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    });
    expect(pod).toMatchObject({ kind: 'Pod', metadata: { name: 'waypoint-0', namespace: 'echo', labels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' } }, spec: { nodeName: 'node-b' } });
    const parsed = parseManifestFiles([{ path: 'generated.yaml', text: stdout }]);
    expect(parsed.errors).toEqual([]);
    expect([...buildSnapshot(parsed.resources).gateways.keys()]).toEqual(['echo/waypoint']);
  });

  it('generate refuses an unknown --for, and --node without --ip', async () => {
    expect((await runCli(['waypoint', 'generate', '--for', 'everything'])).stderr).toMatch(/--for everything is not a traffic type.*service, workload, all, none/s);
    expect((await runCli(['waypoint', 'generate', '--node', 'node-a'])).stderr).toMatch(/--node and --ip go together/);
  });
});
