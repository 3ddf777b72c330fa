/**
 * The source address an inbound policy sees is one the client cannot forge (loopback, explicit
 * mode: pods are 127.x addresses of this host). ztunnel opens its tunnels from the source pod's
 * own address, so the far side authorizes on the connection's peer; a `forwarded: for=` naming
 * another address is refused unless it is a workload of the peer's own identity.
 */
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHboneSecureContext } from '@mesh/hbone-core';
import { createTestCa } from '@mesh/pki/testing';
import type { FakeMesh } from '../src/testing/mesh-resources.js';
import { startNamedEchoServer } from '../src/testing/servers.js';
import { ask, pushMesh, startLoopbackNode, testSigner, waitFor, type LoopbackNode } from './helpers.js';

// A random 127.R.0.0/16 per run (R in 100–174, as explicit-mode.test.ts; e2e uses 175–249).
const R = 100 + Math.floor(Math.random() * 75);
const ip = (third: number, fourth: number) => `127.${R}.${third}.${fourth}`;
const APP_PORT = 9080;
const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';

const MESH: FakeMesh = {
  pods: [
    { name: 'sleep', ip: ip(1, 10), node: 'node-a', serviceAccount: 'sleep' },
    { name: 'sleep-2', ip: ip(1, 13), node: 'node-a', serviceAccount: 'sleep' },
    { name: 'productpage-v1', ip: ip(1, 11), node: 'node-a', serviceAccount: 'bookinfo-productpage' },
    { name: 'ratings-v1', ip: ip(2, 13), node: 'node-b', serviceAccount: 'bookinfo-ratings' },
  ],
  services: [
    { name: 'ratings', vip: ip(100, 13), port: APP_PORT, targetPort: APP_PORT, pods: ['ratings-v1'] },
    { name: 'sleep', vip: ip(100, 10), port: APP_PORT, targetPort: APP_PORT, pods: ['sleep', 'sleep-2'] },
    { name: 'productpage', vip: ip(100, 11), port: APP_PORT, targetPort: APP_PORT, pods: ['productpage-v1'] },
  ],
};
/** `ipBlocks: [<sleep's address>/32]` as istiod-lite renders it for ztunnel (direct_remote_ip). */
const DENY_SLEEP_ADDRESS = {
  action: 'DENY',
  policies: { 'ns[default]-policy[deny-sleep-ip]-rule[0]': { permissions: [{ any: true }], principals: [{ direct_remote_ip: { address_prefix: ip(1, 10), prefix_len: 32 } }] } },
};

const ca = createTestCa();
const nodes: Record<string, LoopbackNode> = {};
const closers: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  for (const pod of MESH.pods) {
    const s = await startNamedEchoServer(pod.name, pod.ip, APP_PORT);
    closers.push(() => s.close());
  }
  for (const name of ['node-a', 'node-b']) {
    const node = await startLoopbackNode(name, MESH, testSigner(ca));
    closers.push(() => node.ztunnel.destroy());
    nodes[name] = node;
  }
  await waitFor(() => nodes['node-a']!.ztunnel.certs.ready && nodes['node-b']!.ztunnel.certs.ready, 20_000);
}, 30_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

/** A peer holding sleep's certificate, connecting to ratings' HBONE port from `from`. */
async function peerSession(from: string): Promise<ClientHttp2Session> {
  const cert = ca.issue(SLEEP);
  const context = createHboneSecureContext({ keyPem: cert.keyPem, certChainPem: cert.chainPem, rootCertPem: ca.rootPem });
  const tcp = netConnect({ host: ip(2, 13), port: 15008, localAddress: from });
  const session = h2connect(`https://${ip(2, 13)}:15008`, {
    createConnection: () => tlsConnect({ socket: tcp, secureContext: context, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined }),
  });
  session.on('error', () => undefined);
  closers.push(() => void session.destroy());
  return session;
}

function connectStatus(session: ClientHttp2Session, forwarded?: string): Promise<{ status: number; reason: string | undefined }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'CONNECT', ':authority': `${ip(2, 13)}:${APP_PORT}`, ...(forwarded ? { forwarded } : {}) }, { endStream: false });
    stream.once('error', reject);
    stream.once('response', (h) => {
      stream.close();
      resolve({ status: Number(h[':status']), reason: h['x-hbone-reason'] as string | undefined });
    });
  });
}

describe('the source address of an inbound tunnel', () => {
  it('is the source pod\'s own address: ztunnel A opens the tunnel from it, and the log says so with Istio\'s for="ip:port"', async () => {
    expect(await ask(ip(1, 10), nodes['node-a']!, ip(100, 13), APP_PORT)).toBe('ratings-v1');
    await waitFor(() => nodes['node-b']!.logger.entries.some((e) => e['scope'] === 'access' && e['direction'] === 'inbound' && String(e['src.addr']).startsWith(`${ip(1, 10)}:`)));
    expect(nodes['node-a']!.ztunnel.pool.connections().map((c) => c.bindAddress)).toContain(ip(1, 10));
  });

  it('a DENY on the real peer\'s address holds, whatever `forwarded` claims', async () => {
    pushMesh(nodes['node-b']!, { ...MESH, rbac: { 'ratings-v1': [DENY_SLEEP_ADDRESS] } });
    try {
      // Through ztunnel A, as the mesh carries it.
      await expect(ask(ip(1, 10), nodes['node-a']!, ip(100, 13), APP_PORT)).rejects.toMatchObject({ reply: 2 });
      expect(await ask(ip(1, 11), nodes['node-a']!, ip(100, 13), APP_PORT)).toBe('ratings-v1');
      // A peer at the denied address: Istio's form of the header (for="ip:port") is read as that address.
      const fromSleep = await peerSession(ip(1, 10));
      expect((await connectStatus(fromSleep, `for="${ip(1, 10)}:4711"`)).status).toBe(401);
      expect((await connectStatus(fromSleep)).status).toBe(401);
    } finally {
      pushMesh(nodes['node-b']!, MESH);
    }
  });

  it('a forged `forwarded` (an address that is not a workload of the peer\'s identity) is refused with 401 and logged', async () => {
    const fromElsewhere = await peerSession(ip(1, 99));
    const forged = await connectStatus(fromElsewhere, `for="${ip(1, 11)}:4711"`);
    expect(forged.status).toBe(401);
    expect(forged.reason).toContain("bookinfo-productpage's");
    const unknown = await connectStatus(fromElsewhere, 'for="10.1.2.3"');
    expect(unknown.status).toBe(401);
    const malformed = await connectStatus(fromElsewhere, `for=${ip(1, 11)}:4711`);
    expect(malformed.status).toBe(400);
    await waitFor(() =>
      nodes['node-b']!.logger.entries.some((e) => e['scope'] === 'access' && String(e['error']).includes(`forwarded for=${ip(1, 11)} is not a workload of ${SLEEP}`)),
    );
  });

  it('`forwarded` naming a workload of the peer\'s own identity is taken (a node that could not bind the pod\'s address)', async () => {
    const fromNode = await peerSession(ip(0, 11));
    expect(await connectStatus(fromNode, `for="${ip(1, 13)}:4711"`)).toMatchObject({ status: 200 });
    await waitFor(() => nodes['node-b']!.logger.entries.some((e) => e['scope'] === 'access' && e['src.addr'] === `${ip(1, 13)}:4711`));
  });
});
