// The far side of the HBONE benchmark, in its own process (as a real peer would be): a TCP sink,
// a TCP echo, and an HBONE server that forwards tunnels to them. Tunnels to port 1 are accepted
// and held without an upstream, to measure the memory of the tunnel itself.
import { createServer } from 'node:net';
import { writeHeapSnapshot } from 'node:v8';
import { HboneServer, forwardTunnel } from '@mesh/hbone-core';

const listen = (server) => new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port)));
const sink = createServer({ allowHalfOpen: true }, (s) => {
  s.on('data', () => {});
  s.on('end', () => s.end());
  s.on('error', () => {});
});
const echo = createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
  s.on('error', () => {});
  s.pipe(s);
});
const held = [];
process.once('message', async ({ credentials }) => {
  const server = new HboneServer({
    trustDomain: 'cluster.local',
    credentialsFor: () => credentials,
    onTunnel: (t) => {
      if (t.destination.port === 1) {
        const stream = t.accept();
        held.push(stream);
        stream.on('end', () => stream.end());
        stream.on('error', () => {});
        stream.once('close', () => held.splice(held.indexOf(stream), 1));
      }
      else void forwardTunnel(t);
    },
  });
  const [sinkPort, echoPort, hbonePort] = await Promise.all([listen(sink), listen(echo), server.listen({ host: '127.0.0.1', port: 0 })]);
  process.on('message', (msg) => {
    if (msg === 'memory') {
      globalThis.gc?.();
      process.send({ memory: process.memoryUsage(), held: held.length });
    }
    if (msg === 'exit') process.exit(0);
    if (msg?.snapshot) process.send({ snapshot: writeHeapSnapshot(msg.snapshot) });
    if (msg === 'cpu') process.send({ cpu: process.cpuUsage() });
    if (msg === 'release') {
      for (const s of held.splice(0)) s.destroy();
      process.send({ released: true });
    }
  });
  process.send({ sinkPort, echoPort, hbonePort });
});
// When the bench's IPC channel closes, exit (a --cpu-prof run then writes its profile).
process.on('disconnect', () => process.exit(0));
