import { connect, type Socket } from 'node:net';
import { relay, type RelayOptions, type RelayResult } from './relay.js';
import type { IncomingTunnel } from './server.js';

export interface ForwardOptions extends RelayOptions {
  /** Opens the upstream connection; defaults to TCP to the tunnel's destination. */
  connectUpstream?: (tunnel: IncomingTunnel) => Socket;
}

/** How a forwarded tunnel ended. */
export type ForwardResult =
  /** Answered 200; the relay's result once both directions are done. */
  | { readonly outcome: 'relayed'; readonly relay: RelayResult }
  /** The upstream refused or failed the connection: answered 503. */
  | { readonly outcome: 'refused'; readonly reason: string }
  /** The client reset the tunnel before the upstream connected: nothing was answered, the upstream attempt was dropped. */
  | { readonly outcome: 'cancelled'; readonly reason: string };

/**
 * Terminates a tunnel onto TCP: connects to the tunnel's destination first and answers 200 only
 * once that succeeded, 503 when it did not (so the client sees the failure as a refused tunnel,
 * not as an accepted one that closes at once), then relays bytes until both sides are done.
 * A client that resets the tunnel while the upstream is still connecting cancels it: the
 * upstream socket is destroyed and nothing is sent on the closed stream. Never rejects.
 */
export function forwardTunnel(tunnel: IncomingTunnel, options: ForwardOptions = {}): Promise<ForwardResult> {
  return new Promise((resolve) => {
    const cancelled = (): ForwardResult => ({ outcome: 'cancelled', reason: String((tunnel.signal.reason as Error | undefined)?.message ?? 'the client reset the tunnel') });
    if (tunnel.signal.aborted) {
      resolve(cancelled());
      return;
    }
    const upstream =
      options.connectUpstream?.(tunnel) ??
      connect({ host: tunnel.destination.host, port: tunnel.destination.port, allowHalfOpen: true, noDelay: true });
    const onCancel = () => {
      upstream.off('error', onConnectError);
      upstream.on('error', () => undefined);
      upstream.destroy();
      resolve(cancelled());
    };
    const onConnectError = (err: Error & { code?: string }) => {
      tunnel.signal.removeEventListener('abort', onCancel);
      const reason = `upstream ${tunnel.authority}: ${err.code ?? err.message}`;
      tunnel.reject(503, reason);
      resolve({ outcome: 'refused', reason });
    };
    tunnel.signal.addEventListener('abort', onCancel, { once: true });
    upstream.once('error', onConnectError);
    upstream.once('connect', () => {
      tunnel.signal.removeEventListener('abort', onCancel);
      upstream.off('error', onConnectError);
      const stream = tunnel.accept();
      void relay(stream, upstream, options).then((result) => resolve({ outcome: 'relayed', relay: result }));
    });
  });
}
