import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildConfigDump, type ResourceJson } from '@mesh/xds';
import { parseConfigDump } from '../config-dump/config-dump.js';
import { hasCode } from '@mesh/errors';
import { fixtureDump, type FixtureName } from '../../test/helpers.js';
import { explainPath, type ExplainInput } from './explain.js';
import { formatExplanation } from './format.js';

function proxies(a: FixtureName, b: FixtureName): ExplainInput['proxies'] {
  return [
    { name: 'ztunnel-node-a', dump: fixtureDump(a) },
    { name: 'ztunnel-node-b', dump: fixtureDump(b) },
  ];
}

const bookinfo = proxies('bookinfo-node-a', 'bookinfo-node-b');

describe('explainPath', () => {
  const cases: {
    name: string;
    mesh?: ExplainInput['proxies'];
    from: string;
    to: string;
    endpoint?: string;
    outcome: string;
    policy?: string;
    titles: RegExp[];
  }[] = [
    {
      name: 'productpage → reviews Service, same node endpoint (docs/walkthrough.md)',
      from: 'productpage-v1.default',
      to: 'reviews:9080',
      outcome: 'allowed',
      titles: [
        /^listener ztunnel_outbound on 0\.0\.0\.0:15001 captures 10\.77\.1\.11 → 10\.77\.100\.11:9080$/,
        /^filter_chain_matcher: destination port 9080 matches no entry → on_no_match$/,
        /^filter_chain_matcher: source IP 10\.77\.1\.11 matches entry 10\.77\.1\.11$/,
        /^filter_chain_matcher: destination IP 10\.77\.100\.11 matches entry 10\.77\.100\.11$/,
        /^filter_chain_matcher: destination port 9080 matches entry 9080$/,
        /^filter chain spiffe:\/\/cluster\.local\/ns\/default\/sa\/bookinfo-productpage_to_http_reviews\.default\.svc\.cluster\.local_outbound_internal: tcp_proxy → the cluster of the same name$/,
        /_outbound_internal \(EDS\): 3 endpoints$/,
        /^endpoint 10\.77\.1\.12:9080 chosen/,
        /^internal listener outbound_tunnel_lis_spiffe:\/\/cluster\.local\/ns\/default\/sa\/bookinfo-productpage: tcp_proxy → cluster outbound_tunnel_clus_.*CONNECT :authority 10\.77\.1\.12:9080$/,
        /^tunnel cluster outbound_tunnel_clus_spiffe:\/\/cluster\.local\/ns\/default\/sa\/bookinfo-productpage \(ORIGINAL_DST\): HBONE to 10\.77\.1\.12:15008$/,
        /^listener ztunnel_inbound on 0\.0\.0\.0:15008: filter chain inbound_10\.77\.1\.12 \(destination 10\.77\.1\.12\), same node$/,
        /^authorization: ALLOW \(no authorization policy applies\)$/,
        /^CONNECT → cluster virtual_inbound: connects to 10\.77\.1\.12:9080/,
      ],
    },
    {
      name: 'cross-node: --endpoint follows reviews-v2 on node-b',
      from: 'productpage-v1.default',
      to: 'reviews.default.svc.cluster.local:9080',
      endpoint: '10.77.2.10',
      outcome: 'allowed',
      titles: [/^endpoint 10\.77\.2\.10:9080 chosen \(--endpoint\)$/, /HBONE to 10\.77\.2\.10:15008$/, /^listener ztunnel_inbound on 0\.0\.0\.0:15008: filter chain inbound_10\.77\.2\.10 \(destination 10\.77\.2\.10\)$/],
    },
    {
      name: 'DENY policy on ratings decides for sleep',
      mesh: proxies('bookinfo-node-a', 'deny-node-b'),
      from: 'sleep.default',
      to: 'ratings:9080',
      outcome: 'denied',
      policy: 'ns[default]-policy[deny-sleep]-rule[0]',
      titles: [/^authorization: DENY by ns\[default\]-policy\[deny-sleep\]-rule\[0\] \(a DENY policy matches\)$/],
    },
    {
      name: 'the DENY policy does not touch productpage',
      mesh: proxies('bookinfo-node-a', 'deny-node-b'),
      from: 'productpage-v1.default',
      to: 'ratings:9080',
      outcome: 'allowed',
      titles: [/^authorization: ALLOW \(no DENY policy matches and no ALLOW policy applies\)$/],
    },
    {
      name: 'ALLOW by principal and port: productpage may reach reviews-v1',
      mesh: proxies('allow-node-a', 'bookinfo-node-b'),
      from: 'productpage-v1.default',
      to: 'reviews:9080',
      outcome: 'allowed',
      policy: 'ns[default]-policy[reviews-from-productpage]-rule[0]',
      titles: [/^authorization: ALLOW by ns\[default\]-policy\[reviews-from-productpage\]-rule\[0\] \(an ALLOW policy matches\)$/],
    },
    {
      name: 'ALLOW policies apply and sleep matches none',
      mesh: proxies('allow-node-a', 'bookinfo-node-b'),
      from: 'sleep.default',
      to: 'reviews:9080',
      outcome: 'denied',
      titles: [/^authorization: DENY \(ALLOW policies apply and none matches\)$/],
    },
    {
      name: 'unknown port on a Service VIP passes through',
      from: 'sleep.default',
      to: '10.77.100.11:8080',
      outcome: 'passthrough',
      titles: [/^filter_chain_matcher: destination port 8080 matches no entry → on_no_match$/, /PassthroughFilterChain: tcp_proxy → cluster PassthroughCluster$/],
    },
    {
      name: 'a pod IP is tunnelled directly',
      from: 'sleep.default',
      to: '10.77.2.13:9080',
      outcome: 'allowed',
      titles: [/^filter_chain_matcher: destination IP 10\.77\.2\.13 matches prefix 10\.77\.2\.$/, /^tcp_proxy tunnels directly: CONNECT :authority 10\.77\.2\.13:9080/, /HBONE to 10\.77\.2\.13:15008$/],
    },
    {
      name: 'port 15001 is the black hole',
      from: 'sleep.default',
      to: '10.77.100.11:15001',
      outcome: 'blackhole',
      titles: [/^filter_chain_matcher: destination port 15001 matches entry 15001$/],
    },
  ];

  it.each(cases)('$name', ({ mesh, from, to, endpoint, outcome, policy, titles }) => {
    const result = explainPath({ proxies: mesh ?? bookinfo, from, to, endpoint });
    expect(result.outcome).toBe(outcome);
    if (policy) expect(result.policy).toBe(policy);
    const stepTitles = result.steps.map((s) => s.title);
    // Each expected title appears, in order.
    let at = 0;
    for (const title of titles) {
      const found = stepTitles.findIndex((t, i) => i >= at && title.test(t));
      expect(found, `${String(title)} in\n${stepTitles.join('\n')}`).toBeGreaterThanOrEqual(0);
      at = found + 1;
    }
  });

  it('names the proxy each step reads: source ztunnel, then destination ztunnel', () => {
    const result = explainPath({ proxies: bookinfo, from: 'productpage-v1.default', to: 'reviews:9080', endpoint: '10.77.2.11:9080' });
    expect(result.steps[0]?.proxy).toBe('ztunnel-node-a');
    expect(result.steps.at(-1)?.proxy).toBe('ztunnel-node-b');
  });

  it('an unknown source pod lists the known pods', () => {
    let error: unknown;
    try {
      explainPath({ proxies: bookinfo, from: 'nope.default', to: 'reviews:9080' });
    } catch (err) {
      error = err;
    }
    expect(hasCode(error, 'MESHCTL_ERR_EXPLAIN')).toBe(true);
    expect(String(error)).toMatch(/known pods: .*productpage-v1\.default \(10\.77\.1\.11\)/);
  });

  it('stops with a clear step when the destination node config is missing', () => {
    const result = explainPath({ proxies: [{ name: 'ztunnel-node-a', dump: fixtureDump('bookinfo-node-a') }], from: 'sleep.default', to: 'ratings:9080' });
    expect(result.outcome).toBe('incomplete');
    expect(result.summary).toMatch(/no ztunnel config serves 10\.77\.2\.13/);
  });

  it('formats numbered steps and the result', () => {
    const text = formatExplanation(explainPath({ proxies: bookinfo, from: 'productpage-v1.default', to: 'reviews:9080' }));
    expect(text).toMatch(/^productpage-v1\.default \(10\.77\.1\.11\) → reviews\.default\.svc\.cluster\.local:9080 \(10\.77\.100\.11:9080\)\n/);
    expect(text).toMatch(/\n 1\. \[ztunnel-node-a\] listener ztunnel_outbound/);
    expect(text).toMatch(/\n13\. \[ztunnel-node-a\] CONNECT → cluster virtual_inbound/);
    expect(text).toMatch(/\nResult: allowed: productpage-v1\.default reaches reviews-v1\.default at 10\.77\.1\.12:9080 over HBONE\n$/);
    expect(text).not.toMatch(/\u001b\[/);
  });
});

describe('explainPath through a waypoint', () => {
  it('stops at the waypoint and says so', async () => {
    const { parseConfigDump } = await import('../config-dump/config-dump.js');
    const { fixtureJson } = await import('../../test/helpers.js');
    // reviews behind a waypoint at 10.77.1.50: its endpoints tunnel there, addressed to the VIP.
    const json = JSON.parse(JSON.stringify(fixtureJson('bookinfo-node-a')).replaceAll('"address":"10.77.2.10:15008"', '"address":"10.77.1.50:15008"')) as unknown;
    const dump = parseConfigDump(json, 'waypoint fixture');
    const result = explainPath({ proxies: [{ name: 'ztunnel-node-a', dump }, { name: 'ztunnel-node-b', dump: fixtureDump('bookinfo-node-b') }], from: 'productpage-v1.default', to: 'reviews:9080', endpoint: '10.77.2.10' });
    expect(result.outcome).toBe('incomplete');
    expect(result.summary).toMatch(/the tunnel goes to 10\.77\.1\.50:15008, not to the destination 10\.77\.2\.10:9080: a waypoint/);
  });
});

/** istiod-lite's golden for examples/waypoint-for (waypoint-for: workload), node-a, as a config dump. */
const WAYPOINT_FOR_GOLDEN = fileURLToPath(new URL('../../../istiod-lite/test/golden/waypoint-for-workload-node-a.json', import.meta.url));
describe.skipIf(!existsSync(WAYPOINT_FOR_GOLDEN))('explainPath: a pod enrolled in a waypoint for workload traffic', () => {
  it('tunnels to the waypoint with :authority the pod, and stops there', () => {
    const golden = JSON.parse(readFileSync(WAYPOINT_FOR_GOLDEN, 'utf8')) as Record<'listeners' | 'clusters' | 'endpoints', ResourceJson[]>;
    const state = (resources: ResourceJson[]) => ({ version: 'v1', lastUpdated: '2026-12-05T00:00:00Z', resources });
    const dump = parseConfigDump(buildConfigDump({ listeners: state(golden.listeners), clusters: state(golden.clusters), endpoints: state(golden.endpoints), includeEds: true }), 'node-a');
    const result = explainPath({ proxies: [{ name: 'ztunnel-node-a', dump }], from: 'sleep.default', to: '10.77.2.41:8080' });
    expect(result.steps.map((s) => s.title)).toEqual(
      expect.arrayContaining([
        'filter chain spiffe://cluster.local/ns/default/sa/sleep_to_waypoint_waypoint.wpfor.svc.cluster.local_outbound_pod: tcp_proxy → the cluster of the same name',
        'cluster spiffe://cluster.local/ns/default/sa/sleep_to_waypoint_waypoint.wpfor.svc.cluster.local_outbound_pod (EDS, HBONE): 1 waypoint endpoint',
        'tcp_proxy tunnels to the waypoint 10.77.2.40:15008: CONNECT :authority 10.77.2.41:8080 (tunneling_config.hostname %DOWNSTREAM_LOCAL_ADDRESS%)',
      ]),
    );
    expect(result.outcome).toBe('incomplete');
    expect(result.summary).toMatch(/the tunnel goes to 10\.77\.2\.40:15008, not to the destination 10\.77\.2\.41:8080: a waypoint/);
  });
});
