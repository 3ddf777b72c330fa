import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { localWorkloadIps, podConnector } from './source-bind.js';

let server: Server | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

/** A pod on loopback; resolves with the source address of the first connection it accepts. */
async function pod(): Promise<{ port: number; accepted: Promise<string | undefined> }> {
  let accepted!: (address: string | undefined) => void;
  const first = new Promise<string | undefined>((resolve) => (accepted = resolve));
  server = createServer((s) => {
    sockets.push(s);
    accepted(s.remoteAddress);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, accepted: first };
}

describe('podConnector', () => {
  it('explicit mode: connects from the node, whatever the client address', async () => {
    const { port, accepted } = await pod();
    const connect = podConnector({ transparent: false, isLocalWorkload: () => false, onUnavailable: () => expect.fail('not tried') });
    sockets.push(connect('127.0.0.1', port, '10.99.0.7'));
    expect(await accepted).toBe('127.0.0.1');
  });

  it('transparent mode, a source on this node: from the node (the spoofed 4-tuple could clash with the accepted socket)', async () => {
    const { port, accepted } = await pod();
    const connect = podConnector({ transparent: true, isLocalWorkload: (ip) => ip === '10.99.0.7', onUnavailable: () => expect.fail('not tried') });
    sockets.push(connect('127.0.0.1', port, '10.99.0.7'));
    expect(await accepted).toBe('127.0.0.1');
  });

  it('transparent mode, no or a non-IPv4 source: from the node', async () => {
    const { port, accepted } = await pod();
    const connect = podConnector({ transparent: true, isLocalWorkload: () => false, onUnavailable: () => expect.fail('not tried') });
    sockets.push(connect('127.0.0.1', port, 'fd00::7'));
    expect(await accepted).toBe('127.0.0.1');
  });
});

describe('localWorkloadIps', () => {
  it("is the model's local workload addresses, worked out once per model", () => {
    const chain = (text: string, identity?: string) => ({ identity, prefixes: [{ text, prefixLen: Number(text.split('/')[1]), v6: false }] });
    const model = { listeners: { inbound: { chains: [chain('10.0.1.5/32', 'spiffe://td/ns/a/sa/x'), chain('10.0.2.0/24', 'spiffe://td/ns/a/sa/y'), chain('10.0.1.6/32')] } } } as unknown as Parameters<typeof localWorkloadIps>[0];
    const ips = localWorkloadIps(model);
    expect([...ips]).toEqual(['10.0.1.5']);
    expect(localWorkloadIps(model)).toBe(ips);
    const next = { listeners: { inbound: { chains: [chain('10.0.1.7/32', 'spiffe://td/ns/a/sa/z')] } } } as unknown as Parameters<typeof localWorkloadIps>[0];
    expect([...localWorkloadIps(next)]).toEqual(['10.0.1.7']);
  });
});
