import { describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import { adminAddressOf, HELP_TEXT, parseConfig } from './config.js';

describe('parseConfig', () => {
  it('has the Istio ports and explicit mode by default', () => {
    const parsed = parseConfig(['--node-name', 'node-a']);
    expect(parsed).toMatchObject({
      help: false,
      config: { nodeName: 'node-a', captureMode: 'explicit', xdsDialect: 'envoy', adminPort: 15000, outboundPort: 15001, inboundPlaintextPort: 15006, hbonePort: 15008, readinessPort: 15021, socks5Port: 15080, xdsAddress: '127.0.0.1:15012' },
    });
  });
  it('chooses the xDS dialect by flag or XDS_DIALECT', () => {
    expect(parseConfig(['--node-name', 'a', '--xds-dialect', 'workload'])).toMatchObject({ config: { xdsDialect: 'workload' } });
    expect(parseConfig(['--node-name', 'a'], { XDS_DIALECT: 'workload' })).toMatchObject({ config: { xdsDialect: 'workload' } });
  });
  it('has the DNS proxy on by default on 15053, and takes its flags and environment', () => {
    expect(parseConfig(['--node-name', 'a'])).toMatchObject({ config: { dnsProxy: true, dnsPort: 15053, dnsResolvConf: '/etc/resolv.conf', clusterDomain: 'cluster.local' } });
    expect(parseConfig(['--node-name', 'a', '--dns-proxy', 'false', '--dns-upstream', '10.0.0.1, 127.0.0.1:5353', '--dns-address', '10.77.0.11'])).toMatchObject({
      config: { dnsProxy: false, dnsUpstream: ['10.0.0.1', '127.0.0.1:5353'], dnsAddress: '10.77.0.11' },
    });
    expect(parseConfig(['--node-name', 'a'], { DNS_PROXY: 'false', CLUSTER_DOMAIN: 'corp.example' })).toMatchObject({ config: { dnsProxy: false, clusterDomain: 'corp.example' } });
    expect(() => parseConfig(['--node-name', 'a', '--dns-proxy', 'maybe'])).toThrow(/--dns-proxy: /);
  });
  it('takes the environment, and flags win', () => {
    const parsed = parseConfig(['--capture-mode=transparent'], { NODE_NAME: 'node-b', CAPTURE_MODE: 'explicit', BOOTSTRAP_DIR: '/state/nodes/node-b' });
    expect(parsed).toMatchObject({ config: { nodeName: 'node-b', captureMode: 'transparent', bootstrapDir: '/state/nodes/node-b' } });
  });
  it.each([
    [[], /--node-name: is required/],
    [['--node-name', 'a', '--capture-mode', 'magic'], /--capture-mode: /],
    [['--node-name', 'a', '--xds-dialect', 'istio'], /--xds-dialect: /],
    [['--node-name', 'a', '--xds-address', 'nohost'], /--xds-address: must be host:port/],
    [['--node-name', 'a', '--bogus'], /unknown option "--bogus"/],
    [['--node-name'], /--node-name needs a value/],
    [['--node-name', 'a', '--admin-address', '0.0.0.0'], /--admin-address: must be a loopback address/],
    [['--node-name', 'a', '--admin-address', '10.77.0.11'], /--admin-address: must be a loopback address/],
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
  it.each([
    [{ listenAddress: '10.77.0.11' }, '127.0.0.1'],
    [{ listenAddress: '0.0.0.0' }, '127.0.0.1'],
    [{ listenAddress: '127.77.0.11' }, '127.77.0.11'],
    [{ listenAddress: '10.77.0.11', adminAddress: '::1' }, '::1'],
  ])('the admin API listens on the node\'s loopback: %j → %s', (config, expected) => {
    expect(adminAddressOf(config)).toBe(expected);
  });
  it('takes a projected token file and the mesh root for the control plane (--token-file, --ca-root-cert, or TOKEN_FILE, CA_ROOT_CERT)', () => {
    const parsed = parseConfig(['--node-name', 'node-a', '--token-file', '/var/run/secrets/tokens/istio-token'], { CA_ROOT_CERT: '/etc/mesh/root-cert.pem' });
    expect(parsed).toMatchObject({ config: { tokenFile: '/var/run/secrets/tokens/istio-token', caRootCert: '/etc/mesh/root-cert.pem' } });
    expect(HELP_TEXT).toContain('--token-file');
    expect(HELP_TEXT).toContain('--ca-root-cert');
  });

  it('prints help', () => {
    expect(parseConfig(['--help'])).toEqual({ help: true });
  });
});
