/**
 * A plaintext front for an mTLS server, for tools that cannot present a client certificate
 * (h2spec): each TCP connection accepted on loopback is carried over a new TLS 1.3 connection
 * that presents the given certificate and offers ALPN h2, byte for byte both ways. A close or
 * reset on either side closes the other.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, type SecureContext } from 'node:tls';

export interface TlsRelayOptions {
  /** Client credentials to present (key, chain, the root to verify the server with). */
  secureContext: SecureContext;
  /** The mTLS server, as `host` + `port`, or any TCP socket factory (e.g. inside a namespace). */
  target: { host: string; port: number } | (() => Socket);
  /** ALPN to offer (default h2). */
  alpn?: string[];
}

export interface TlsRelay {
  port: number;
  /** Connections relayed so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

export async function startTlsRelay(options: TlsRelayOptions): Promise<TlsRelay> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer({ allowHalfOpen: true }, (plain) => {
    accepted++;
    const target = options.target;
    const tls = tlsConnect({
      ...(typeof target === 'function' ? { socket: target() } : { host: target.host, port: target.port }),
      secureContext: options.secureContext,
      ALPNProtocols: options.alpn ?? ['h2'],
      // The test trusts the root it was given; the server's SPIFFE name is not the point here.
      checkServerIdentity: () => undefined,
    });
    for (const s of [plain, tls]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.on('error', () => {
        plain.destroy();
        tls.destroy();
      });
    }
    plain.pipe(tls);
    tls.pipe(plain);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get accepted() {
      return accepted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
