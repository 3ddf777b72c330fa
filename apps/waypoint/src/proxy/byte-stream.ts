/**
 * Node's HTTP/1 client and server write the head as latin1 strings through `writev`; an HTTP/2
 * stream (our HBONE tunnel) corrupts such mixed string/buffer batches (seen on Node 20: garbage
 * instead of the request line). `asByteStream` puts a plain Duplex in front that turns every
 * write into a Buffer and writes chunks one by one, with backpressure both ways.
 */
import { Duplex } from 'node:stream';

/** The socket methods Node's HTTP client/server call on their connection. */
export interface ByteStream extends Duplex {
  setTimeout(ms: number, callback?: () => void): this;
  setKeepAlive(): this;
  setNoDelay(): this;
  ref(): this;
  unref(): this;
}

export function asByteStream(inner: Duplex): ByteStream {
  let idleTimer: NodeJS.Timeout | undefined;
  const activity = () => idleTimer?.refresh();
  const outer = new Duplex({
    allowHalfOpen: true,
    decodeStrings: true,
    write(chunk: Buffer, _encoding, callback) {
      activity();
      if (inner.write(chunk)) callback();
      else inner.once('drain', () => callback());
    },
    final(callback) {
      inner.end(callback);
    },
    read() {
      inner.resume();
    },
    destroy(err, callback) {
      clearTimeout(idleTimer);
      inner.destroy(err ?? undefined);
      callback(err);
    },
  });
  inner.on('data', (chunk: Buffer) => {
    activity();
    if (!outer.push(chunk)) inner.pause();
  });
  inner.once('end', () => outer.push(null));
  // `on`, not `once`: an HTTP/2 stream can emit more than one error (e.g. a reset after an abort).
  inner.on('error', (err) => outer.destroy(err));
  inner.once('close', () => {
    if (!outer.destroyed && inner.readableEnded === false) outer.destroy();
  });
  // net.Socket's idle timeout ('timeout' after `ms` without traffic), keep-alive and Nagle
  // switches (no-ops: the tunnel's TCP connection is configured by the pool).
  const socketLike = outer as ByteStream;
  socketLike.setTimeout = function setTimeout(ms: number, callback?: () => void) {
    clearTimeout(idleTimer);
    idleTimer = undefined;
    // net.Socket semantics: a callback with 0 removes it (Node's HTTP client relies on that).
    if (callback && ms === 0) this.removeListener('timeout', callback);
    else if (callback) this.once('timeout', callback);
    if (ms > 0) {
      idleTimer = globalThis.setTimeout(() => this.emit('timeout'), ms);
      idleTimer.unref();
    }
    return this;
  };
  socketLike.setKeepAlive = function setKeepAlive() {
    return this;
  };
  socketLike.setNoDelay = function setNoDelay() {
    return this;
  };
  socketLike.ref = function ref() {
    return this;
  };
  socketLike.unref = function unref() {
    return this;
  };
  return socketLike;
}
