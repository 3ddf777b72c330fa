import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@mesh/testing';
import { relay } from './relay.js';

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A connected pair on loopback: [the client end, the accepted end] (half-open allowed). */
async function pair(): Promise<[Socket, Socket]> {
  const server = createServer({ allowHalfOpen: true });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect({ port: (server.address() as { port: number }).port, host: '127.0.0.1', allowHalfOpen: true });
  const [socket] = await accepted;
  await once(client, 'connect');
  return [client, socket];
}

describe('relay', () => {
  it('a FIN that arrived before the relay started (no data with it) still ends the other side', async () => {
    const [downstreamClient, downstream] = await pair();
    const [upstream, upstreamServer] = await pair();
    downstreamClient.end(); // the client's FIN, before anything reads `downstream`
    await waitFor(() => downstream.readableEnded, { what: "the client's FIN to arrive" });
    const done = relay(downstream, upstream);
    upstreamServer.resume();
    await once(upstreamServer, 'end'); // the FIN went on
    upstreamServer.end('bye');
    let answer = '';
    downstreamClient.on('data', (c: Buffer) => (answer += c.toString()));
    await once(downstreamClient, 'end');
    expect(answer).toBe('bye');
    expect((await done).error).toBeUndefined();
  });

  it('counts into the caller\'s counters while the bytes move (read, not pushed), and its result agrees', async () => {
    const [downstreamClient, downstream] = await pair();
    const [upstream, upstreamServer] = await pair();
    const counters = { bytesAToB: 0, bytesBToA: 0 };
    const done = relay(downstream, upstream, { counters });
    downstreamClient.write('hello');
    await once(upstreamServer, 'data');
    // Mid-relay, nothing ended: the counters already say what moved.
    await waitFor(() => counters.bytesAToB === 5, { what: 'the request bytes to be counted' });
    upstreamServer.end('world!');
    downstreamClient.end();
    downstreamClient.resume();
    upstreamServer.resume();
    const result = await done;
    expect(counters).toEqual({ bytesAToB: 5, bytesBToA: 6 });
    expect(result).toEqual({ bytesAToB: 5, bytesBToA: 6 });
  });

  it('keeps order and loses nothing when chunks of one turn are coalesced, across turns and relays', async () => {
    const pairs = await Promise.all([0, 1].map(async () => [...(await pair()), ...(await pair())] as const));
    const received = pairs.map(([, , , upstreamServer]) => {
      let text = '';
      upstreamServer.setEncoding('utf8').on('data', (c: string) => (text += c));
      return () => text;
    });
    const dones = pairs.map(([, downstream, upstream]) => relay(downstream, upstream));
    let expected = '';
    for (let turn = 0; turn < 20; turn++) {
      // Several writes per turn on both relays: the first of a turn goes out at once, the rest corked.
      for (let i = 0; i < 5; i++) {
        const piece = `${turn}.${i};`;
        expected += piece;
        for (const [client] of pairs) client.write(piece);
      }
      await new Promise((r) => setImmediate(r));
    }
    for (const [client] of pairs) client.end();
    await Promise.all(pairs.map(([, , , upstreamServer]) => once(upstreamServer, 'end')));
    for (const text of received) expect(text()).toBe(expected);
    for (const [client, , , upstreamServer] of pairs) {
      upstreamServer.end();
      client.resume();
    }
    for (const done of dones) expect((await done).error).toBeUndefined();
  });
});
