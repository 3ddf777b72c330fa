import { describe, expect, it } from 'vitest';
import { renewalTime, shouldRenew } from './rotation.js';
import { createTestCa } from './testing.js';

const HOUR_MS = 3600_000;

describe('renewalTime / shouldRenew', () => {
  const window = { notBefore: new Date('2030-01-01T00:00:00Z'), notAfter: new Date('2030-01-02T00:00:00Z') };

  it('renews at half of the lifetime by default', () => {
    expect(renewalTime(window)).toEqual(new Date('2030-01-01T12:00:00Z'));
    expect(shouldRenew(window, new Date('2030-01-01T11:59:59Z'))).toBe(false);
    expect(shouldRenew(window, new Date('2030-01-01T12:00:00Z'))).toBe(true);
    expect(renewalTime(window, 0.75)).toEqual(new Date('2030-01-01T18:00:00Z'));
  });

  it('reads the validity from a PEM certificate', () => {
    const notBefore = new Date('2030-01-01T00:00:00Z');
    const { certPem } = createTestCa().issue('spiffe://cluster.local/ns/default/sa/sleep', { notBefore, ttlMs: 2 * HOUR_MS });
    expect(renewalTime(certPem)).toEqual(new Date('2030-01-01T01:00:00Z'));
  });

  it('refuses a fraction outside (0, 1]', () => {
    expect(() => renewalTime(window, 0)).toThrow(expect.objectContaining({ code: 'PKI_ERR_INVALID_ARGUMENT' }));
    expect(() => renewalTime(window, 1.5)).toThrow(expect.objectContaining({ code: 'PKI_ERR_INVALID_ARGUMENT' }));
  });
});
