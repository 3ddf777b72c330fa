/**
 * ztunnel's DNS proxy through the composition root (explicit mode, loopback): a Ztunnel with the
 * bookinfo config pushed into its store answers a query sent to its DNS port over real UDP,
 * counts it in its metrics, logs a `dns` line, and follows a config push; `dnsProxy: false`
 * leaves the port closed. (TCP, forwarding and hostile input: src/dns/server.test.ts.)
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Ztunnel } from '../src/ztunnel.js';
import { BOOKINFO } from '../src/testing/bookinfo.js';
import { encodeQuery, readAnswers, RecordType } from '../src/dns/wire.js';
import { pushMesh, startLoopbackNode, type LoopbackNode } from './helpers.js';

/** A port free for both UDP and TCP on 127.0.0.1 right now. */
async function freePort(): Promise<number> {
  for (;;) {
    const tcp = createServer();
    const port = await new Promise<number>((resolve) => tcp.listen(0, '127.0.0.1', () => resolve((tcp.address() as { port: number }).port)));
    const udp = createSocket('udp4');
    const free = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    udp.close();
    await new Promise((resolve) => tcp.close(resolve));
    if (free) return port;
  }
}

function udpQuery(port: number, message: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('no DNS answer within 3 s'));
    }, 3000);
    socket.on('message', (msg) => {
      clearTimeout(timer);
      socket.close();
      resolve(msg);
    });
    socket.send(message, port, '127.0.0.1');
  });
}

const started: Ztunnel[] = [];
afterEach(() => {
  for (const z of started.splice(0)) z.destroy();
});

async function startZtunnel(dnsProxy: boolean, dnsPort: number): Promise<LoopbackNode> {
  const node = await startLoopbackNode('node-a', BOOKINFO, () => Promise.reject(new Error('no CA in this test')), { dnsProxy, dnsPort, dnsUpstream: [] });
  started.push(node.ztunnel);
  return node;
}

describe('ztunnel DNS proxy (explicit mode, loopback)', () => {
  it('answers a Service name sent to its DNS port over real UDP, from the config it holds', async () => {
    const port = await freePort();
    const node = await startZtunnel(true, port);
    const { ztunnel, logger } = node;
    const read = readAnswers(await udpQuery(port, encodeQuery(321, 'reviews.default', RecordType.A)));
    expect(read?.header).toMatchObject({ id: 321, qr: true, aa: true, rcode: 0 });
    expect(read?.answers).toEqual([{ name: 'reviews.default', type: RecordType.A, ttl: 30, data: '10.77.100.11' }]);
    expect(ztunnel.dnsMetrics.render()).toMatch(/^istio_dns_requests_total\{request_query_type="a",request_protocol="udp",source_canonical_service="unknown",source_canonical_revision="unknown"\} 1$/m);
    expect(logger.entries.find((e) => e['scope'] === 'dns' && e['msg'] === 'dns request')).toMatchObject({ domain: 'reviews.default.', result: 'success', 'src.workload': 'unknown' });
    // A config push changes the answers: the next query sees the new VIP.
    pushMesh(node, { ...BOOKINFO, services: BOOKINFO.services.map((s) => (s.name === 'reviews' ? { ...s, vip: '10.77.100.99' } : s)) });
    expect(readAnswers(await udpQuery(port, encodeQuery(322, 'reviews.default.svc.cluster.local', RecordType.A)))?.answers[0]?.data).toBe('10.77.100.99');
  });

  it('leaves the port closed with dnsProxy false', async () => {
    const port = await freePort();
    await startZtunnel(false, port);
    await expect(udpQuery(port, encodeQuery(1, 'reviews.default', RecordType.A))).rejects.toThrow(/no DNS answer/);
  });
});
