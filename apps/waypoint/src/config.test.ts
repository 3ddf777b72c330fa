import { describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import { ADMIN_PORT, METRICS_PORT, READINESS_PORT, parseConfig } from './config.js';

const REQUIRED = ['--node-name', 'node-b', '--pod-name', 'waypoint-0', '--namespace', 'echo'];

describe('parseConfig', () => {
  it('defaults: admin 15000 on loopback, readiness 15021 and metrics 15020 with HBONE, HBONE port from LDS', () => {
    const parsed = parseConfig(REQUIRED);
    expect(parsed.help).toBe(false);
    if (parsed.help) return;
    expect(parsed.config).toMatchObject({ adminPort: ADMIN_PORT, readinessPort: READINESS_PORT, metricsPort: METRICS_PORT, adminAddress: '127.0.0.1', listenAddress: '0.0.0.0', xdsAddress: '127.0.0.1:15012' });
    expect(parsed.config.hbonePort).toBeUndefined();
  });

  it('flags win over the environment', () => {
    const parsed = parseConfig([...REQUIRED, '--xds-address=10.77.0.2:15012'], { XDS_ADDRESS: '1.2.3.4:1', POD_IP: '10.77.2.30' });
    expect(parsed.help === false && parsed.config).toMatchObject({ xdsAddress: '10.77.0.2:15012', podIp: '10.77.2.30' });
  });

  it('reads the pod from the environment', () => {
    const parsed = parseConfig([], { NODE_NAME: 'node-b', POD_NAME: 'waypoint-0', POD_NAMESPACE: 'echo' });
    expect(parsed.help === false && parsed.config).toMatchObject({ nodeName: 'node-b', podName: 'waypoint-0', namespace: 'echo' });
  });

  it.each([
    [['--node-name', 'n'], /--pod-name: is required/],
    [[...REQUIRED, '--bogus', '1'], /unknown option "--bogus"/],
    [[...REQUIRED, '--xds-address', 'nohost'], /must be host:port/],
    [[...REQUIRED, '--admin-port'], /needs a value/],
    [[...REQUIRED, '--admin-address', '10.77.2.30'], /--admin-address: must be a loopback address/],
  ])('refuses %j', (argv, message) => {
    try {
      parseConfig(argv);
      expect.unreachable();
    } catch (err) {
      expect(hasCode(err, 'WAYPOINT_ERR_CONFIG')).toBe(true);
      expect((err as Error).message).toMatch(message);
    }
  });

  it('--help', () => {
    expect(parseConfig(['--help']).help).toBe(true);
  });
});
