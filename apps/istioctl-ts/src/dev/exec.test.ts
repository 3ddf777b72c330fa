import { describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import { execPlan, readyText } from './commands.js';
import type { DevState } from './host.js';

const base: Omit<DevState, 'mode' | 'nodes' | 'pods'> = {
  pid: 1,
  startedAt: '2026-01-01T00:00:00Z',
  istiodDebugAddress: '127.0.0.1:15014',
  services: [
    { name: 'productpage', namespace: 'default', vip: '127.77.100.10', ports: [9080] },
    { name: 'echo', namespace: 'echo', vip: '127.77.100.20', ports: [80] },
  ],
  processGroups: [],
  logsDir: '/tmp',
};

describe('execPlan', () => {
  it('transparent: runs inside the pod\'s network namespace, untouched', () => {
    const state: DevState = { ...base, mode: 'transparent', nodes: [], pods: [{ name: 'sleep', namespace: 'default', node: 'node-a', ip: '10.77.1.10', netns: 'mdev-p-default-sleep' }] };
    expect(execPlan(state, 'sleep', ['curl', '-s', 'http://productpage:9080/'])).toEqual({ argv: ['ip', 'netns', 'exec', 'mdev-p-default-sleep', 'curl', '-s', 'http://productpage:9080/'], env: {} });
  });

  it('explicit: curl goes through the node\'s SOCKS5 from the pod\'s address, Service names resolved', () => {
    const state: DevState = {
      ...base,
      mode: 'explicit',
      nodes: [{ name: 'node-a', address: '127.77.0.11', admin: '127.77.0.11:15000', socks5: '127.77.0.11:15080' }],
      pods: [{ name: 'sleep', namespace: 'default', node: 'node-a', ip: '127.77.1.10' }],
    };
    const plan = execPlan(state, 'sleep.default', ['curl', '-s', 'http://productpage:9080/']);
    expect(plan.env).toMatchObject({ ALL_PROXY: 'socks5://127.77.0.11:15080', MESH_POD_IP: '127.77.1.10' });
    expect(plan.argv.slice(0, 3)).toEqual(['curl', '--interface', '127.77.1.10']);
    expect(plan.argv).toContain('productpage:9080:127.77.100.10');
    expect(plan.argv).toContain('echo.echo:80:127.77.100.20');
    expect(plan.argv).not.toContain('echo:80:127.77.100.20');
    expect(plan.argv.slice(-2)).toEqual(['-s', 'http://productpage:9080/']);
  });

  it('an unknown pod lists the pods there are', () => {
    const state: DevState = { ...base, mode: 'transparent', nodes: [], pods: [{ name: 'sleep', namespace: 'default', node: 'node-a', ip: '10.77.1.10', netns: 'x' }] };
    let caught: unknown;
    try {
      execPlan(state, 'slep', ['true']);
    } catch (err) {
      caught = err;
    }
    expect(hasCode(caught, 'MESHCTL_ERR_DEV_NO_POD')).toBe(true);
    expect((caught as Error).message).toContain('sleep.default');
  });
});

describe('readyText', () => {
  const state: DevState = {
    ...base,
    mode: 'transparent',
    istiodDebugAddress: '127.0.0.1:15014',
    nodes: [
      { name: 'node-a', address: '10.77.0.11', netns: 'mdev-n-node-a', admin: 'netns:mdev-n-node-a/127.0.0.1:15000', adminSocket: '/r/.state/dev/run/ztunnel-node-a.sock' },
      { name: 'node-b', address: '10.77.0.12', netns: 'mdev-n-node-b', admin: 'netns:mdev-n-node-b/127.0.0.1:15000', adminSocket: '/r/.state/dev/run/ztunnel-node-b.sock' },
    ],
    pods: [
      { name: 'sleep', namespace: 'default', node: 'node-a', ip: '10.77.1.10', netns: 'x' },
      { name: 'echo-v2', namespace: 'echo', node: 'node-b', ip: '10.77.2.20', netns: 'y' },
    ],
  };
  const timings: [string, number][] = [['read manifests', 40], ['ztunnels (xDS, workload certificates, capture rules)', 2_750]];

  it('says where startup time went, which pods run where, and what to try', () => {
    const text = readyText({ mode: 'transparent', timings, state }, 'node /r/meshctl.js', ['examples/bookinfo']);
    expect(text).toMatch(/^mesh ready in 2\.8 s \(transparent mode\); startup time:\n {2}read manifests +40 ms\n {2}ztunnels \(xDS, workload certificates, capture rules\) +2\.8 s\n/);
    expect(text).toContain('  node-b 10.77.0.12 (ztunnel admin 127.0.0.1:15000 in network namespace mdev-n-node-b): echo-v2.echo 10.77.2.20\n');
    expect(text).toContain('through the sockets in /r/.state/dev/run)');
    expect(text).toContain('  meshctl dev exec sleep -- curl -s http://productpage:9080/\n');
    expect(text).toContain('  meshctl tunnels ztunnel-node-b\n');
    expect(text).toContain('  alias meshctl="node /r/meshctl.js"\n');
  });

  it('names the forwarded debug address when 127.0.0.1:15014 was taken', () => {
    const text = readyText({ mode: 'transparent', timings, state: { ...state, istiodDebugAddress: '127.0.0.1:40123' } }, 'meshctl', ['examples/bookinfo']);
    expect(text).toContain('  meshctl --istiod 127.0.0.1:40123 proxy-config listeners ztunnel-node-a\n');
  });
});
