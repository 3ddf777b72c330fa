/**
 * Two ztunnels (loopback, explicit mode) under a plugged-in CA as Istio's cacerts gives one: a
 * root whose subject is exactly `O=cluster.local` (Istio's own self-signed root's), and an
 * intermediate under it. Leaves are issued as Istio issues them (empty subject), so OpenSSL never
 * takes one for self-signed, and chains are verified through the intermediate.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createTestCa, type TestCacertsOptions } from '@mesh/pki/testing';
import type { FakeMesh } from '../src/testing/mesh-resources.js';
import { startNamedEchoServer } from '../src/testing/servers.js';
import { ask, startLoopbackNode, testSigner, waitFor, type LoopbackNode } from './helpers.js';

// A random 127.R.0.0/16 per run (R in 100–174, as explicit-mode.test.ts; e2e uses 175–249).
const R = 100 + Math.floor(Math.random() * 75);
const ip = (third: number, fourth: number) => `127.${R}.${third}.${fourth}`;
const APP_PORT = 9080;
const closers: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

const CASES: Array<[string, TestCacertsOptions, number]> = [
  ['a root with subject O=cluster.local', {}, 1],
  ['an intermediate under that root', { intermediate: true }, 2],
];

describe('tunnels between two ztunnels under a plugged-in CA', () => {
  for (const [name, cacerts, subnet] of CASES) {
    it(name, async () => {
      const mesh: FakeMesh = {
        pods: [
          { name: 'sleep', ip: ip(subnet * 10 + 1, 10), node: 'node-a', serviceAccount: 'sleep' },
          { name: 'ratings-v1', ip: ip(subnet * 10 + 2, 13), node: 'node-b', serviceAccount: 'bookinfo-ratings' },
        ],
        services: [{ name: 'ratings', vip: ip(100, subnet), port: APP_PORT, targetPort: APP_PORT, pods: ['ratings-v1'] }],
      };
      const ca = createTestCa({ cacerts });
      const server = await startNamedEchoServer('ratings-v1', ip(subnet * 10 + 2, 13), APP_PORT);
      closers.push(() => server.close());
      const nodes: LoopbackNode[] = [];
      for (const node of ['node-a', 'node-b']) {
        const n = await startLoopbackNode(node, mesh, testSigner(ca));
        closers.push(() => n.ztunnel.destroy());
        nodes.push(n);
      }
      await waitFor(() => nodes.every((n) => n.ztunnel.certs.ready), 20_000);
      expect(await ask(ip(subnet * 10 + 1, 10), nodes[0]!, ip(100, subnet), APP_PORT)).toBe('ratings-v1');
      const [leaf] = nodes[1]!.ztunnel.certs.status();
      expect(leaf?.certChainPem?.split('BEGIN CERTIFICATE').length).toBe(cacerts.intermediate ? 3 : 2);
    });
  }
});
