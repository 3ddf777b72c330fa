import { describe, expect, it } from 'vitest';
import { isWaypointGateway, ownedBy, waypointObjectPath, waypointObjects } from './kubernetes-waypoints.js';

const gateway = (gatewayClassName: string, uid = 'u-1') => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'Gateway',
  metadata: { name: 'waypoint', namespace: 'app', ...(uid ? { uid } : {}) },
  spec: { gatewayClassName },
});
const OPTIONS = { image: 'mesh/waypoint:latest', xdsAddress: 'istiod.istio-system.svc:15012', trustDomain: 'cluster.local' };

describe('waypointObjects', () => {
  it('is only for Gateways of class istio-waypoint that have a uid', () => {
    expect(isWaypointGateway(gateway('istio-waypoint'))).toBe(true);
    expect(isWaypointGateway(gateway('istio'))).toBe(false);
    expect(isWaypointGateway(gateway('istio-waypoint', ''))).toBe(false);
    // Istio's IsManaged: a hostname (or several addresses) is a manual deployment; one IP is a requested address.
    const withAddresses = (addresses: Array<{ type?: string; value: string }>) => ({ ...gateway('istio-waypoint'), spec: { gatewayClassName: 'istio-waypoint', addresses } });
    expect(isWaypointGateway(withAddresses([{ type: 'Hostname', value: 'wp.example' }]))).toBe(false);
    expect(isWaypointGateway(withAddresses([{ value: '10.0.0.1' }, { value: '10.0.0.2' }]))).toBe(false);
    expect(isWaypointGateway(withAddresses([{ type: 'IPAddress', value: '10.0.0.1' }]))).toBe(true);
  });

  it('makes a ServiceAccount, Deployment and Service named after the Gateway, each owned by it', () => {
    const objects = waypointObjects(gateway('istio-waypoint'), OPTIONS);
    expect(objects.map((o) => `${o.kind} ${waypointObjectPath(o)}`)).toEqual([
      'ServiceAccount /api/v1/namespaces/app/serviceaccounts/waypoint',
      'Deployment /apis/apps/v1/namespaces/app/deployments/waypoint',
      'Service /api/v1/namespaces/app/services/waypoint',
    ]);
    for (const object of objects) {
      expect(object.metadata?.labels).toMatchObject({ 'gateway.networking.k8s.io/gateway-name': 'waypoint', 'istio.io/gateway-name': 'waypoint', 'gateway.istio.io/managed': 'istio.io-mesh-controller' });
      expect(ownedBy(object, gateway('istio-waypoint'))).toBe(true);
      expect(ownedBy(object, gateway('istio-waypoint', 'u-2'))).toBe(false);
    }
    expect(objects[2]!.metadata?.labels?.['istio.io/use-waypoint']).toBe('none');
    const deployment = objects[1] as { spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: Array<{ image: string; env: Array<{ name: string; value?: string }> }> } } } };
    expect(deployment.spec.template.metadata.labels).toMatchObject({ 'gateway.networking.k8s.io/gateway-name': 'waypoint', 'istio.io/dataplane-mode': 'none' });
    const [container] = deployment.spec.template.spec.containers;
    expect(container!.image).toBe('mesh/waypoint:latest');
    expect(Object.fromEntries(container!.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value]))).toEqual({
      XDS_ADDRESS: 'istiod.istio-system.svc:15012',
      TOKEN_FILE: '/var/run/secrets/tokens/istio-token',
      CA_ROOT_CERT: '/var/run/secrets/istio/root-cert.pem',
      TRUST_DOMAIN: 'cluster.local',
    });
  });
});
