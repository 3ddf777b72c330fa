import type { ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyCapturePlan,
  createTcpSocket,
  createTopology,
  destroyTopology,
  DEFAULT_CAPTURE_PORTS,
  getMark,
  isTransparent,
  listenTransparent,
  planNodeCapture,
  setMark,
  TPROXY_LISTEN_ADDRESS,
  type Topology,
} from '@mesh/netfilter';
import { echoClient, isRoot, startEchoServer, uniquePrefix } from './helpers.js';

const prefix = uniquePrefix('p');
const VIP = '10.96.0.10';
const APP_PORT = 9080;

interface Accepted {
  readonly node: string;
  readonly listener: string;
  readonly local: string;
  readonly remote: string;
}

/**
 * A mini ztunnel, just enough to exercise every capture rule: 15001 forwards to the original
 * destination's :15008 with a one-line "CONNECT ip:port" header (HBONE stand-in); 15008 reads
 * that header and connects to the target from the node; 15006 answers with what it saw. Its
 * upstream sockets are created in the node namespace, like a ztunnel running on the node.
 */
function startMiniZtunnel(topology: Topology, nodeName: string, accepted: Accepted[]): Promise<Server[]> {
  const netns = topology.node(nodeName).netns;
  const record = (listener: string, socket: Socket) =>
    accepted.push({ node: nodeName, listener, local: `${socket.localAddress}:${socket.localPort}`, remote: socket.remoteAddress ?? '' });
  const upstream = (host: string, port: number) => createTcpSocket({ netns }).connect(port, host);

  const outbound = createServer((socket) => {
    record('outbound', socket);
    const tunnel = upstream(socket.localAddress ?? '', DEFAULT_CAPTURE_PORTS.inbound);
    tunnel.write(`CONNECT ${socket.localAddress}:${socket.localPort}\n`);
    socket.pipe(tunnel).pipe(socket);
    tunnel.on('error', () => socket.destroy());
    socket.on('error', () => tunnel.destroy());
  });
  const inbound = createServer((socket) => {
    record('inbound', socket);
    let header = '';
    const onData = (chunk: Buffer) => {
      header += chunk.toString('latin1');
      const end = header.indexOf('\n');
      if (end < 0) return;
      socket.off('data', onData);
      const [host, port] = header.slice('CONNECT '.length, end).split(':');
      const target = upstream(host ?? '', Number(port));
      const rest = Buffer.from(header.slice(end + 1), 'latin1');
      if (rest.length > 0) target.write(rest);
      socket.pipe(target).pipe(socket);
      target.on('error', () => socket.destroy());
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
  });
  const plaintext = createServer((socket) => {
    record('inbound-plaintext', socket);
    socket.end(`plaintext-inbound local=${socket.localAddress}:${socket.localPort} peer=${socket.remoteAddress}\n`);
  });
  const servers: Array<[Server, number]> = [
    [outbound, DEFAULT_CAPTURE_PORTS.outbound],
    [inbound, DEFAULT_CAPTURE_PORTS.inbound],
    [plaintext, DEFAULT_CAPTURE_PORTS.inboundPlaintext],
  ];
  return Promise.all(
    servers.map(async ([server, port]) => {
      await listenTransparent(server, { host: TPROXY_LISTEN_ADDRESS, port, netns });
      return server;
    }),
  );
}

describe.skipIf(!isRoot)('TPROXY capture to transparent listeners (root)', () => {
  let topology: Topology;
  const accepted: Accepted[] = [];
  const servers: Server[] = [];
  const workloads: ChildProcess[] = [];

  beforeAll(async () => {
    topology = await createTopology({
      prefix,
      nodes: [
        { name: 'node-a', address: '172.30.0.21' },
        { name: 'node-b', address: '172.30.0.22' },
      ],
      pods: [
        { name: 'sleep', node: 'node-a', ip: '10.74.1.2' },
        { name: 'legacy', node: 'node-a', ip: '10.74.1.3' },
        { name: 'reviews', node: 'node-a', ip: '10.74.1.4' },
        { name: 'productpage', node: 'node-b', ip: '10.74.2.2' },
      ],
    });
    // `legacy` is not captured: it shows what uncaptured traffic and STRICT-less inbound look like.
    await applyCapturePlan(planNodeCapture({ capturedPodIps: ['10.74.1.2', '10.74.1.4'] }), { netns: topology.node('node-a').netns });
    await applyCapturePlan(planNodeCapture({ capturedPodIps: ['10.74.2.2'] }), { netns: topology.node('node-b').netns });
    servers.push(...(await startMiniZtunnel(topology, 'node-a', accepted)), ...(await startMiniZtunnel(topology, 'node-b', accepted)));
    workloads.push(
      await startEchoServer(topology, topology.pod('productpage').netns, 'productpage', APP_PORT),
      await startEchoServer(topology, topology.pod('reviews').netns, 'reviews', APP_PORT),
      await startEchoServer(topology, topology.pod('legacy').netns, 'legacy', APP_PORT),
    );
  });
  afterAll(async () => {
    for (const server of servers) server.close();
    for (const workload of workloads) workload.kill();
    await destroyTopology(prefix);
  });

  it('listens transparently on loopback inside the node namespace', () => {
    for (const server of servers) {
      expect(server.address()).toMatchObject({ address: '127.0.0.1' });
      expect(isTransparent(server)).toBe(true);
    }
  });

  it('captures a captured pod dialling a VIP nobody owns; localAddress:localPort is the original destination', async () => {
    accepted.length = 0;
    // Nothing answers on 10.96.0.10:15008 behind node A's 15001, so the client sees the tunnel fail:
    // what matters is what the outbound listener accepted.
    await echoClient(topology, topology.pod('sleep').netns, VIP, APP_PORT, 'to-vip').catch(() => '');
    expect(accepted[0]).toEqual({ node: 'node-a', listener: 'outbound', local: `${VIP}:${APP_PORT}`, remote: '10.74.1.2' });
  });

  it('cross-node: 15001 on node A → HBONE port on node B (captured to 15008) → pod, bytes intact', async () => {
    accepted.length = 0;
    const answer = await echoClient(topology, topology.pod('sleep').netns, '10.74.2.2', APP_PORT, 'through-the-mesh');
    // The pod sees node B (ztunnel B's upstream connection), not the client: no spoofing here.
    expect(answer).toBe('productpage peer=172.30.0.22 local=10.74.2.2:9080 data=through-the-mesh');
    expect(accepted).toEqual([
      { node: 'node-a', listener: 'outbound', local: '10.74.2.2:9080', remote: '10.74.1.2' },
      { node: 'node-b', listener: 'inbound', local: '10.74.2.2:15008', remote: '172.30.0.21' },
    ]);
  });

  it('same-node: ztunnel\'s own HBONE to a local captured pod is rerouted to its 15008, not sent to the pod', async () => {
    accepted.length = 0;
    const answer = await echoClient(topology, topology.pod('sleep').netns, '10.74.1.4', APP_PORT, 'same-node');
    expect(answer).toBe('reviews peer=172.30.0.21 local=10.74.1.4:9080 data=same-node');
    expect(accepted).toEqual([
      { node: 'node-a', listener: 'outbound', local: '10.74.1.4:9080', remote: '10.74.1.2' },
      { node: 'node-a', listener: 'inbound', local: '10.74.1.4:15008', remote: '172.30.0.21' },
    ]);
  });

  it('plaintext from an uncaptured pod to a captured pod is captured to 15006', async () => {
    accepted.length = 0;
    const answer = await echoClient(topology, topology.pod('legacy').netns, '10.74.2.2', APP_PORT, 'plain');
    expect(answer).toBe('plaintext-inbound local=10.74.2.2:9080 peer=10.74.1.3');
    expect(accepted).toEqual([{ node: 'node-b', listener: 'inbound-plaintext', local: '10.74.2.2:9080', remote: '10.74.1.3' }]);
  });

  it('an uncaptured pod calling an uncaptured pod is not captured at all', async () => {
    accepted.length = 0;
    const answer = await echoClient(topology, topology.pod('legacy').netns, '10.74.1.3', APP_PORT, 'self');
    expect(answer).toBe('legacy peer=10.74.1.3 local=10.74.1.3:9080 data=self');
    expect(accepted).toEqual([]);
  });

  it('a transparent upstream socket can spoof a remote pod\'s source; the pod\'s replies come back to it', async () => {
    // Rule 1 at work: the reply's destination (10.74.1.2, a pod on node A) is not local to
    // node B, yet the socket match finds the transparent socket and table 100 delivers it here.
    const socket = createTcpSocket({ netns: topology.node('node-b').netns, transparent: true, localAddress: '10.74.1.2' });
    const answer = await new Promise<string>((resolve, reject) => {
      let data = '';
      socket.connect(APP_PORT, '10.74.2.2', () => socket.write('spoofed\n'));
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('end', () => resolve(data.trim()));
      socket.on('error', reject);
    });
    expect(answer).toBe('productpage peer=10.74.1.2 local=10.74.2.2:9080 data=spoofed');
  });

  it('SO_MARK round-trips on a connected socket', async () => {
    const socket = createTcpSocket({ netns: topology.node('node-b').netns, mark: 0x77 });
    await new Promise<void>((resolve, reject) => socket.connect(APP_PORT, '10.74.2.2', resolve).once('error', reject));
    expect(getMark(socket)).toBe(0x77);
    setMark(socket, 0x4d3);
    expect(getMark(socket)).toBe(0x4d3);
    socket.destroy();
  });
});
