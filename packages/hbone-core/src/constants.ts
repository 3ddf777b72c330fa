/** Port every HBONE endpoint (ztunnel, waypoint) terminates tunnels on. */
export const HBONE_PORT = 15008;

/**
 * HTTP/2 flow control. Istio's ztunnel uses 4 MiB per stream and 16 MiB per connection; Node
 * deadlocks bidirectional streams with much larger windows (nodejs/node#29353: it stops reading
 * the socket while its own write is pending), and 4 MiB / 16 MiB measured fastest without stalls
 * (see bench/hbone.bench.mjs and the README's performance section).
 */
export const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
export const CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;
/** Largest DATA frame we accept; bigger frames mean fewer frame headers and callbacks per byte. */
export const MAX_FRAME_BYTES = 256 * 1024;
/** Streams per pooled connection before the pool opens another connection (Istio's default). */
export const MAX_STREAMS_PER_CONNECTION = 100;
/** What the server advertises in SETTINGS_MAX_CONCURRENT_STREAMS; bounds per-connection memory. */
export const SERVER_MAX_CONCURRENT_STREAMS = 1000;

export const POOL_IDLE_TIMEOUT_MS = 5 * 60_000;
export const KEEPALIVE_INTERVAL_MS = 10_000;
export const KEEPALIVE_TIMEOUT_MS = 20_000;
export const CONNECT_TIMEOUT_MS = 10_000;

/**
 * TLS handshakes a server holds at once; past it the oldest pending one is dropped. A client that
 * sends a ClientHello and then nothing costs the server ~65 KiB until its handshake times out
 * (measured: 5,000 such clients took 330 MiB), so without a bound a flood of them takes memory
 * without limit. Dropping the oldest (not refusing the newest) keeps the port serving new clients
 * while the flood lasts.
 */
export const MAX_PENDING_HANDSHAKES = 1000;
/** A TLS handshake not finished within this is dropped (Node's default is 120 s). */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
