import type { Socket } from 'node:net';

/** Reads one line (the pod name our servers send first) and leaves the socket paused. */
export function readLine(socket: Socket, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => done(new Error(`no line within ${timeoutMs} ms (got "${text}")`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const nl = text.indexOf('\n');
      if (nl >= 0) done(undefined, text.slice(0, nl));
    };
    const onError = (err: Error) => done(err);
    const onClose = () => done(new Error(`connection closed before a line (got "${text}")`));
    const done = (err?: Error, line?: string) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.pause();
      if (err) reject(err);
      else resolve(line as string);
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.resume();
  });
}
