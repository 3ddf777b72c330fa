import { MeshError } from '@mesh/errors';
import type { MeshErrorOptions } from '@mesh/errors';

/**
 * Every code this package throws. Callers branch on these (with `hasCode`), never on message text.
 */
export type PkiErrorCode =
  | 'PKI_ERR_BAD_SPIFFE_ID'
  | 'PKI_ERR_BAD_CSR'
  | 'PKI_ERR_CSR_SIGNATURE'
  | 'PKI_ERR_CSR_KEY'
  | 'PKI_ERR_CSR_IDENTITY_MISMATCH'
  | 'PKI_ERR_TRUST_DOMAIN_MISMATCH'
  | 'PKI_ERR_BAD_CERTIFICATE'
  | 'PKI_ERR_CHAIN_UNTRUSTED'
  | 'PKI_ERR_PEER_IDENTITY_MISMATCH'
  | 'PKI_ERR_CERT_EXPIRED'
  | 'PKI_ERR_CERT_NOT_YET_VALID'
  | 'PKI_ERR_ROOT_NOT_FOUND'
  | 'PKI_ERR_ROOT_INCOMPLETE'
  | 'PKI_ERR_ROOT_INVALID'
  | 'PKI_ERR_KEY_PERMISSIONS'
  | 'PKI_ERR_INVALID_ARGUMENT';

export function pkiError(code: PkiErrorCode, message: string, options?: MeshErrorOptions): MeshError<PkiErrorCode> {
  return new MeshError(code, message, options);
}
