/**
 * Contract with istiod-lite: its golden xDS output (apps/istiod-lite/test/golden, read as data;
 * apps never import each other) must compile here and route the bookinfo paths of
 * examples/README.md. Skipped when the goldens are not there.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { localWorkloads, serviceVipOf, planOutbound, planInboundPlaintext, planInboundTunnel } from '@mesh/ztunnel-plan';
import { modelOf } from '../testing/model.js';
import { RoundRobin } from '@mesh/proxy-runtime';

const GOLDEN_DIR = fileURLToPath(new URL('../../../istiod-lite/test/golden/', import.meta.url));
const golden = (name: string) => JSON.parse(readFileSync(`${GOLDEN_DIR}${name}`, 'utf8')) as { listeners: unknown[]; clusters: unknown[]; endpoints: unknown[] };
const has = (name: string) => existsSync(`${GOLDEN_DIR}${name}`);
const conn = (src: string, dst: string, port: number) => ({ src: { ip: src, port: 40000 }, dst: { ip: dst, port } });
const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const PRODUCTPAGE = 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage';

describe.skipIf(!has('bookinfo-node-a.json'))('istiod-lite golden xDS', () => {
  it('node-a: compiles and routes VIP, pod and outside destinations', () => {
    const model = modelOf(golden('bookinfo-node-a.json'));
    const rr = new RoundRobin();
    expect(localWorkloads(model).map((w) => w.ip).sort()).toEqual(['10.77.1.10', '10.77.1.11', '10.77.1.12']);
    const ratings = planOutbound(model, conn('10.77.1.10', '10.77.100.13', 9080), rr);
    expect(ratings).toMatchObject({ kind: 'hbone', destination: '10.77.2.13:15008', authority: '10.77.2.13:9080', sourceIdentity: SLEEP });
    const reviews = new Set(
      Array.from({ length: 3 }, () => {
        const p = planOutbound(model, conn('10.77.1.11', '10.77.100.11', 9080), rr);
        return p.kind === 'hbone' ? p.authority : p.kind;
      }),
    );
    expect(reviews).toEqual(new Set(['10.77.1.12:9080', '10.77.2.10:9080', '10.77.2.11:9080']));
    expect(planOutbound(model, conn('10.77.1.10', '10.77.2.12', 9080), rr)).toMatchObject({ kind: 'hbone', destination: '10.77.2.12:15008', authority: '10.77.2.12:9080' });
    expect(planOutbound(model, conn('10.77.1.10', '192.0.2.1', 443), rr)).toMatchObject({ kind: 'passthrough', destination: '192.0.2.1:443' });
    expect(planOutbound(model, conn('10.77.1.10', '10.77.100.13', 15001), rr)).toMatchObject({ kind: 'blackhole' });
    // Service names resolve to VIPs from the config (SOCKS5 host names in explicit mode).
    expect(serviceVipOf(model, 'reviews.default.svc.cluster.local')).toBe('10.77.100.11');
    expect(serviceVipOf(model, 'ratings.default')).toBe('10.77.100.13');
    expect(serviceVipOf(model, 'details')).toBe('10.77.100.12');
    expect(serviceVipOf(model, 'nope')).toBeUndefined();
  });

  it('node-b: accepts tunnels to its pods and refuses others', () => {
    const model = modelOf(golden('bookinfo-node-b.json'));
    const facts = { localIp: '10.77.2.13', authority: '10.77.2.13:9080', originalDstHeader: '10.77.2.13:9080', peerIdentity: SLEEP, sourceIp: '10.77.1.10' };
    expect(planInboundTunnel(model, facts)).toMatchObject({ kind: 'accept', target: '10.77.2.13:9080' });
    expect(planInboundTunnel(model, { ...facts, authority: '10.77.1.10:80', originalDstHeader: undefined })).toMatchObject({ kind: 'reject', status: 400 });
  });

  it.skipIf(!has('deny-node-b.json'))('deny-node-b: DENY sleep → ratings names the policy', () => {
    const model = modelOf(golden('deny-node-b.json'));
    const facts = { localIp: '10.77.2.13', authority: '10.77.2.13:9080', originalDstHeader: '10.77.2.13:9080', peerIdentity: SLEEP, sourceIp: '10.77.1.10' };
    expect(planInboundTunnel(model, facts)).toMatchObject({ kind: 'reject', status: 401, policy: expect.stringContaining('deny-sleep') });
    expect(planInboundTunnel(model, { ...facts, peerIdentity: PRODUCTPAGE })).toMatchObject({ kind: 'accept' });
  });

  it.skipIf(!has('allow-node-a.json'))('allow-node-a: only productpage reaches reviews-v1', () => {
    const model = modelOf(golden('allow-node-a.json'));
    const facts = { localIp: '10.77.1.12', authority: '10.77.1.12:9080', originalDstHeader: '10.77.1.12:9080', peerIdentity: PRODUCTPAGE, sourceIp: '10.77.1.11' };
    expect(planInboundTunnel(model, facts)).toMatchObject({ kind: 'accept' });
    expect(planInboundTunnel(model, { ...facts, peerIdentity: SLEEP })).toMatchObject({ kind: 'reject', status: 401 });
  });

  it.skipIf(!has('strict-node-a.json'))('strict-node-a: plaintext is refused', () => {
    const model = modelOf(golden('strict-node-a.json'));
    expect(planInboundPlaintext(model, { src: { ip: '10.77.0.99', port: 1 }, dst: { ip: '10.77.1.11', port: 9080 } })).toMatchObject({ kind: 'reject', status: 401 });
  });
});
