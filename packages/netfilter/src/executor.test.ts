import { describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { COMMAND_CHANNEL_NAME, createCommandRunner, type CommandEvent } from './command-runner.js';
import { applyCapturePlan, removeCapturePlan, verifyCapturePlan } from './executor.js';
import { planNodeCapture } from './plan.js';
import { expectedLines, renderIptablesRestore } from './render.js';
import { RecordingCommandRunner } from './testing/index.js';

const plan = planNodeCapture({ capturedPodIps: ['10.1.0.2', '10.1.0.3'] });
const netns = 'mt-unit-node';

/** What a namespace lists once the plan is applied, shaped like the real tools' output. */
function appliedState(): RecordingCommandRunner {
  const expected = expectedLines(plan);
  const mangle = expected.iptables.get('mangle') ?? [];
  return new RecordingCommandRunner()
    .respond(['iptables-nft-save'], {
      stdout: ['*mangle', ':PREROUTING ACCEPT [0:0]', ...mangle.map((l) => (l.startsWith(':') ? `${l} [0:0]` : l)), 'COMMIT'].join('\n'),
    })
    .respond(['ipset', 'save'], {
      stdout: `create ztunnel-pods-ips hash:ip family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1\nadd ztunnel-pods-ips 10.1.0.2\nadd ztunnel-pods-ips 10.1.0.3\n`,
    })
    .respond(['ip', 'rule', 'show'], {
      stdout: '0:\tfrom all lookup local\n20000:\tfrom all fwmark 0x400/0xfff lookup 100\n20001:\tfrom all fwmark 0x4d3/0xfff lookup 100\n32766:\tfrom all lookup main\n',
    })
    .respond(['ip', 'route', 'show'], { stdout: 'local default dev lo scope host \n' })
    .respond(['iptables-nft', '-w', '-t', 'mangle', '-C'], { exitCode: 0 });
}

describe('applyCapturePlan', () => {
  it('on an empty namespace: ipset, then chains, then jumps, rules and route, all inside the netns', async () => {
    const runner = new RecordingCommandRunner()
      .respond(['iptables-nft', '-w', '-t', 'mangle', '-C'], { exitCode: 1, stderr: 'Bad rule' })
      .respond(['ip', 'rule', 'show'], { stdout: '0:\tfrom all lookup local\n' });
    await applyCapturePlan(plan, { netns, exec: runner });
    expect(runner.commands.every((c) => c.netns === netns)).toBe(true);
    expect(runner.lines()).toEqual([
      'ipset restore -exist',
      'iptables-nft-restore -w --noflush',
      'iptables-nft -w -t mangle -C PREROUTING -j ztunnel-PREROUTING',
      'iptables-nft -w -t mangle -I PREROUTING 1 -j ztunnel-PREROUTING',
      'iptables-nft -w -t mangle -C OUTPUT -j ztunnel-OUTPUT',
      'iptables-nft -w -t mangle -I OUTPUT 1 -j ztunnel-OUTPUT',
      'ip rule show',
      'ip rule add priority 20000 fwmark 0x400/0xfff lookup 100',
      'ip rule add priority 20001 fwmark 0x4d3/0xfff lookup 100',
      'ip route replace local default dev lo table 100',
    ]);
    expect(runner.commands[1]?.input).toBe(renderIptablesRestore(plan, { hooks: false }));
  });

  it('on an applied namespace adds no jump and no ip rule again', async () => {
    const runner = appliedState();
    await applyCapturePlan(plan, { netns, exec: runner });
    expect(runner.lines().filter((l) => / -I | rule add /.test(l))).toEqual([]);
  });

  it('reports a failing command with its stderr and the netns', async () => {
    const runner = new RecordingCommandRunner().respond(['ipset'], { exitCode: 1, stderr: 'ipset v7.17: Kernel error' });
    const err = await applyCapturePlan(plan, { netns, exec: runner }).catch((e: unknown) => e);
    expect(hasCode(err, 'NETFILTER_ERR_COMMAND_FAILED')).toBe(true);
    expect(String((err as Error).message)).toMatch(/mt-unit-node.*Kernel error/);
  });

  it('refuses to run without a namespace', async () => {
    const err = await applyCapturePlan(plan, { netns: '', exec: new RecordingCommandRunner() }).catch((e: unknown) => e);
    expect(hasCode(err, 'NETFILTER_ERR_NO_NETNS')).toBe(true);
  });
});

describe('verifyCapturePlan', () => {
  it('is ok when the listings match the plan', async () => {
    expect(await verifyCapturePlan(plan, { netns, exec: appliedState() })).toEqual({ ok: true, missing: [], extra: [] });
  });

  it('names missing members, stale members and duplicate jumps', async () => {
    const runner = appliedState()
      .respond(['ipset', 'save'], { stdout: 'create ztunnel-pods-ips hash:ip family inet hashsize 1024\nadd ztunnel-pods-ips 10.1.0.2\nadd ztunnel-pods-ips 10.1.0.9\n' })
      .respond(['iptables-nft-save'], {
        stdout: [...(expectedLines(plan).iptables.get('mangle') ?? []), '-A PREROUTING -j ztunnel-PREROUTING', '-A PREROUTING -j KUBE-SERVICES'].join('\n'),
      });
    const result = await verifyCapturePlan(plan, { netns, exec: runner });
    expect(result.ok).toBe(false);
    expect(result.missing).toEqual(['ipset ztunnel-pods-ips: add ztunnel-pods-ips 10.1.0.3']);
    expect(result.extra).toEqual(['iptables mangle: -A PREROUTING -j ztunnel-PREROUTING', 'ipset ztunnel-pods-ips: add ztunnel-pods-ips 10.1.0.9']);
  });

  it('reports rules of our chain in the wrong order', async () => {
    const mangle = [...(expectedLines(plan).iptables.get('mangle') ?? [])];
    const first = mangle.findIndex((l) => l.startsWith('-A ztunnel-PREROUTING'));
    [mangle[first], mangle[first + 1]] = [mangle[first + 1] ?? '', mangle[first] ?? ''];
    const result = await verifyCapturePlan(plan, { netns, exec: appliedState().respond(['iptables-nft-save'], { stdout: mangle.join('\n') }) });
    expect(result.missing).toEqual(['iptables mangle: rules of ztunnel-PREROUTING in plan order']);
  });
});

describe('removeCapturePlan', () => {
  it('deletes jumps, chains, sets, rules and route, tolerating what is already gone', async () => {
    const runner = new RecordingCommandRunner()
      .respond(['iptables-nft', '-w', '-t', 'mangle', '-D'], { exitCode: 1 })
      .respond(['ipset', 'destroy'], { exitCode: 1, stderr: 'The set with the given name does not exist' })
      .respond(['ip', 'rule', 'del'], { exitCode: 2 });
    await removeCapturePlan(plan, { netns, exec: runner });
    expect(runner.lines()).toContain('iptables-nft -w -t mangle -X ztunnel-PREROUTING');
    expect(runner.lines()).toContain('ipset destroy ztunnel-pods-ips');
    expect(runner.lines()).toContain('ip route del local default dev lo table 100');
  });

  it('fails loudly when something of ours survives', async () => {
    const err = await removeCapturePlan(plan, { netns, exec: appliedState() }).catch((e: unknown) => e);
    expect(hasCode(err, 'NETFILTER_ERR_REMOVE_INCOMPLETE')).toBe(true);
  });
});

describe('createCommandRunner', () => {
  it('returns the exit code of a failing command and the signal of a killed one', async () => {
    const runner = createCommandRunner();
    expect(await runner.run({ argv: ['sh', '-c', 'echo out; echo err >&2; exit 3'] })).toEqual({ stdout: 'out\n', stderr: 'err\n', exitCode: 3 });
    expect(await runner.run({ argv: ['sh', '-c', 'kill -TERM $$'] })).toMatchObject({ exitCode: 143, stderr: 'killed by SIGTERM\n' });
    expect(await runner.run({ argv: ['cat'], input: 'to stdin' })).toMatchObject({ stdout: 'to stdin', exitCode: 0 });
  });

  it('publishes each finished command on the diagnostics channel', async () => {
    const events: CommandEvent[] = [];
    const listener = (event: unknown) => events.push(event as CommandEvent);
    subscribe(COMMAND_CHANNEL_NAME, listener);
    try {
      await createCommandRunner().run({ argv: ['sh', '-c', 'exit 2'] });
    } finally {
      unsubscribe(COMMAND_CHANNEL_NAME, listener);
    }
    expect(events).toEqual([{ argv: ['sh', '-c', 'exit 2'], netns: undefined, exitCode: 2, durationMs: expect.any(Number) }]);
  });

  it('rejects when the binary does not exist', async () => {
    const err = await createCommandRunner().run({ argv: ['/nonexistent/iptables'] }).catch((e: unknown) => e);
    expect(hasCode(err, 'NETFILTER_ERR_COMMAND_FAILED')).toBe(true);
  });
});
