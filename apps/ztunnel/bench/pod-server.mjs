// A workload for the mesh benchmark, started inside a pod's network namespace: 9080 echoes,
// 9081 swallows everything and answers the byte count when the client half-closes.
import { createServer } from 'node:net';

const echo = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  socket.pipe(socket);
});
const sink = createServer({ allowHalfOpen: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  let bytes = 0;
  socket.on('data', (chunk) => (bytes += chunk.length));
  socket.on('end', () => socket.end(`${bytes}\n`));
});
echo.listen(9080, '0.0.0.0', () => sink.listen(9081, '0.0.0.0', () => process.stdout.write('ready\n')));
