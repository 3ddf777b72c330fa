import { constants as h2constants, type Http2Stream } from 'node:http2';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** Default write-buffer bound per direction (see RelayOptions.maxBufferedBytes). */
export const RELAY_MAX_BUFFERED_BYTES = 256 * 1024;

/** Bytes a relay moved so far, per direction: counted as they move, read whenever asked. */
export interface RelayCounters {
  /** Bytes read from `a` and written to `b`. */
  bytesAToB: number;
  /** Bytes read from `b` and written to `a`. */
  bytesBToA: number;
}

/** What a relay moved, and how it ended. */
export interface RelayResult extends RelayCounters {
  /** Set when either side failed or was reset; the other side was then reset too. */
  error?: Error;
}

export interface RelayOptions {
  /**
   * Coalesce what arrives within one event-loop turn into one write (default true). The first
   * chunk of a turn is written at once, so a lone small message pays no latency; the rest of the
   * turn is corked and flushed together. Node hands over TLS/HTTP2 data as many small chunks,
   * and one write per chunk costs up to half the throughput (coalescing gave +50–65% in a
   * measurement on this kind of machine when the data path was designed). Corking only from a
   * turn's second chunk on (one shared timer per turn) was measured and dropped:
   * docs/performance.md, "ztunnel: where the time goes".
   */
  coalesce?: boolean;
  /** Bytes that may wait in one side's write buffer before the other side is paused. */
  maxBufferedBytes?: number;
  /**
   * Where to count the bytes as they move, for live tunnel statistics: the caller keeps the
   * object and reads it when asked (a pull, so the data path makes no call per chunk).
   */
  counters?: RelayCounters;
}

/**
 * Copies bytes both ways between two byte streams (a TCP socket and an HBONE tunnel, or two
 * tunnels) with stream semantics intact:
 *
 * - half-close: end of one side's input (FIN / END_STREAM) ends the other side's output, and the
 *   opposite direction keeps flowing until it ends too. TCP sockets must be `allowHalfOpen`.
 * - reset: an error or abort on either side resets the other side (TCP RST, or RST_STREAM with
 *   CONNECT_ERROR for HTTP/2, RFC 9113 §8.5) instead of a clean end, so a peer never mistakes a
 *   failure for a complete transfer.
 * - backpressure: a side whose writes are buffered pauses the reader feeding it, so memory is
 *   bounded by the transport windows, not by how fast the sender is.
 *
 * Resolves once both directions are done; never rejects.
 */
export function relay(a: Duplex, b: Duplex, options: RelayOptions = {}): Promise<RelayResult> {
  const coalesce = options.coalesce ?? true;
  const maxBuffered = options.maxBufferedBytes ?? RELAY_MAX_BUFFERED_BYTES;
  const counters = options.counters ?? { bytesAToB: 0, bytesBToA: 0 };
  return new Promise((resolve) => {
    let error: Error | undefined;
    let finished = false;
    let openDirections = 2;
    let settledSides = 0;

    const finish = () => {
      if (finished) return;
      finished = true;
      resolve(error ? { bytesAToB: counters.bytesAToB, bytesBToA: counters.bytesBToA, error } : { bytesAToB: counters.bytesAToB, bytesBToA: counters.bytesBToA });
    };
    const fail = (err: Error) => {
      if (finished) return;
      error ??= err;
      abort(a);
      abort(b);
      finish();
    };
    const sideSettled = () => {
      if (++settledSides === 2) finish();
    };

    const pump = (src: Duplex, dst: Duplex, aToB: boolean) => {
      let corked = false;
      const uncork = () => {
        corked = false;
        dst.uncork();
      };
      src.on('data', (chunk: Buffer) => {
        if (aToB) counters.bytesAToB += chunk.length;
        else counters.bytesBToA += chunk.length;
        const ok = dst.write(chunk);
        if (coalesce && !corked) {
          corked = true;
          dst.cork();
          setImmediate(uncork);
        }
        // Pausing at every `false` (16 KiB for sockets) stops the HTTP/2 reader, and with it
        // its WINDOW_UPDATEs, many times per window: the pipe then idles half the time. Keep
        // reading until `maxBufferedBytes` wait in the writer; that still bounds memory.
        if (!ok && dst.writableLength >= maxBuffered) {
          src.pause();
          dst.once('drain', () => src.resume());
        }
      });
      const propagateEnd = () => {
        if (corked) uncork();
        dst.end();
        if (--openDirections === 0) finishWhenClosed();
      };
      const onEnd = () => {
        if (!isHttp2Stream(src)) {
          propagateEnd();
          return;
        }
        // Node also ends an HTTP/2 stream's readable side when the stream is reset, and says so
        // ('aborted', rstCode) only after 'end' (pitfall 5). Decide once that settled: a reset
        // must reach the other side as a reset, never as a FIN.
        setImmediate(() => {
          if (src.aborted || (src.rstCode !== undefined && src.rstCode !== h2constants.NGHTTP2_NO_ERROR)) {
            fail(new Error(`stream reset by peer (code ${src.rstCode})`));
          } else {
            propagateEnd();
          }
        });
      };
      // A side whose input ended before the relay started (a client's FIN with no data, sent
      // while the tunnel was still being opened) has emitted 'end' already, to nobody.
      if (src.readableEnded) onEnd();
      else src.once('end', onEnd);
    };

    // Both inputs ended cleanly and both outputs were ended: wait for the last bytes to leave.
    const finishWhenClosed = () => {
      for (const side of [a, b]) {
        if (side.writableFinished || side.destroyed) sideSettled();
        else side.once('finish', sideSettled);
      }
    };

    for (const side of [a, b]) {
      // `on`, not `once`, and kept after the relay finished: an HTTP/2 stream can report more
      // than one error (a reset after an abort), and an 'error' without a listener ends the process.
      side.on('error', fail);
      side.once('close', () => {
        if (!isCleanClose(side)) fail(new Error('peer reset the stream'));
      });
    }
    // A side that closed before the relay began (a tunnel the client reset while it was being
    // accepted) will never emit 'close' again: reset the other one now.
    if (a.destroyed || b.destroyed) {
      fail(new Error('peer reset the stream before the relay started'));
      return;
    }
    pump(a, b, true);
    pump(b, a, false);
  });
}

/** node:http2 does not export its stream class; `rstCode` is a getter only its streams have. */
function isHttp2Stream(s: Duplex): s is Http2Stream {
  return 'rstCode' in s;
}

/**
 * A side closed cleanly when its input ended and its output finished; for HTTP/2 the stream must
 * also not have been reset with an error code (pitfall 5: a close may still carry an rstCode).
 */
function isCleanClose(side: Duplex): boolean {
  if (isHttp2Stream(side) && side.rstCode !== undefined && side.rstCode !== h2constants.NGHTTP2_NO_ERROR) return false;
  return side.readableEnded && side.writableFinished;
}

/** Resets a side: TCP RST for sockets, RST_STREAM(CONNECT_ERROR) for HTTP/2 streams. */
export function abort(side: Duplex): void {
  if (side.destroyed) return;
  if (isHttp2Stream(side)) {
    side.close(h2constants.NGHTTP2_CONNECT_ERROR);
  } else if (side instanceof Socket && typeof side.resetAndDestroy === 'function' && !side.connecting) {
    side.resetAndDestroy();
  } else {
    side.destroy();
  }
}
