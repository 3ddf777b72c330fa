import { MeshError, type MeshErrorOptions } from '@mesh/errors';

/** Stable codes of this package. Callers branch on these, never on message text. */
export const HboneErrorCode = {
  /** The CONNECT request's :authority is not `ip:port` (RFC 9113 §8.5). → 400 */
  BAD_AUTHORITY: 'HBONE_ERR_BAD_AUTHORITY',
  /** The CONNECT's `forwarded` header is not RFC 7239. → 400 */
  BAD_FORWARDED: 'HBONE_ERR_BAD_FORWARDED',
  /** A non-CONNECT request reached the HBONE server. → 400 */
  NOT_CONNECT: 'HBONE_ERR_NOT_CONNECT',
  /** The server answered the CONNECT with a non-200 status. */
  REJECTED: 'HBONE_ERR_REJECTED',
  /** The server's certificate does not carry any of the expected SPIFFE identities. */
  IDENTITY_MISMATCH: 'HBONE_ERR_IDENTITY_MISMATCH',
  /**
   * The peer's certificate chain does not verify against the mesh root (or is expired), or the
   * peer refused ours (a TLS alert such as `unknown_ca`, named in the message and context).
   */
  PEER_UNTRUSTED: 'HBONE_ERR_PEER_UNTRUSTED',
  /** TCP/TLS connection or HTTP/2 session setup failed. */
  CONNECT_FAILED: 'HBONE_ERR_CONNECT_FAILED',
  /** The stream was reset by the peer or the connection dropped mid-stream. */
  STREAM_RESET: 'HBONE_ERR_STREAM_RESET',
  /** Operation on a closed pool or server. */
  POOL_CLOSED: 'HBONE_ERR_POOL_CLOSED',
  SERVER_CLOSED: 'HBONE_ERR_SERVER_CLOSED',
  /** No answer to a keepalive PING in time. */
  KEEPALIVE_TIMEOUT: 'HBONE_ERR_KEEPALIVE_TIMEOUT',
} as const;
export type HboneErrorCode = (typeof HboneErrorCode)[keyof typeof HboneErrorCode];

export function hboneError(code: HboneErrorCode, message: string, options?: MeshErrorOptions): MeshError<HboneErrorCode> {
  return new MeshError(code, message, options);
}

/** HTTP/2 error codes by value (RFC 9113 §7). */
const H2_ERROR_NAMES = [
  'NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR',
  'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED',
];

/** `CANCEL (8)` for an HTTP/2 error code (RFC 9113 §7). */
export function h2ErrorName(code: number): string {
  return `${H2_ERROR_NAMES[code] ?? 'UNKNOWN'} (${code})`;
}
