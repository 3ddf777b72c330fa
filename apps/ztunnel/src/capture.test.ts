import { describe, expect, it } from 'vitest';
import { RecordingCommandRunner } from '@mesh/netfilter/testing';
import { waitFor } from '@mesh/testing';
import { createCaptureManager } from './capture.js';
import { createMemoryProxyLogger as createMemoryLogger } from '@mesh/log';

const PORTS = { outbound: 15001, inbound: 15008, inboundPlaintext: 15006 };

describe('capture manager', () => {
  it('applies the latest pod set once, skips unchanged sets, and removes what it applied', async () => {
    const runner = new RecordingCommandRunner();
    const logger = createMemoryLogger();
    const capture = createCaptureManager('node-ns', PORTS, logger, runner);
    capture.update(['10.77.1.10']);
    capture.update(['10.77.1.11', '10.77.1.10']);
    capture.update(['10.77.1.10', '10.77.1.11']);
    await waitFor(() => logger.entries.filter((e) => e['msg'] === 'capture rules applied').length >= 2, { what: 'two applies', lastSeen: () => logger.entries });
    await capture.remove();
    const ipsetInputs = runner.commands.filter((c) => c.argv[0] === 'ipset' && c.argv[1] === 'restore').map((c) => c.input ?? '');
    // The first set is applied; the two equal later sets coalesce into one apply.
    expect(ipsetInputs).toHaveLength(2);
    expect(ipsetInputs[1]).toContain('add ztunnel-pods-ips-');
    expect(ipsetInputs[1]).toMatch(/10\.77\.1\.11/);
    expect(runner.commands.every((c) => c.netns === 'node-ns')).toBe(true);
    expect(runner.lines().some((l) => l.includes('-D PREROUTING'))).toBe(true);
    expect(logger.entries.filter((e) => e['msg'] === 'capture rules applied')).toHaveLength(2);
  });

  it('still applies a new pod set after an update that changed nothing (a config push with the same pods)', async () => {
    const runner = new RecordingCommandRunner();
    const logger = createMemoryLogger();
    const capture = createCaptureManager('node-ns', PORTS, logger, runner);
    const applied = () => logger.entries.filter((e) => e['msg'] === 'capture rules applied').map((e) => e['pods']);
    capture.update(['10.77.2.10']);
    await waitFor(() => applied().length === 1, { what: 'the first apply' });
    capture.update(['10.77.2.10']); // e.g. a policy change: LDS changed, the pods did not
    capture.update(['10.77.2.10', '10.77.2.20']);
    await waitFor(() => applied().length === 2, { what: 'the new pod captured', lastSeen: applied });
    expect(applied()).toEqual([['10.77.2.10'], ['10.77.2.10', '10.77.2.20']]);
    await capture.remove();
  });
});
