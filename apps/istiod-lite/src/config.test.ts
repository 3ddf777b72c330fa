import { describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import { HELP_TEXT, parseArgs } from './config.js';

describe('istiod-lite flags', () => {
  it('applies the defaults of the port table', () => {
    expect(parseArgs(['--config-dir', 'examples/bookinfo'])).toEqual({
      help: false,
      config: {
        configDir: 'examples/bookinfo',
        stateDir: './.state/istiod',
        xdsPort: 15010,
        xdsTlsPort: 15012,
        debugPort: 15014,
        trustDomain: 'cluster.local',
        listenAddress: '0.0.0.0',
      },
    });
  });

  it('accepts --flag value and --flag=value', () => {
    const parsed = parseArgs(['--config-dir=m', '--xds-port', '0', '--trust-domain=example.org', '--listen-address', '127.0.0.1']);
    expect(parsed.help === false && parsed.config).toMatchObject({ configDir: 'm', xdsPort: 0, trustDomain: 'example.org', listenAddress: '127.0.0.1' });
  });

  it('names the flag in every problem', () => {
    const attempt = (argv: string[]) => {
      try {
        parseArgs(argv);
      } catch (err) {
        expect(hasCode(err, 'ISTIOD_ERR_CONFIG')).toBe(true);
        return (err as Error).message;
      }
      throw new Error('expected a config error');
    };
    expect(attempt([])).toMatch(/--config-dir: is required/);
    expect(attempt(['--config-dir', 'm', '--xds-port', '70000'])).toMatch(/--xds-port:/);
    expect(attempt(['--config-dir', 'm', '--trust-domain', 'Bad Domain'])).toMatch(/--trust-domain: a trust domain uses/);
    expect(attempt(['--config-dir', 'm', '--verbose'])).toMatch(/unknown option "--verbose"/);
    expect(attempt(['--config-dir'])).toMatch(/--config-dir needs a value/);
  });

  it('--help explains every flag', () => {
    expect(parseArgs(['--config-dir', 'x', '--help'])).toEqual({ help: true });
    for (const flag of ['--config-dir', '--state-dir', '--xds-port', '--xds-tls-port', '--debug-port', '--trust-domain', '--listen-address']) {
      expect(HELP_TEXT).toContain(flag);
    }
  });
});
