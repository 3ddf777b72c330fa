/**
 * An HBONE server in a process of its own, as a peer node would run it: tunnels are forwarded to
 * their authority (a TCP echo here). Tests attack it and then ask it over IPC whether it is still
 * there, what it counted and how much memory it holds. Started by `startHbonePeer()`.
 */
import { HboneServer, forwardTunnel, type HboneCredentials } from '@mesh/hbone-core';
import { startEchoServer } from '@mesh/hbone-core/testing';

export type PeerRequest = { type: 'memory' } | { type: 'stats' } | { type: 'exit' };

process.once('message', (message: { credentials: HboneCredentials; maxSessionMemoryMb?: number }) => {
  void main(message.credentials);
});

async function main(credentials: HboneCredentials): Promise<void> {
  const echo = await startEchoServer();
  const server = new HboneServer({ trustDomain: 'cluster.local', credentialsFor: () => credentials, onTunnel: (t) => void forwardTunnel(t) });
  const hbonePort = await server.listen({ host: '127.0.0.1', port: 0 });
  process.on('message', (request: PeerRequest) => {
    if (request.type === 'exit') process.exit(0);
    if (request.type === 'stats') process.send!({ stats: server.stats(), connections: server.connections().length });
    if (request.type === 'memory') {
      globalThis.gc?.();
      process.send!({ memory: process.memoryUsage() });
    }
  });
  process.send!({ hbonePort, echoPort: echo.port });
}
