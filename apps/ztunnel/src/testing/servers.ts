import { createServer, type AddressInfo, type Server } from 'node:net';

/**
 * The plain workload of the tests: a TCP server that first writes its name and a newline, then
 * echoes everything back (and ends when the client ends), so a client learns which pod answered
 * and that bytes went both ways.
 */
export async function startNamedEchoServer(name: string, host: string, port = 0): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.write(`${name}\n`);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
