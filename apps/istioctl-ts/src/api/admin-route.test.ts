import { describe, expect, it } from 'vitest';
import { planAdminRoute, type HostFacts } from './admin-route.js';

const HERE = 'net:[4026531840]';
const NODE_A = 'net:[4026532201]';
const facts = (over: Partial<{ own: string; sockets: string[]; visible: Record<string, string>; root: boolean }> = {}): HostFacts => ({
  ownNetns: () => over.own ?? HERE,
  socketUsable: (path) => (over.sockets ?? []).includes(path),
  findNetns: (id) => over.visible?.[id],
  canEnterNetns: () => over.root ?? false,
});

describe('planAdminRoute: from an advertised admin endpoint to a route from here', () => {
  it.each([
    {
      name: 'the Unix socket first, when this process may open it',
      endpoint: { address: '127.0.0.1:15000', netns: NODE_A, socket: '/run/mesh/ztunnel-node-a.sock' },
      facts: facts({ sockets: ['/run/mesh/ztunnel-node-a.sock'], root: true, visible: { [NODE_A]: '/run/netns/mdev-n-node-a' } }),
      expected: { ok: true, address: 'unix:/run/mesh/ztunnel-node-a.sock', via: 'socket' },
    },
    {
      name: 'the address itself from the same namespace (explicit mode, docker run --network container:…)',
      endpoint: { address: '127.77.0.11:15000', netns: HERE },
      facts: facts(),
      expected: { ok: true, address: '127.77.0.11:15000', via: 'address' },
    },
    {
      name: 'an address without a namespace (an older proxy) as it is',
      endpoint: { address: '10.77.0.11:15000' },
      facts: facts(),
      expected: { ok: true, address: '10.77.0.11:15000', via: 'address' },
    },
    {
      name: 'entering the namespace as root when it is on this machine',
      endpoint: { address: '127.0.0.1:15000', netns: NODE_A, socket: '/run/mesh/ztunnel-node-a.sock' },
      facts: facts({ root: true, visible: { [NODE_A]: '/run/netns/mdev-n-node-a' } }),
      expected: { ok: true, address: 'netns:/run/netns/mdev-n-node-a/127.0.0.1:15000', via: 'netns' },
    },
  ])('$name', ({ endpoint, facts: f, expected }) => {
    expect(planAdminRoute(endpoint, f, 'ztunnel-node-a')).toEqual(expected);
  });

  it('never takes a loopback address of another namespace as its own: no route, and why', () => {
    const plan = planAdminRoute({ address: '127.0.0.1:15000', netns: NODE_A, socket: '/run/mesh/ztunnel-node-a.sock' }, facts(), 'ztunnel-node-a');
    expect(plan).toMatchObject({ ok: false, problem: `ztunnel-node-a's admin API listens on 127.0.0.1:15000 inside network namespace ${NODE_A}, which meshctl may not enter (not root, or @mesh/netfilter not built)` });
    expect(!plan.ok && plan.hint).toMatch(/owner of \/run\/mesh\/ztunnel-node-a\.sock.*as root on the node.*--network container:.*--admin/);
  });

  it('a namespace root cannot see is on another machine', () => {
    const plan = planAdminRoute({ address: '127.0.0.1:15000', netns: NODE_A }, facts({ root: true }), 'ztunnel-node-b');
    expect(plan).toMatchObject({ ok: false, problem: expect.stringContaining('which is not on this machine') });
  });
});
