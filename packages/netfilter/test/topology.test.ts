import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCommandRunner, createTopology, destroyTopology, listNamespaces, type Topology } from '@mesh/netfilter';
import { echoClient, isRoot, startEchoServer, uniquePrefix } from './helpers.js';

const prefix = uniquePrefix('t');

function listAll(): string {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
}

describe.skipIf(!isRoot)('topology in real network namespaces (root)', () => {
  let topology: Topology;
  const servers: ChildProcess[] = [];

  beforeAll(async () => {
    topology = await createTopology({
      prefix,
      nodes: [
        { name: 'node-a', address: '172.30.0.11' },
        { name: 'node-b', address: '172.30.0.12' },
      ],
      pods: [
        { name: 'sleep', namespace: 'default', node: 'node-a', ip: '10.71.1.2' },
        { name: 'other', namespace: 'default', node: 'node-a', ip: '10.71.1.3' },
        { name: 'productpage', namespace: 'bookinfo', node: 'node-b', ip: '10.71.2.2' },
      ],
    });
    servers.push(await startEchoServer(topology, topology.pod('productpage', 'bookinfo').netns, 'productpage', 9080));
    servers.push(await startEchoServer(topology, topology.pod('other').netns, 'other', 9080));
  });
  afterAll(async () => {
    for (const server of servers) server.kill();
    await destroyTopology(prefix);
  });

  it('creates one namespace per node and pod plus the underlay, all under the prefix', async () => {
    expect((await listNamespaces(prefix)).sort()).toEqual(
      [`${prefix}n-node-a`, `${prefix}n-node-b`, `${prefix}p-bookinfo-productpage`, `${prefix}p-default-other`, `${prefix}p-default-sleep`, `${prefix}ul`].sort(),
    );
  });

  it('gives a pod eth0 with its IP and a default route via the node', async () => {
    const sleep = topology.pod('sleep');
    expect((await topology.exec(sleep.netns, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout).toContain('10.71.1.2/32');
    expect((await topology.exec(sleep.netns, ['ip', 'route', 'show', 'default'])).stdout).toContain('default via 169.254.1.1 dev eth0');
  });

  it('carries TCP from a pod on node A to a pod on node B unchanged (no NAT)', async () => {
    const answer = await echoClient(topology, topology.pod('sleep').netns, '10.71.2.2', 9080, 'cross-node');
    expect(answer).toBe('productpage peer=10.71.1.2 local=10.71.2.2:9080 data=cross-node');
  });

  it('carries TCP between two pods on the same node', async () => {
    const answer = await echoClient(topology, topology.pod('sleep').netns, '10.71.1.3', 9080, 'same-node');
    expect(answer).toBe('other peer=10.71.1.2 local=10.71.1.3:9080 data=same-node');
  });

  it('adds a pod to the running topology, reachable from the other node at once, and removes it cleanly', async () => {
    const ratings = await topology.addPod({ name: 'ratings', namespace: 'bookinfo', node: 'node-b', ip: '10.71.2.3' });
    expect(ratings.netns).toBe(`${prefix}p-bookinfo-ratings`);
    const server = await startEchoServer(topology, ratings.netns, 'ratings', 9080);
    const exited = new Promise((resolve) => server.once('exit', resolve));
    expect(await echoClient(topology, topology.pod('sleep').netns, '10.71.2.3', 9080, 'new-pod')).toBe(
      'ratings peer=10.71.1.2 local=10.71.2.3:9080 data=new-pod',
    );
    await expect(topology.addPod({ name: 'ratings', namespace: 'bookinfo', node: 'node-b', ip: '10.71.2.9' })).rejects.toThrow(/exists already/);
    await expect(topology.addPod({ name: 'dup', node: 'node-a', ip: '10.71.2.3' })).rejects.toThrow(/used twice/);

    await topology.removePod('ratings', 'bookinfo');
    await exited;
    expect(await listNamespaces(prefix)).not.toContain(ratings.netns);
    expect((await topology.exec(topology.node('node-a').netns, ['ip', 'route'])).stdout).not.toContain('10.71.2.3');
    expect(topology.pods.map((p) => p.name)).not.toContain('ratings');
  });

  it('lets a node reach its own pods from its node address', async () => {
    const answer = await echoClient(topology, topology.node('node-b').netns, '10.71.2.2', 9080, 'from-node');
    expect(answer).toBe('productpage peer=172.30.0.12 local=10.71.2.2:9080 data=from-node');
  });
});

describe.skipIf(!isRoot)('topology cleanup (root)', () => {
  it('destroy removes every namespace with the prefix, kills processes inside, and is idempotent', async () => {
    const crashPrefix = uniquePrefix('c');
    try {
      const topology = await createTopology({
        prefix: crashPrefix,
        underlayCidr: '172.31.0.0/24',
        nodes: [{ name: 'n1', address: '172.31.0.5' }],
        pods: [{ name: 'p1', node: 'n1', ip: '10.72.0.2' }],
      });
      const sleeper = topology.spawn(topology.pod('p1').netns, 'sleep', ['600'], { stdio: 'ignore' });
      const exited = new Promise((resolve) => sleeper.once('exit', resolve));
      // As after a crash: a new call that knows only the prefix.
      await destroyTopology(crashPrefix);
      await exited;
      expect(listAll()).not.toContain(crashPrefix);
      await destroyTopology(crashPrefix);
    } finally {
      await destroyTopology(crashPrefix);
    }
  });

  it('a failure half-way through creation leaves nothing behind', async () => {
    const failPrefix = uniquePrefix('f');
    const real = createCommandRunner();
    const failing = {
      run: async (command: Parameters<typeof real.run>[0]) =>
        command.argv.includes('v1') ? { stdout: '', stderr: 'injected failure', exitCode: 1 } : real.run(command),
    };
    try {
      await expect(
        createTopology(
          {
            prefix: failPrefix,
            nodes: [{ name: 'n1', address: '172.31.1.5' }],
            pods: [
              { name: 'p1', node: 'n1', ip: '10.73.0.2' },
              { name: 'p2', node: 'n1', ip: '10.73.0.3' },
            ],
          },
          failing,
        ),
      ).rejects.toThrow(/injected failure/);
      expect(listAll()).not.toContain(failPrefix);
    } finally {
      await destroyTopology(failPrefix);
    }
  });

  it('refuses a prefix so short it could match namespaces it does not own', async () => {
    await expect(destroyTopology('m')).rejects.toThrow(/too short/);
  });
});
