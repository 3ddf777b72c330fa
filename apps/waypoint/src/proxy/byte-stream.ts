/**
 * The tunnel (an HTTP/2 stream) as the connection of Node's HTTP/1 client and server.
 *
 * `asHttpSocket` gives them the stream itself: on Node 24 an `Http2Stream` takes the mixed
 * latin1-string/Buffer `writev` batches they write intact, has `setTimeout` with net.Socket's
 * semantics, and they read it through 'data' events (it has no `_handle` for llhttp to consume).
 * Only the socket switches they call on a kept-alive connection are missing; they are no-ops.
 * The caller must leave the stream flowing: node:http attaches its 'data' listener but never
 * resumes a stream that was paused explicitly (after sniffing): docs/performance.md, "The
 * waypoint: where the time goes".
 *
 * `asByteStream` puts a plain Duplex in front instead (one more stream per tunnel, every chunk
 * through both): on Node 20 the stream corrupted such mixed batches (garbage instead of the
 * request line). It stays for the h2c sessions (node:http2 wraps a handle-less socket itself)
 * and the tests' and bench's clients.
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

/** The stream itself, with the socket methods node:http calls on a kept-alive connection as no-ops. */
export function asHttpSocket(stream: Duplex): ByteStream {
  const socketLike = stream as ByteStream;
  // Keep-alive and Nagle belong to the tunnel's TCP connection (configured by the pool); a
  // stream keeps no event loop reference of its own (its session does).
  socketLike.setKeepAlive = returnThis;
  socketLike.setNoDelay = returnThis;
  socketLike.ref = returnThis;
  socketLike.unref = returnThis;
  return socketLike;
}

function returnThis<T>(this: T): T {
  return this;
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
