import { pkiError } from './errors.js';
import { certificateInfo } from './verify.js';

/** Istio's ztunnel and istio-agent renew a workload certificate at half of its lifetime. */
export const DEFAULT_RENEWAL_FRACTION = 0.5;

export interface ValidityWindow {
  notBefore: Date;
  notAfter: Date;
}

function validityOf(cert: string | ValidityWindow): ValidityWindow {
  return typeof cert === 'string' ? certificateInfo(cert) : cert;
}

/** When to renew: `fraction` of the way from notBefore to notAfter (default half-life). */
export function renewalTime(cert: string | ValidityWindow, fraction: number = DEFAULT_RENEWAL_FRACTION): Date {
  if (!(fraction > 0 && fraction <= 1)) {
    throw pkiError('PKI_ERR_INVALID_ARGUMENT', `renewal fraction must be in (0, 1], got ${fraction}`);
  }
  const { notBefore, notAfter } = validityOf(cert);
  return new Date(notBefore.getTime() + (notAfter.getTime() - notBefore.getTime()) * fraction);
}

/** True once `now` has reached the renewal time. */
export function shouldRenew(cert: string | ValidityWindow, now: Date = new Date(), fraction: number = DEFAULT_RENEWAL_FRACTION): boolean {
  return now.getTime() >= renewalTime(cert, fraction).getTime();
}
