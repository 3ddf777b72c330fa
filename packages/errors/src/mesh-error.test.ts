import { describe, expect, it } from 'vitest';
import { MeshError, hasCode, isMeshError } from './index.js';

describe('MeshError', () => {
  it('carries a stable code, context, cause and an operator hint', () => {
    const cause = new Error('socket hang up');
    const err = new MeshError('HBONE_ERR_CONNECT', 'tunnel to 10.0.0.2:15008 failed', {
      cause,
      context: { peer: '10.0.0.2:15008' },
      hint: 'is ztunnel running on the destination node?',
    });
    expect(err.code).toBe('HBONE_ERR_CONNECT');
    expect(err.cause).toBe(cause);
    expect(err.message).toContain('hint: is ztunnel running');
    expect(JSON.parse(JSON.stringify(err))).toMatchObject({ code: 'HBONE_ERR_CONNECT', context: { peer: '10.0.0.2:15008' } });
  });

  it('is recognised by shape, so plain errors with a code are not mistaken for it', () => {
    const plain = Object.assign(new Error('x'), { code: 'ECONNRESET' });
    expect(isMeshError(plain)).toBe(false);
    expect(hasCode(new MeshError('A_ERR_X', 'x'), 'A_ERR_X', 'A_ERR_Y')).toBe(true);
    expect(hasCode(new MeshError('A_ERR_Z', 'x'), 'A_ERR_X')).toBe(false);
  });
});
