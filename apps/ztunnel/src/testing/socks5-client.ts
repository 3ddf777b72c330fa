import { connect, isIPv4, type Socket } from 'node:net';

/** Reply codes a SOCKS5 CONNECT may end with (RFC 1928 §6). */
export class Socks5Error extends Error {
  constructor(readonly reply: number) {
    super(`SOCKS5 CONNECT failed with reply ${reply}`);
  }
}

/**
 * Opens a connection through a SOCKS5 proxy (no auth, CONNECT to an IPv4 address or a host
 * name, which the proxy resolves), from `localAddress` — in explicit mode the pod's own loopback
 * address. Resolves once the proxy answered success; rejects with Socks5Error(reply) otherwise.
 */
export function socks5Connect(options: { proxy: { host: string; port: number }; localAddress?: string; host: string; port: number }): Promise<Socket> {
  const address = isIPv4(options.host)
    ? Buffer.from([1, ...options.host.split('.').map(Number)])
    : Buffer.concat([Buffer.from([3, Buffer.byteLength(options.host)]), Buffer.from(options.host)]);
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: options.proxy.host,
      port: options.proxy.port,
      allowHalfOpen: true,
      noDelay: true,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    let buf: Buffer = Buffer.alloc(0);
    let stage: 'method' | 'reply' = 'method';
    const fail = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    socket.once('error', fail);
    socket.once('close', () => fail(new Error('SOCKS5 proxy closed the connection')));
    socket.once('connect', () => socket.write(Buffer.from([5, 1, 0])));
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (stage === 'method') {
        if (buf.length < 2) return;
        if (buf[1] !== 0) return fail(new Error('SOCKS5 proxy refused the no-auth method'));
        buf = buf.subarray(2);
        const port = Buffer.alloc(2);
        port.writeUInt16BE(options.port);
        socket.write(Buffer.concat([Buffer.from([5, 1, 0]), address, port]));
        stage = 'reply';
      }
      if (buf.length < 10) return;
      socket.off('data', onData);
      socket.removeAllListeners('close');
      socket.off('error', fail);
      if (buf[1] !== 0) return fail(new Socks5Error(buf[1] as number));
      socket.pause();
      const rest = buf.subarray(10);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    };
    socket.on('data', onData);
  });
}
