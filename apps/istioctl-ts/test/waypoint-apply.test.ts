/** `meshctl waypoint apply|delete` on a manifests directory (a copy of examples/waypoint, or an empty one). */
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { buildSnapshot, parseManifestFiles } from '@mesh/mesh-model';
import { planWaypointApply, planWaypointDelete } from '../src/waypoint/manifest-edit.js';
import { runCli } from './helpers.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples', import.meta.url));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshctl-waypoint-apply-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The manifests of `dir` as the mesh reads them. */
async function snapshot(path = dir) {
  const files = await Promise.all((await readdir(path)).filter((f) => f.endsWith('.yaml')).map(async (f) => ({ path: join(path, f), text: await readFile(join(path, f), 'utf8') })));
  const parsed = parseManifestFiles(files);
  expect(parsed.errors).toEqual([]);
  return buildSnapshot(parsed.resources);
}

describe('meshctl waypoint apply', () => {
  it('writes the Gateway into a file of its own, and with --enroll-namespace creates the labelled Namespace', async () => {
    const { code, stdout, stderr } = await runCli(['waypoint', 'apply', dir, '-n', 'shop', '--for', 'workload', '--enroll-namespace']);
    expect(code).toBe(0);
    expect(stdout).toBe(
      `waypoint shop/waypoint applied (${join(dir, 'waypoint-shop-waypoint.yaml')})\nnamespace shop labeled with "istio.io/use-waypoint: waypoint" (${join(dir, 'namespace-shop.yaml')}, created)\n`,
    );
    expect(stderr).toMatch(/^warning: namespace shop is not enrolled in ambient \(label istio\.io\/dataplane-mode: ambient\): its pods are not captured\n$/);
    const snap = await snapshot();
    expect(snap.gateways.get('shop/waypoint')).toMatchObject({ gatewayClassName: 'istio-waypoint', labels: { 'istio.io/waypoint-for': 'workload' } });
    expect(snap.namespaces.get('shop')?.labels).toEqual({ 'istio.io/use-waypoint': 'waypoint' });
    // The mesh reads it: list shows it.
    expect((await runCli(['waypoint', 'list', dir])).stdout).toMatch(/shop\s+waypoint\s+default\s+workload\s+False/);
  });

  it('replaces the Gateway where it is declared and labels the Namespace in its own file, keeping the other documents and comments', async () => {
    await cp(join(EXAMPLES, 'waypoint'), dir, { recursive: true });
    const before = await readFile(join(dir, 'echo.yaml'), 'utf8');
    const { code, stdout, stderr } = await runCli(['waypoint', 'apply', dir, '-n', 'echo', '--for', 'all', '--enroll-namespace']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toBe(`waypoint echo/waypoint applied (${join(dir, 'echo.yaml')})\nnamespace echo labeled with "istio.io/use-waypoint: waypoint" (${join(dir, 'echo.yaml')})\n`);
    const after = await readFile(join(dir, 'echo.yaml'), 'utf8');
    expect(after).toContain('# The waypoint\'s own pod: labelled with its Gateway, so it is never captured.');
    expect(parseAllDocuments(after)).toHaveLength(parseAllDocuments(before).length);
    expect((await snapshot()).gateways.get('echo/waypoint')?.labels).toEqual({ 'istio.io/waypoint-for': 'all' });
    expect(await readdir(dir)).toEqual(['echo.yaml', 'l7-policy.yaml']);
  });

  it('leaves a namespace enrolled in another waypoint alone unless --overwrite', async () => {
    await writeFile(join(dir, 'ns.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    istio.io/dataplane-mode: ambient\n    istio.io/use-waypoint: other\n');
    const refused = await runCli(['waypoint', 'apply', dir, '-n', 'shop', '--enroll-namespace']);
    expect(refused.code).toBe(0);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toBe(`warning: namespace shop (${join(dir, 'ns.yaml')}) already has an enrolled waypoint (istio.io/use-waypoint: other); add --overwrite to replace it\n`);
    expect(await readdir(dir)).toEqual(['ns.yaml']);
    const done = await runCli(['waypoint', 'apply', dir, '-n', 'shop', '--enroll-namespace', '--overwrite']);
    expect(done.code).toBe(0);
    expect((await snapshot()).namespaces.get('shop')?.labels['istio.io/use-waypoint']).toBe('waypoint');
    // Without --for: no label, as istioctl (the mesh reads service).
    expect((await snapshot()).gateways.get('shop/waypoint')?.labels).toEqual({});
  });

  it('refuses what istioctl refuses, and a directory or Gateway it cannot use, naming the file', async () => {
    expect((await runCli(['waypoint', 'apply', dir, '--name', 'none'])).stderr).toMatch(/'none' is a reserved value/);
    expect((await runCli(['waypoint', 'apply', dir, '--for', 'pods'])).stderr).toMatch(/invalid traffic type: pods.*service, workload, all, none/s);
    expect((await runCli(['waypoint', 'apply', join(dir, 'nope')])).stderr).toMatch(new RegExp(`^error: ${join(dir, 'nope')} is not a directory`));
    await writeFile(join(dir, 'gw.yaml'), 'apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: waypoint, namespace: default }\nspec: { gatewayClassName: other }\n');
    const notWaypoint = await runCli(['waypoint', 'apply', dir]);
    expect(notWaypoint.code).toBe(1);
    expect(notWaypoint.stderr).toMatch(new RegExp(`Gateway default/waypoint in ${join(dir, 'gw.yaml')} has gatewayClassName other, not istio-waypoint`));
  });
});

describe('meshctl waypoint delete', () => {
  it('removes the Gateway document and the enrollment that names it, keeping the rest of the file', async () => {
    await cp(join(EXAMPLES, 'waypoint'), dir, { recursive: true });
    const { code, stdout } = await runCli(['waypoint', 'delete', dir, '-n', 'echo']);
    expect(code).toBe(0);
    expect(stdout).toBe(`waypoint echo/waypoint deleted (${join(dir, 'echo.yaml')})\nnamespace echo: label "istio.io/use-waypoint: waypoint" removed (${join(dir, 'echo.yaml')})\n`);
    const snap = await snapshot();
    expect(snap.gateways.size).toBe(0);
    expect(snap.namespaces.get('echo')?.labels).toEqual({ 'istio.io/dataplane-mode': 'ambient' });
    expect(snap.pods.get('echo/waypoint-0')).toBeDefined();
  });

  it('removes a file left empty; reports names that are not waypoints; --all', async () => {
    await runCli(['waypoint', 'apply', dir, '-n', 'shop', '--enroll-namespace']);
    await runCli(['waypoint', 'apply', dir, '-n', 'shop', '--name', 'second']);
    const missing = await runCli(['waypoint', 'delete', dir, 'nope', '-n', 'shop']);
    expect(missing.stdout).toBe('waypoint shop/nope not found\n');
    const all = await runCli(['waypoint', 'delete', dir, '-n', 'shop', '--all']);
    expect(all.code).toBe(0);
    expect(all.stdout).toBe(
      [
        `waypoint shop/second deleted (${join(dir, 'waypoint-shop-second.yaml')} removed)`,
        `waypoint shop/waypoint deleted (${join(dir, 'waypoint-shop-waypoint.yaml')} removed)`,
        `namespace shop: label "istio.io/use-waypoint: waypoint" removed (${join(dir, 'namespace-shop.yaml')})`,
        '',
      ].join('\n'),
    );
    expect(await readdir(dir)).toEqual(['namespace-shop.yaml']);
    expect(await readFile(join(dir, 'namespace-shop.yaml'), 'utf8')).toBe('apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n');
    expect((await runCli(['waypoint', 'delete', dir, 'x', '-n', 'shop', '--all'])).stderr).toMatch(/cannot specify waypoint names when deleting all/);
  });
});

describe('planWaypointApply / planWaypointDelete (pure)', () => {
  it('apply then delete leaves the files as they were', () => {
    const ns = { path: '/m/ns.yaml', text: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop # the shop\n  labels:\n    istio.io/dataplane-mode: ambient\n' };
    const applied = planWaypointApply([ns], { dir: '/m', namespace: 'shop', name: 'waypoint', trafficType: 'service', enrollNamespace: true, overwrite: false });
    expect(applied.warnings).toEqual([]);
    expect(applied.writes.map((w) => w.path).sort()).toEqual(['/m/ns.yaml', '/m/waypoint-shop-waypoint.yaml']);
    const deleted = planWaypointDelete(applied.writes, { namespace: 'shop', names: ['waypoint'], all: false });
    expect(deleted.removes).toEqual(['/m/waypoint-shop-waypoint.yaml']);
    expect(deleted.writes).toEqual([{ path: '/m/ns.yaml', text: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop # the shop\n  labels:\n    istio.io/dataplane-mode: ambient\n' }]);
  });
});
