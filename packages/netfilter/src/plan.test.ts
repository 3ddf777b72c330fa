import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import { planNodeCapture } from './plan.js';
import { expectedLines, renderAnnotatedDump, renderIpsetRestore, renderIptablesRestore, renderRoutingCommands } from './render.js';

const GOLDEN_DIR = new URL('../test/golden/', import.meta.url);

/** Compares with test/golden/<name>; `UPDATE_GOLDEN=1` rewrites the file instead. */
async function expectGolden(name: string, actual: string): Promise<void> {
  const file = new URL(name, GOLDEN_DIR);
  if (process.env.UPDATE_GOLDEN === '1') {
    await writeFile(file, actual);
    return;
  }
  expect(actual).toBe(await readFile(file, 'utf8'));
}

// The bookinfo walkthrough's node B: productpage 10.4.3.20 plus a second captured pod and an
// uncaptured one; its ztunnel's DNS proxy on the node address 10.4.0.12.
const nodeB = planNodeCapture({
  capturedPodIps: ['10.4.3.20', '10.4.3.15'],
  localPodIps: ['10.4.3.15', '10.4.3.20', '10.4.3.99'],
  dns: { address: '10.4.0.12', port: 15053 },
});

describe('planNodeCapture', () => {
  it('puts exactly the captured pods in ztunnel-pods-ips, sorted numerically and deduplicated', () => {
    const plan = planNodeCapture({ capturedPodIps: ['10.0.0.10', '10.0.0.9', '10.0.0.10'] });
    expect(plan.ipsets).toHaveLength(1);
    expect(plan.ipsets[0]?.name).toBe('ztunnel-pods-ips');
    expect(plan.ipsets[0]?.members).toEqual(['10.0.0.9', '10.0.0.10']);
  });

  it('sends pod outbound to 15001, HBONE to 15008 and other inbound to 15006 with mark 0x400/0xfff', () => {
    const rules = renderIptablesRestore(nodeB);
    expect(rules).toContain('--match-set ztunnel-pods-ips src -j TPROXY --on-port 15001 --on-ip 127.0.0.1 --tproxy-mark 0x400/0xfff');
    expect(rules).toContain('--match-set ztunnel-pods-ips dst -m tcp --dport 15008 -j TPROXY --on-port 15008 --on-ip 127.0.0.1 --tproxy-mark 0x400/0xfff');
    expect(rules).toContain('--match-set ztunnel-pods-ips dst -j TPROXY --on-port 15006 --on-ip 127.0.0.1 --tproxy-mark 0x400/0xfff');
  });

  it('lets replies and packets of accepted connections through before any TPROXY rule', () => {
    const chain = nodeB.tables[0]?.chains.find((c) => c.name === 'ztunnel-PREROUTING');
    const targets = chain?.rules.map((rule) => rule.args.slice(rule.args.indexOf('-j') + 1).join(' ')) ?? [];
    const firstTproxy = targets.findIndex((t) => t.startsWith('TPROXY'));
    // The fourth: DNS over TCP from a pod is left to the nat table.
    expect(targets.slice(0, firstTproxy)).toEqual(['MARK --set-xmark 0x4d3/0xfff', 'RETURN', 'RETURN', 'RETURN']);
    // Outbound must win over inbound: a captured pod calling a captured pod on the same node
    // goes out through 15001 so ztunnel builds the HBONE tunnel.
    expect(targets.slice(firstTproxy).map((t) => t.split(' ')[2])).toEqual(['15001', '15008', '15006']);
  });

  it('sends pods\' DNS (UDP and TCP port 53, any resolver) to ztunnel\'s DNS proxy with DNAT, TCP exempted from TPROXY first', () => {
    const rules = renderIptablesRestore(nodeB);
    expect(rules).toContain('*nat\n:ztunnel-PREROUTING - [0:0]\n-A PREROUTING -j ztunnel-PREROUTING\n');
    expect(rules).toContain('-A ztunnel-PREROUTING ! -i lo -p udp -m set --match-set ztunnel-pods-ips src -m udp --dport 53 -j DNAT --to-destination 10.4.0.12:15053');
    expect(rules).toContain('-A ztunnel-PREROUTING ! -i lo -p tcp -m set --match-set ztunnel-pods-ips src -m tcp --dport 53 -j DNAT --to-destination 10.4.0.12:15053');
    expect(rules).toContain('-A ztunnel-PREROUTING ! -i lo -p tcp -m set --match-set ztunnel-pods-ips src -m tcp --dport 53 -j RETURN');
    const withoutDns = planNodeCapture({ capturedPodIps: ['10.4.3.20'] });
    expect(withoutDns.tables.map((t) => t.name)).toEqual(['mangle']);
    expect(renderIptablesRestore(withoutDns)).not.toContain('--dport 53');
  });

  it('routes both marks through table 100 to a local default route on lo', () => {
    expect(renderRoutingCommands(nodeB)).toEqual([
      ['ip', 'rule', 'add', 'priority', '20000', 'fwmark', '0x400/0xfff', 'lookup', '100'],
      ['ip', 'rule', 'add', 'priority', '20001', 'fwmark', '0x4d3/0xfff', 'lookup', '100'],
      ['ip', 'route', 'replace', 'local', 'default', 'dev', 'lo', 'table', '100'],
    ]);
  });

  it('honours custom ports, marks and table', () => {
    const plan = planNodeCapture({
      capturedPodIps: ['10.1.0.2'],
      ports: { outbound: 25001 },
      marks: { tproxy: 0x10, acceptedConnection: 0x20, mask: 0xf0 },
      routeTable: 42,
    });
    const text = renderIptablesRestore(plan);
    expect(text).toContain('--on-port 25001 --on-ip 127.0.0.1 --tproxy-mark 0x10/0xf0');
    expect(text).toContain('--set-xmark 0x20/0xf0');
    expect(expectedLines(plan).ipRules).toEqual(['20000:\tfrom all fwmark 0x10/0xf0 lookup 42', '20001:\tfrom all fwmark 0x20/0xf0 lookup 42']);
  });

  it.each([
    [{ capturedPodIps: ['fd00::1'] }, 'NETFILTER_ERR_BAD_PLAN'],
    [{ capturedPodIps: ['10.0.0.1'], localPodIps: ['10.0.0.2'] }, 'NETFILTER_ERR_POD_NOT_LOCAL'],
    [{ capturedPodIps: [], ports: { inbound: 70000 } }, 'NETFILTER_ERR_BAD_PLAN'],
    [{ capturedPodIps: [], marks: { tproxy: 0x1000 } }, 'NETFILTER_ERR_BAD_PLAN'],
    [{ capturedPodIps: [], marks: { acceptedConnection: 0x400 } }, 'NETFILTER_ERR_BAD_PLAN'],
    [{ capturedPodIps: [], routeTable: 254 }, 'NETFILTER_ERR_BAD_PLAN'],
    [{ capturedPodIps: [], ipsetName: 'a-set-name-far-too-long-for-ipset' }, 'NETFILTER_ERR_BAD_PLAN'],
    [{ capturedPodIps: [], dns: { address: 'node-a', port: 15053 } }, 'NETFILTER_ERR_BAD_PLAN'],
    [{ capturedPodIps: [], dns: { address: '10.0.0.1', port: 0 } }, 'NETFILTER_ERR_BAD_PLAN'],
  ])('rejects %j with %s', (input, code) => {
    let thrown: unknown;
    try {
      planNodeCapture(input);
    } catch (err) {
      thrown = err;
    }
    expect(hasCode(thrown, code)).toBe(true);
  });
});

describe('renderers (golden)', () => {
  it('iptables-restore input', async () => {
    await expectGolden('node-b.iptables-restore.txt', renderIptablesRestore(nodeB));
  });

  it('iptables-restore input without hooks declares and fills only our chains', () => {
    const text = renderIptablesRestore(nodeB, { hooks: false });
    expect(text).not.toMatch(/^-A (PREROUTING|OUTPUT) /m);
    expect(text).toMatch(/^:ztunnel-PREROUTING - \[0:0\]$/m);
  });

  it('ipset restore input swaps a filled staging set in', async () => {
    await expectGolden('node-b.ipset-restore.txt', renderIpsetRestore(nodeB));
  });

  it('annotated dump', async () => {
    await expectGolden('node-b.annotated.txt', renderAnnotatedDump(nodeB));
  });

  it('annotated dump comments every rule line', () => {
    const ruleLines = renderAnnotatedDump(nodeB).split('\n').filter((line) => line.startsWith('-A '));
    expect(ruleLines.length).toBe(14);
    for (const line of ruleLines) expect(line).toMatch(/ {2}# \S/);
  });
});
