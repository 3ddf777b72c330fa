import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyCapturePlan, planNodeCapture, removeCapturePlan, verifyCapturePlan } from '@mesh/netfilter';
import { destroyTopology } from '@mesh/netfilter';

const isRoot = process.getuid?.() === 0;
const prefix = `mt-x${randomBytes(3).toString('hex')}-`;

function sh(netns: string, ...argv: string[]): string {
  return execFileSync('ip', ['netns', 'exec', netns, ...argv], { encoding: 'utf8' });
}

/** Everything the plan touches, minus what legitimately changes between listings. */
function snapshot(netns: string, iptables: string): string {
  const saved = sh(netns, `${iptables}-save`, '-t', 'mangle').replace(/^#.*$/gm, '');
  // The swap gives the set a fresh hash seed (initval) and member order; the members are what counts.
  const members = sh(netns, 'ipset', 'save').split('\n').filter((l) => l.startsWith('add ')).sort();
  return [saved, sh(netns, 'ip', 'rule'), sh(netns, 'ip', 'route', 'show', 'table', '100'), ...members].join('\n');
}

describe.skipIf(!isRoot)('executor in a real network namespace (root)', () => {
  const variants = ['iptables-nft', 'iptables-legacy'] as const;

  beforeAll(() => {
    for (const variant of variants) {
      execFileSync('ip', ['netns', 'add', `${prefix}${variant}`]);
    }
  });
  afterAll(async () => {
    await destroyTopology(prefix);
  });

  describe.each(variants)('%s', (iptables) => {
    const netns = `${prefix}${iptables}`;
    const plan = planNodeCapture({ capturedPodIps: ['10.44.0.2', '10.44.0.3'] });

    it('applies a plan that verifies clean, twice with the same state', async () => {
      await applyCapturePlan(plan, { netns, iptables });
      expect(await verifyCapturePlan(plan, { netns, iptables })).toEqual({ ok: true, missing: [], extra: [] });
      const before = snapshot(netns, iptables);
      await applyCapturePlan(plan, { netns, iptables });
      expect(snapshot(netns, iptables)).toBe(before);
      expect(await verifyCapturePlan(plan, { netns, iptables })).toMatchObject({ ok: true });
    });

    it('re-applying a changed plan replaces the ipset members', async () => {
      const changed = planNodeCapture({ capturedPodIps: ['10.44.0.3', '10.44.0.4'] });
      await applyCapturePlan(changed, { netns, iptables });
      expect(await verifyCapturePlan(changed, { netns, iptables })).toMatchObject({ ok: true });
      expect(await verifyCapturePlan(plan, { netns, iptables })).toMatchObject({
        ok: false,
        missing: ['ipset ztunnel-pods-ips: add ztunnel-pods-ips 10.44.0.2'],
        extra: ['ipset ztunnel-pods-ips: add ztunnel-pods-ips 10.44.0.4'],
      });
    });

    it('verify notices a rule deleted behind its back', async () => {
      sh(netns, iptables, '-t', 'mangle', '-D', 'ztunnel-OUTPUT', '1');
      const result = await verifyCapturePlan(plan, { netns, iptables });
      expect(result.missing.some((line) => line.startsWith('iptables mangle: -A ztunnel-OUTPUT'))).toBe(true);
    });

    it('removal leaves nothing of ours behind, keeps what is not ours, and removing again is fine', async () => {
      // Someone else's rules, set, ip rule and table-100-unrelated route in the same namespace.
      sh(netns, iptables, '-t', 'mangle', '-N', 'OTHER-PREROUTING');
      sh(netns, iptables, '-t', 'mangle', '-A', 'PREROUTING', '-j', 'OTHER-PREROUTING');
      sh(netns, 'ipset', 'create', 'other-set', 'hash:ip');
      sh(netns, 'ip', 'rule', 'add', 'priority', '30000', 'fwmark', '0x1/0x1', 'lookup', '200');
      await removeCapturePlan(plan, { netns, iptables });
      await removeCapturePlan(plan, { netns, iptables });
      expect(sh(netns, `${iptables}-save`, '-t', 'mangle')).not.toMatch(/ztunnel/);
      expect(sh(netns, `${iptables}-save`, '-t', 'mangle')).toContain('-A PREROUTING -j OTHER-PREROUTING');
      expect(sh(netns, 'ipset', 'list', '-n')).toBe('other-set\n');
      expect(sh(netns, 'ip', 'rule')).toMatch(/fwmark 0x1\/0x1 lookup 200/);
      expect(sh(netns, 'ip', 'rule')).not.toMatch(/lookup 100/);
      expect(sh(netns, 'ip', 'route', 'show', 'table', 'all')).not.toMatch(/table 100/);
    });
  });
});
