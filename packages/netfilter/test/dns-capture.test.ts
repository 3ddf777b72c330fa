/**
 * The DNS capture rules (nat table) in a real network namespace (root): applied, verified clean,
 * applied again to the same state, and removed completely, with both iptables front ends.
 * Namespaces use the prefix `dnst-` and are removed in afterAll.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyCapturePlan, destroyTopology, planNodeCapture, removeCapturePlan, verifyCapturePlan } from '@mesh/netfilter';

const isRoot = process.getuid?.() === 0;
const prefix = `dnst-x${randomBytes(3).toString('hex')}-`;
const variants = ['iptables-nft', 'iptables-legacy'] as const;

const save = (netns: string, iptables: string) => execFileSync('ip', ['netns', 'exec', netns, `${iptables}-save`, '-t', 'nat'], { encoding: 'utf8' }).replace(/^#.*$/gm, '');

describe.skipIf(!isRoot)('DNS capture rules in a real network namespace (root)', () => {
  beforeAll(() => {
    for (const variant of variants) execFileSync('ip', ['netns', 'add', `${prefix}${variant}`]);
  });
  afterAll(async () => {
    await destroyTopology(prefix);
  });

  describe.each(variants)('%s', (iptables) => {
    const netns = `${prefix}${iptables}`;
    const plan = planNodeCapture({ capturedPodIps: ['10.44.0.2'], dns: { address: '10.44.0.1', port: 15053 } });

    it('applies, verifies clean, re-applies to the same state, and removes everything', async () => {
      await applyCapturePlan(plan, { netns, iptables });
      expect(await verifyCapturePlan(plan, { netns, iptables })).toEqual({ ok: true, missing: [], extra: [] });
      const before = save(netns, iptables);
      expect(before).toContain('-A ztunnel-PREROUTING ! -i lo -p udp -m set --match-set ztunnel-pods-ips src -m udp --dport 53 -j DNAT --to-destination 10.44.0.1:15053');
      await applyCapturePlan(plan, { netns, iptables });
      expect(save(netns, iptables)).toBe(before);
      await removeCapturePlan(plan, { netns, iptables });
      expect(save(netns, iptables)).not.toContain('ztunnel');
    });
  });
});
