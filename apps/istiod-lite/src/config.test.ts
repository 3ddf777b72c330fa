import { describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import { HELP_TEXT, parseArgs } from './config.js';

describe('istiod-lite flags', () => {
  it('applies the defaults of the port table: no plaintext ADS, debug on loopback', () => {
    expect(parseArgs(['--config-dir', 'examples/bookinfo'])).toEqual({
      help: false,
      config: {
        configSource: 'directory',
        configDir: 'examples/bookinfo',
        stateDir: './.state/istiod',
        xdsPlaintextAddress: '127.0.0.1',
        xdsTlsPort: 15012,
        debugPort: 15014,
        debugAddress: '127.0.0.1',
        trustDomain: 'cluster.local',
        listenAddress: '0.0.0.0',
        workloadCertTtlMs: 24 * 3600_000,
        caTrustedNodeAccounts: ['istio-system/ztunnel'],
      },
    });
  });

  it('takes the workload certificate lifetime as a duration, within 1s..24h', () => {
    const ttl = (value: string) => {
      const parsed = parseArgs(['--config-dir', 'm', '--workload-cert-ttl', value]);
      return parsed.help === false && parsed.config.workloadCertTtlMs;
    };
    expect(ttl('30s')).toBe(30_000);
    expect(ttl('1h30m')).toBe(5_400_000);
    expect(() => ttl('5d')).toThrow(/--workload-cert-ttl: "5d" is not a duration/);
    expect(() => ttl('48h')).toThrow(/--workload-cert-ttl: must be between 1s and 24h/);
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
    expect(attempt(['--config-dir', 'm', '--debug-address', '0.0.0.0'])).toMatch(/--debug-address: must be a loopback address/);
    expect(attempt(['--config-dir', 'm', '--debug-address', '10.77.0.2'])).toMatch(/--debug-address: must be a loopback address/);
    expect(attempt(['--config-source', 'etcd'])).toMatch(/--config-source: must be one of directory, kubernetes/);
    expect(attempt(['--config-source', 'kubernetes', '--config-dir', 'm'])).toMatch(/--config-dir: is for the directory source/);
    expect(attempt(['--config-dir', 'm', '--kubeconfig', 'k'])).toMatch(/--kubeconfig: needs --config-source kubernetes/);
  });

  it('the kubernetes source: --kubeconfig and --context, or neither (in-cluster); no --config-dir', () => {
    expect(parseArgs(['--config-source', 'kubernetes', '--kubeconfig', '/k/config', '--context', 'dev'])).toMatchObject({
      config: { configSource: 'kubernetes', kubeconfig: '/k/config', context: 'dev' },
    });
    const inCluster = parseArgs(['--config-source=kubernetes']);
    expect(inCluster.help === false && inCluster.config).toMatchObject({ configSource: 'kubernetes' });
    expect(inCluster.help === false && inCluster.config.configDir).toBeUndefined();
  });

  it('--ca-trusted-node-accounts: <namespace>/<service account>, comma-separated, with the kubernetes source only', () => {
    const accounts = (...argv: string[]) => {
      const parsed = parseArgs(['--config-source', 'kubernetes', ...argv]);
      return parsed.help === false && parsed.config.caTrustedNodeAccounts;
    };
    expect(accounts()).toEqual(['istio-system/ztunnel']);
    expect(accounts('--ca-trusted-node-accounts', 'kube-system/ztunnel, mesh/node-proxy')).toEqual(['kube-system/ztunnel', 'mesh/node-proxy']);
    expect(() => accounts('--ca-trusted-node-accounts', 'ztunnel')).toThrow(/--ca-trusted-node-accounts: each must be <namespace>\/<service account>/);
    expect(() => parseArgs(['--config-dir', 'm', '--ca-trusted-node-accounts', 'a/b'])).toThrow(/--ca-trusted-node-accounts: needs --config-source kubernetes/);
  });

  it('--help explains every flag', () => {
    expect(parseArgs(['--config-dir', 'x', '--help'])).toEqual({ help: true });
    for (const flag of ['--config-source', '--config-dir', '--kubeconfig', '--context', '--state-dir', '--xds-port', '--xds-plaintext-address', '--xds-tls-port', '--debug-port', '--debug-address', '--trust-domain', '--listen-address', '--ca-trusted-node-accounts']) {
      expect(HELP_TEXT).toContain(flag);
    }
  });
});
