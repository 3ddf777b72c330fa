/**
 * The data path on loopback, in explicit mode: two in-process ztunnels (node-a, node-b) fed with
 * Envoy-shaped resources (docs/model.md), pods as per-pod 127.x addresses, clients through SOCKS5, servers that
 * answer with their pod name. Covers the L4 path of docs/walkthrough.md end to end: outbound chain →
 * EDS → internal tunnel listener → HBONE (mTLS + HTTP/2 CONNECT) → inbound chain → RBAC → pod.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { TYPE_URL } from '@mesh/xds';
import { createTestCa } from '@mesh/pki/testing';
import type { FakeMesh } from '../src/testing/mesh-resources.js';
import { socks5Connect, Socks5Error } from '../src/testing/socks5-client.js';
import { startNamedEchoServer } from '../src/testing/servers.js';
import { ask as askVia, nextEvent, pushMesh, readLine, startLoopbackNode, testSigner, waitFor, type LoopbackNode } from './helpers.js';

// A random 127.R.0.0/16 per run (R in 100–174; e2e uses 175–249), so parallel suites never share an address.
const R = 100 + Math.floor(Math.random() * 75);
const ip = (third: number, fourth: number) => `127.${R}.${third}.${fourth}`;
const APP_PORT = 9080;
const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const PRODUCTPAGE = 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage';

const MESH: FakeMesh = {
  pods: [
    { name: 'sleep', ip: ip(1, 10), node: 'node-a', serviceAccount: 'sleep' },
    { name: 'productpage-v1', ip: ip(1, 11), node: 'node-a', serviceAccount: 'bookinfo-productpage' },
    { name: 'reviews-v1', ip: ip(1, 12), node: 'node-a', serviceAccount: 'bookinfo-reviews' },
    { name: 'reviews-v2', ip: ip(2, 10), node: 'node-b', serviceAccount: 'bookinfo-reviews' },
    { name: 'reviews-v3', ip: ip(2, 11), node: 'node-b', serviceAccount: 'bookinfo-reviews' },
    { name: 'details-v1', ip: ip(2, 12), node: 'node-b', serviceAccount: 'bookinfo-details' },
    { name: 'ratings-v1', ip: ip(2, 13), node: 'node-b', serviceAccount: 'bookinfo-ratings' },
  ],
  services: [
    { name: 'reviews', vip: ip(100, 11), port: APP_PORT, targetPort: APP_PORT, protocol: 'http', pods: ['reviews-v1', 'reviews-v2', 'reviews-v3'] },
    { name: 'details', vip: ip(100, 12), port: APP_PORT, targetPort: APP_PORT, pods: ['details-v1'] },
    { name: 'ratings', vip: ip(100, 13), port: APP_PORT, targetPort: APP_PORT, pods: ['ratings-v1'] },
  ],
};
const DENY_SLEEP = {
  action: 'DENY',
  policies: { 'ns[default]-policy[deny-sleep]-rule[0]': { permissions: [{ any: true }], principals: [{ authenticated: { principal_name: { exact: SLEEP } } }] } },
};
const ALLOW_PRODUCTPAGE = {
  action: 'ALLOW',
  policies: { 'ns[default]-policy[reviews-from-productpage]-rule[0]': { permissions: [{ destination_port: APP_PORT }], principals: [{ authenticated: { principal_name: { exact: PRODUCTPAGE } } }] } },
};

const ca = createTestCa();
const sign = testSigner(ca);
const nodes: Record<string, LoopbackNode> = {};
const closers: Array<() => Promise<void> | void> = [];
const push = pushMesh;
/** Pushes `mesh` to a node for the rest of the current test; the plain mesh is pushed back when it ends. */
function pushForTest(node: LoopbackNode, mesh: FakeMesh): void {
  onTestFinished(() => push(node, MESH));
  push(node, mesh);
}
/** The first access log line of a node (present or to come) that satisfies `predicate`. */
const accessLog = (node: LoopbackNode, predicate: (e: Record<string, unknown>) => boolean) =>
  waitFor(() => node.logger.entries.find((e) => e['scope'] === 'access' && predicate(e)), { what: `an access log line on ${node.name}`, lastSeen: () => node.logger.entries.slice(-5) });
const ask = (from: string, node: LoopbackNode, host: string, port = APP_PORT) => askVia(from, node, host, port);

async function startNode(name: string): Promise<LoopbackNode> {
  const node = await startLoopbackNode(name, MESH, sign);
  closers.push(() => node.ztunnel.destroy());
  return node;
}

beforeAll(async () => {
  for (const pod of MESH.pods) {
    const s = await startNamedEchoServer(pod.name, pod.ip, APP_PORT);
    closers.push(() => s.close());
  }
  nodes['a'] = await startNode('node-a');
  nodes['b'] = await startNode('node-b');
  await waitFor(() => nodes['a']!.ztunnel.certs.ready && nodes['b']!.ztunnel.certs.ready, 30_000, 'certificates on both nodes');
}, 45_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

describe('explicit mode (SOCKS5) data path on loopback', () => {
  it('reaches a pod on the other node through its Service VIP', async () => {
    expect(await ask(ip(1, 10), nodes['a']!, ip(100, 13))).toBe('ratings-v1');
    const access = await accessLog(nodes['b']!, (e) => e['direction'] === 'inbound' && e['src.identity'] === SLEEP);
    expect(access).toMatchObject({
      'dst.addr': `${ip(2, 13)}:${APP_PORT}`,
      'dst.identity': 'spiffe://cluster.local/ns/default/sa/bookinfo-ratings',
      'dst.workload': 'ratings-v1',
      protocol: 'HBONE',
    });
    const outbound = await accessLog(nodes['a']!, (e) => e['direction'] === 'outbound' && e['dst.workload'] === 'ratings-v1');
    expect(outbound).toMatchObject({ 'dst.service': 'ratings.default.svc.cluster.local' });
  });

  it('spreads a Service over its three endpoints, same node and cross node', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) seen.add(await ask(ip(1, 11), nodes['a']!, ip(100, 11)));
    expect(seen).toEqual(new Set(['reviews-v1', 'reviews-v2', 'reviews-v3']));
  });

  it('resolves a service name given to SOCKS5 to its VIP from the config', async () => {
    expect(await ask(ip(1, 10), nodes['a']!, 'ratings.default.svc.cluster.local')).toBe('ratings-v1');
    expect(await ask(ip(1, 10), nodes['a']!, 'ratings')).toBe('ratings-v1');
  });

  it('reaches a pod by its IP directly', async () => {
    expect(await ask(ip(1, 10), nodes['a']!, ip(2, 12))).toBe('details-v1');
  });

  it('echoes bytes both ways and logs both ends with byte counts', async () => {
    const socket = await socks5Connect({ proxy: nodes['a']!.socks, localAddress: ip(1, 10), host: ip(100, 12), port: APP_PORT });
    expect(await readLine(socket)).toBe('details-v1');
    const payload = Buffer.alloc(256 * 1024, 7);
    const received: Buffer[] = [];
    socket.on('data', (c: Buffer) => received.push(c));
    socket.resume();
    socket.end(payload);
    await nextEvent(socket, 'end');
    expect(Buffer.concat(received).equals(payload)).toBe(true);
    socket.destroy();
    const out = await accessLog(nodes['a']!, (e) => e['direction'] === 'outbound' && e['dst.service'] === 'details.default.svc.cluster.local' && e['bytes_sent'] === payload.length);
    expect(out).toMatchObject({ 'src.identity': SLEEP, 'dst.addr': `${ip(2, 12)}:${APP_PORT}`, 'dst.hbone_addr': `${ip(2, 12)}:15008`, bytes_recv: payload.length + 'details-v1\n'.length });
    expect(nodes['a']!.ztunnel.metrics.get('istio_tcp_received_bytes_total', { reporter: 'source', destination_service: 'details.default.svc.cluster.local' })).toBeGreaterThanOrEqual(payload.length);
  });

  it('answers 503 when the destination pod refuses, and the client sees connection refused', async () => {
    // Nothing listens on this port of details-v1: ztunnel B cannot connect, so the tunnel is refused.
    await expect(ask(ip(1, 10), nodes['a']!, ip(2, 12), 9999)).rejects.toMatchObject({ reply: 5 });
    await accessLog(nodes['b']!, (e) => e['dst.addr'] === `${ip(2, 12)}:9999` && String(e['error']).includes('refused'));
  });

  it('passes a destination outside the mesh through as plain TCP', async () => {
    const outside = await startNamedEchoServer('outside', ip(50, 1));
    closers.push(() => outside.close());
    expect(await ask(ip(1, 10), nodes['a']!, ip(50, 1), outside.port)).toBe('outside');
  });

  it('refuses a connection a DENY policy covers, and the log names the policy', async () => {
    pushForTest(nodes['b']!, { ...MESH, rbac: { 'ratings-v1': [DENY_SLEEP] } });
    await expect(ask(ip(1, 10), nodes['a']!, ip(100, 13))).rejects.toBeInstanceOf(Socks5Error);
    const denied = await accessLog(nodes['b']!, (e) => e['policy'] === 'ns[default]-policy[deny-sleep]-rule[0]');
    expect(denied).toMatchObject({ scope: 'access', direction: 'inbound', 'src.identity': SLEEP });
    // Others still get through.
    expect(await ask(ip(1, 11), nodes['a']!, ip(100, 13))).toBe('ratings-v1');
  });

  it('ALLOW by principal admits only that principal', async () => {
    pushForTest(nodes['a']!, { ...MESH, rbac: { 'reviews-v1': [ALLOW_PRODUCTPAGE] } });
    expect(await ask(ip(1, 11), nodes['a']!, ip(1, 12))).toBe('reviews-v1');
    await expect(ask(ip(1, 10), nodes['a']!, ip(1, 12))).rejects.toMatchObject({ reply: 2 });
  });

  it('closes a live connection once a new policy denies it', async () => {
    const socket = await socks5Connect({ proxy: nodes['a']!.socks, localAddress: ip(1, 10), host: ip(100, 13), port: APP_PORT });
    onTestFinished(() => void socket.destroy());
    expect(await readLine(socket)).toBe('ratings-v1');
    const errors: Error[] = [];
    socket.on('error', (err) => errors.push(err));
    socket.resume();
    let closed = false;
    socket.once('close', () => (closed = true));
    pushForTest(nodes['b']!, { ...MESH, rbac: { 'ratings-v1': [DENY_SLEEP] } });
    await waitFor(() => closed, { what: 'the live connection closed' });
    // A reset, not a clean end: the client must not mistake it for a complete exchange.
    expect(errors.map((e) => (e as { code?: string }).code)).toContain('ECONNRESET');
    await accessLog(nodes['b']!, (e) => typeof e['error'] === 'string' && e['error'].includes('policy change') && e['policy'] === 'ns[default]-policy[deny-sleep]-rule[0]');
  });

  it('keeps the last good config when an update is refused (NACK)', async () => {
    const reason = nodes['a']!.ztunnel.store.apply(TYPE_URL.CLUSTER, 'bad', [{ '@type': TYPE_URL.CLUSTER, name: 'x', type: 'LOGICAL_DNS' }]);
    expect(reason).toMatch(/cluster type LOGICAL_DNS is not supported/);
    expect(await ask(ip(1, 10), nodes['a']!, ip(100, 13))).toBe('ratings-v1');
  });
});
