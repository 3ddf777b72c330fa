/**
 * istio.io/waypoint-for at the waypoint, on istiod-lite's golden config of namespace wpfor's
 * waypoint (examples/waypoint-for/web.yaml; read as data): traffic addressed to an enrolled
 * workload's pod IP is served (workload|all) with the Gateway's L7 policy, and goes to that pod;
 * for service|none the pod IP is not a destination this waypoint serves.
 */
import { describe, expect, it } from 'vitest';
import { evaluateRbac } from '@mesh/envoy-config';
import { compileClusters, compileEndpoints, compileListeners } from './model.js';
import { compileRouteConfiguration, matchRoute } from '../routing/routes.js';
import { goldenWaypointConfig } from '../testing/golden.js';

const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const WEB_B = '10.77.2.41';
const VIP = '10.77.100.40';

for (const value of ['service', 'workload', 'all', 'none'] as const) {
  const golden = goldenWaypointConfig(`waypoint-wpfor-${value}`);
  const takesWorkloads = value === 'workload' || value === 'all';
  const takesService = value === 'service' || value === 'all';
  describe.skipIf(!golden)(`waypoint-for: ${value}`, () => {
    const listeners = compileListeners(golden!.listeners);
    const select = (ip: string, port: number) => listeners.selectChain({ destinationIp: ip, destinationPort: port, applicationProtocol: "'http/1.1'" });

    it(`${takesWorkloads ? 'serves' : 'does not serve'} a pod IP, ${takesService ? 'serves' : 'does not serve'} the VIP`, () => {
      expect(select(WEB_B, 8080)).toBe(takesWorkloads ? `inbound-pod|8080|http|${WEB_B}` : undefined);
      expect(listeners.selectChain({ destinationIp: WEB_B, destinationPort: 8080, applicationProtocol: '' })).toBe(takesWorkloads ? `inbound-pod|8080|tcp|${WEB_B}` : undefined);
      expect(select(VIP, 80)).toBe(takesService ? 'inbound-vip|80|http|web.wpfor.svc.cluster.local' : undefined);
      // The opted-out pod and undeclared ports are never served.
      expect(select('10.77.2.42', 8080)).toBeUndefined();
      expect(select(WEB_B, 9999)).toBeUndefined();
    });

    it.skipIf(!takesWorkloads)("applies the Gateway's L7 policy and routes to the pod itself", () => {
      const chain = listeners.chains.get(`inbound-pod|8080|http|${WEB_B}`);
      if (chain?.kind !== 'http') throw new Error('expected an HTTP chain');
      const request = (path: string) => ({ peerIdentity: SLEEP, sourceIp: '10.77.1.10', destinationPort: 8080, method: 'GET', path, authority: `${WEB_B}:8080`, headers: {} });
      expect(evaluateRbac(chain.rbac, request('/'))).toMatchObject({ allowed: true });
      expect(evaluateRbac(chain.rbac, request('/private'))).toMatchObject({ allowed: false, policy: 'ns[wpfor]-policy[deny-private]-rule[0]' });

      const route = golden!.routes.find((r) => (r as { name: string }).name === chain.routeConfigName);
      const matched = matchRoute(compileRouteConfiguration(route, 'route'), { method: 'GET', path: '/', authority: `${WEB_B}:8080`, headers: {} });
      expect(matched?.action).toMatchObject({ kind: 'route', clusters: [{ name: `inbound-pod|8080||${WEB_B}` }] });
      expect(compileClusters(golden!.clusters).clusters.get(`inbound-pod|8080||${WEB_B}`)).toMatchObject({ kind: 'eds' });
      expect(compileEndpoints(golden!.endpoints).get(`inbound-pod|8080||${WEB_B}`)).toEqual([
        { destination: `${WEB_B}:8080`, tunnelAddress: `${WEB_B}:15008`, identity: 'spiffe://cluster.local/ns/wpfor/sa/web', workload: 'web-b', namespace: 'wpfor' },
      ]);
    });
  });
}
