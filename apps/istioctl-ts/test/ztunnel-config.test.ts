import { describe, expect, it } from 'vitest';
import { fixtureJson, fixturePath, istiodRoute, runCli, startJsonServer, tableRows } from './helpers.js';

const nodeA = fixturePath('bookinfo-node-a');

describe('meshctl ztunnel-config', () => {
  it('services: VIP, ports and healthy/total endpoints', async () => {
    const { code, stdout } = await runCli(['zc', 'services', '-f', nodeA]);
    expect(code).toBe(0);
    expect(tableRows(stdout)).toEqual([
      ['NAMESPACE', 'SERVICE NAME', 'SERVICE VIP', 'PORTS', 'WAYPOINT', 'ENDPOINTS'],
      ['default', 'details', '10.77.100.12', '9080', 'None', '1/1'],
      ['default', 'productpage', '10.77.100.10', '9080', 'None', '1/1'],
      ['default', 'ratings', '10.77.100.13', '9080', 'None', '1/1'],
      ['default', 'reviews', '10.77.100.11', '9080', 'None', '3/3'],
      ['default', 'sleep', '10.77.100.14', '80', 'None', '1/1'],
    ]);
  });

  it('workloads from one dump: local pods carry the node, the others are known by their endpoints', async () => {
    const rows = tableRows((await runCli(['zc', 'workloads', '-f', nodeA])).stdout);
    expect(rows[0]).toEqual(['NAMESPACE', 'POD NAME', 'ADDRESS', 'NODE', 'WAYPOINT', 'PROTOCOL']);
    expect(rows).toContainEqual(['default', 'productpage-v1', '10.77.1.11', 'bookinfo-node-a.config_dump.json', 'None', 'HBONE']);
    expect(rows).toContainEqual(['default', 'reviews-v2', '10.77.2.10', '-', 'None', 'HBONE']);
  });

  it('workloads on a live mesh: every pod with its node', async () => {
    const istiod = await startJsonServer(istiodRoute());
    try {
      const { stdout } = await runCli(['--istiod', istiod.address, 'zc', 'workloads', 'ztunnel-node-a', '--node', 'node-b']);
      expect(tableRows(stdout).slice(1).map((r) => `${r[1]} ${r[2]} ${r[3]}`)).toEqual([
        'reviews-v2 10.77.2.10 node-b',
        'reviews-v3 10.77.2.11 node-b',
        'details-v1 10.77.2.12 node-b',
        'ratings-v1 10.77.2.13 node-b',
      ]);
    } finally {
      await istiod.close();
    }
  });

  it('policies: the DENY policy on ratings and the workload it covers', async () => {
    const istiod = await startJsonServer(istiodRoute({}, { 'node-a': 'bookinfo-node-a', 'node-b': 'deny-node-b' }));
    try {
      const { stdout } = await runCli(['--istiod', istiod.address, 'zc', 'policies', 'ztunnel-node-b']);
      expect(tableRows(stdout)).toEqual([
        ['NAMESPACE', 'POLICY NAME', 'ACTION', 'SCOPE'],
        ['default', 'deny-sleep', 'DENY', 'ratings-v1.default'],
      ]);
    } finally {
      await istiod.close();
    }
  });

  it('all: every view, and -o json keyed by view', async () => {
    const { stdout } = await runCli(['zc', 'all', '-f', fixturePath('allow-node-a')]);
    for (const title of ['WORKLOADS', 'SERVICES', 'POLICIES', 'CERTIFICATES']) expect(stdout).toMatch(new RegExp(`^${title}$`, 'm'));
    expect(stdout).not.toMatch(/^CONNECTIONS$/m);
    const json = JSON.parse((await runCli(['zc', 'all', '-f', fixturePath('allow-node-a'), '-o', 'json'])).stdout) as Record<string, unknown[]>;
    expect(json['policies']).toEqual([{ namespace: 'default', name: 'reviews-from-productpage', action: 'ALLOW', scope: 'reviews-v1.default' }]);
  });

  it('connections from a file is refused: it is live state', async () => {
    const { code, stderr } = await runCli(['zc', 'connections', '-f', nodeA]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/connections are live state.*--admin <host:port>/);
  });

  it('services: a Service whose endpoints tunnel elsewhere shows that waypoint', async () => {
    const json = JSON.stringify(fixtureJson('bookinfo-node-a')).replaceAll('"address":"10.77.2.10:15008"', '"address":"10.77.1.50:15008"');
    const rows = tableRows((await runCli(['zc', 'services', '-f', 'dump.json'], { readInput: async () => json })).stdout);
    expect(rows.find((r) => r[1] === 'reviews')?.[4]).toBe('10.77.1.50:15008');
    expect(rows.find((r) => r[1] === 'details')?.[4]).toBe('None');
  });
});
