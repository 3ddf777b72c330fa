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
});
