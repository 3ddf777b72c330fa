import { describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import { parseConfig } from './config.js';

describe('parseConfig', () => {
  it('has the Istio ports and explicit mode by default', () => {
    const parsed = parseConfig(['--node-name', 'node-a']);
    expect(parsed).toMatchObject({
      help: false,
      config: { nodeName: 'node-a', captureMode: 'explicit', adminPort: 15000, outboundPort: 15001, inboundPlaintextPort: 15006, hbonePort: 15008, readinessPort: 15021, socks5Port: 15080, xdsAddress: '127.0.0.1:15012' },
    });
  });
  it('takes the environment, and flags win', () => {
    const parsed = parseConfig(['--capture-mode=transparent'], { NODE_NAME: 'node-b', CAPTURE_MODE: 'explicit', BOOTSTRAP_DIR: '/state/nodes/node-b' });
    expect(parsed).toMatchObject({ config: { nodeName: 'node-b', captureMode: 'transparent', bootstrapDir: '/state/nodes/node-b' } });
  });
  it.each([
    [[], /--node-name: is required/],
    [['--node-name', 'a', '--capture-mode', 'magic'], /--capture-mode: /],
    [['--node-name', 'a', '--xds-address', 'nohost'], /--xds-address: must be host:port/],
    [['--node-name', 'a', '--bogus'], /unknown option "--bogus"/],
    [['--node-name'], /--node-name needs a value/],
  ])('refuses %j with a precise message', (argv, message) => {
    let error: unknown;
    try {
      parseConfig(argv);
    } catch (err) {
      error = err;
    }
    expect(hasCode(error, 'ZTUNNEL_ERR_CONFIG')).toBe(true);
    expect((error as Error).message).toMatch(message);
  });
  it('prints help', () => {
    expect(parseConfig(['--help'])).toEqual({ help: true });
  });
});
