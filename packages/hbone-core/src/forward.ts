import { connect, type Socket } from 'node:net';
import { relay, type RelayOptions, type RelayResult } from './relay.js';
import type { IncomingTunnel } from './server.js';

export interface ForwardOptions extends RelayOptions {
  /** Opens the upstream connection; defaults to TCP to the tunnel's destination. */
  connectUpstream?: (tunnel: IncomingTunnel) => Socket;
}

/**
 * Terminates a tunnel onto TCP: connects to the tunnel's destination first and answers 200 only
 * once that succeeded, 503 when it did not (so the client sees the failure as a refused tunnel,
 * not as an accepted one that closes at once), then relays bytes until both sides are done.
 * Resolves with the relay's result, or undefined when the tunnel was refused.
 */
export function forwardTunnel(tunnel: IncomingTunnel, options: ForwardOptions = {}): Promise<RelayResult | undefined> {
  return new Promise((resolve) => {
    const upstream =
      options.connectUpstream?.(tunnel) ??
      connect({ host: tunnel.destination.host, port: tunnel.destination.port, allowHalfOpen: true, noDelay: true });
    const onConnectError = (err: Error & { code?: string }) => {
      tunnel.reject(503, `upstream ${tunnel.authority}: ${err.code ?? err.message}`);
      resolve(undefined);
    };
    upstream.once('error', onConnectError);
    upstream.once('connect', () => {
      upstream.off('error', onConnectError);
      const stream = tunnel.accept();
      resolve(relay(stream, upstream, options));
    });
  });
}
