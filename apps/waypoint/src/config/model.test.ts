import { describe, expect, it } from 'vitest';
import { TYPE_URL } from '@mesh/xds';
import { goldenWaypointConfig } from '../testing/golden.js';
import { compileClusters, compileEndpoints, compileListeners } from './model.js';
import { ModelStore } from './store.js';

const golden = goldenWaypointConfig('waypoint-echo');
const ECHO_VIP = '10.77.100.20';

describe.skipIf(!golden)("contract with istiod-lite's golden waypoint xDS", () => {
  it('connect_terminate: identity from the SDS certificate, port 15008', () => {
    const l = compileListeners(golden!.listeners);
    expect(l.identity).toBe('spiffe://cluster.local/ns/echo/sa/waypoint');
    expect(l.hbonePort).toBe(15008);
  });

  it.each([
    ['sniffed HTTP/1.1', ECHO_VIP, 80, "'http/1.1'", 'inbound-vip|80|http|echo.echo.svc.cluster.local'],
    ['sniffed h2c', ECHO_VIP, 80, "'h2c'", 'inbound-vip|80|http|echo.echo.svc.cluster.local'],
    ['not HTTP: TCP chain', ECHO_VIP, 80, '', 'inbound-vip|80|tcp|echo.echo.svc.cluster.local'],
    ['a port the service does not have', ECHO_VIP, 81, "'http/1.1'", undefined],
    ['a VIP the waypoint does not serve', '10.77.100.11', 9080, "'http/1.1'", undefined],
  ])('main_internal selects a chain: %s', (_why, ip, port, protocol, want) => {
    const l = compileListeners(golden!.listeners);
    expect(l.selectChain({ destinationIp: ip, destinationPort: port, applicationProtocol: protocol })).toBe(want);
  });

  it('sniffs only where the chain depends on it', () => {
    const l = compileListeners(golden!.listeners);
    expect(l.sniffs(ECHO_VIP, 80)).toBe(true);
    expect(l.sniffs('10.77.100.99', 80)).toBe(false);
  });

  it('clusters and endpoints: HBONE to pod:15008 under the waypoint identity, pod identity expected', () => {
    const { originate, clusters } = compileClusters(golden!.clusters);
    expect(originate).toEqual({ identity: 'spiffe://cluster.local/ns/echo/sa/waypoint', tunnelPort: 15008 });
    expect(clusters.get('inbound-vip|80|http|echo-v1.echo.svc.cluster.local')?.kind).toBe('eds');
    const endpoints = compileEndpoints(golden!.endpoints);
    expect(endpoints.get('inbound-vip|80|http|echo-v1.echo.svc.cluster.local')).toEqual([
      { destination: '10.77.1.20:8080', tunnelAddress: '10.77.1.20:15008', identity: 'spiffe://cluster.local/ns/echo/sa/echo', workload: 'echo-v1', namespace: 'echo' },
    ]);
  });
});

describe('ModelStore: NACK keeps the last good config', () => {
  it.skipIf(!golden)('a listener set it cannot run is rejected with the reason; the previous stays', () => {
    const store = new ModelStore();
    expect(store.validate(TYPE_URL.LISTENER, '1', golden!.listeners)).toBeUndefined();
    store.commit(TYPE_URL.LISTENER);
    const before = store.model.listeners;
    const bad = [...golden!.listeners, { name: 'ztunnel_outbound' }];
    expect(store.validate(TYPE_URL.LISTENER, '2', bad)).toMatch(/ztunnel_outbound: is not a listener the waypoint runs/);
    store.commit(TYPE_URL.LISTENER);
    expect(store.model.listeners).toBe(before);
  });

  it('an unsupported HTTP filter is refused by path', () => {
    const listeners = structuredClone(golden!.listeners) as Array<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
    const main = listeners.find((l) => l.name === 'main_internal')!;
    const hcm = main.filter_chains.find((c: { name: string }) => c.name.includes('|http|')).filters[0].typed_config;
    hcm.http_filters.unshift({ name: 'envoy.filters.http.fault', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault' } });
    expect(() => compileListeners(listeners)).toThrow(/HTTP filter envoy.extensions.filters.http.fault.v3.HTTPFault is not supported/);
  });
});
