/**
 * Certificate renewal without dropping connections: workload certificates live 4 s here, so both
 * ztunnels renew every ~1.5 s. A tunnel opened before the renewals keeps exchanging bytes after
 * them, and new tunnels keep coming up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa } from '@mesh/pki/testing';
import type { FakeMesh } from '../src/testing/mesh-resources.js';
import { socks5Connect } from '../src/testing/socks5-client.js';
import { startNamedEchoServer } from '../src/testing/servers.js';
import { ask, readLine, startLoopbackNode, testSigner, waitFor, type LoopbackNode } from './helpers.js';

// 127.50–99.x.x: apart from explicit-mode.test.ts and the e2e suites.
const R = 50 + Math.floor(Math.random() * 50);
const ip = (c: number, d: number) => `127.${R}.${c}.${d}`;
const MESH: FakeMesh = {
  pods: [
    { name: 'client', ip: ip(1, 10), node: 'node-a', serviceAccount: 'client' },
    { name: 'server', ip: ip(2, 10), node: 'node-b', serviceAccount: 'server' },
  ],
  services: [{ name: 'server', vip: ip(100, 1), port: 9080, targetPort: 9080, pods: ['server'] }],
};
const CERT_TTL_MS = 4_000;

const closers: Array<() => unknown> = [];
let a: LoopbackNode;
let b: LoopbackNode;

beforeAll(async () => {
  const sign = testSigner(createTestCa(), CERT_TTL_MS);
  const server = await startNamedEchoServer('server', ip(2, 10), 9080);
  closers.push(() => server.close());
  a = await startLoopbackNode('node-a', MESH, sign);
  b = await startLoopbackNode('node-b', MESH, sign);
  closers.push(() => a.ztunnel.destroy(), () => b.ztunnel.destroy());
  await waitFor(() => a.ztunnel.certs.ready && b.ztunnel.certs.ready, 30_000, 'certificates on both nodes');
}, 45_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

describe('certificate renewal', () => {
  it('keeps live tunnels open across renewals, and new tunnels work', async () => {
    const socket = await socks5Connect({ proxy: a.socks, localAddress: ip(1, 10), host: ip(100, 1), port: 9080 });
    expect(await readLine(socket)).toBe('server');
    const serials = () => [...a.ztunnel.certs.status(), ...b.ztunnel.certs.status()].map((s) => s.serialNumber);
    const serialsBefore = serials();
    // Past at least one renewal on each side (renewal at half of the 4 s lifetime).
    await waitFor(() => serials().every((s, i) => s !== serialsBefore[i]), { what: 'every certificate renewed', lastSeen: () => ({ before: serialsBefore, now: serials() }) });
    // The old tunnel still carries bytes both ways.
    socket.resume();
    const echoed = new Promise<string>((resolve) => socket.once('data', (c: Buffer) => resolve(c.toString())));
    socket.write('still here');
    expect(await echoed).toBe('still here');
    socket.destroy();
    // New tunnels keep working after the renewals (new HBONE connections take the new
    // credentials object: cert-manager.test.ts).
    expect(await ask(ip(1, 10), a, ip(100, 1), 9080)).toBe('server');
  }, 45_000);
});
