/**
 * Node's HTTP/1 client and server write the head as latin1 strings through `writev`; an HTTP/2
 * stream (our HBONE tunnel) corrupts such mixed string/buffer batches (seen on Node 20: garbage
 * instead of the request line). `asByteStream` puts a plain Duplex in front that turns every
 * write into a Buffer and writes chunks one by one, with backpressure both ways.
 */
import { Duplex } from 'node:stream';

export function asByteStream(inner: Duplex): Duplex {
  const outer = new Duplex({
    allowHalfOpen: true,
    decodeStrings: true,
    write(chunk: Buffer, _encoding, callback) {
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
      inner.destroy(err ?? undefined);
      callback(err);
    },
  });
  inner.on('data', (chunk: Buffer) => {
    if (!outer.push(chunk)) inner.pause();
  });
  inner.once('end', () => outer.push(null));
  inner.once('error', (err) => outer.destroy(err));
  inner.once('close', () => {
    if (!outer.destroyed && inner.readableEnded === false) outer.destroy();
  });
  return outer;
}
