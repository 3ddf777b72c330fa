import { describe, expect, it } from 'vitest';
import { ipToBase64 } from './address.js';
import { addressFromXds, addressResourceName, authorizationFromXds, authorizationResourceName } from './from-xds.js';
import { joinEndpoints, endpointTargetPort } from './endpoints.js';

const OPTIONS = { trustDomain: 'cluster.local' };
const SLEEP = {
  uid: 'Kubernetes//Pod/default/sleep',
  name: 'sleep',
  namespace: 'default',
  addresses: [ipToBase64('10.77.1.10')],
  tunnel_protocol: 'HBONE',
  service_account: 'sleep',
  node: 'node-a',
  services: { 'default/sleep.default.svc.cluster.local': { ports: [{ service_port: 80, target_port: 8080 }] } },
  authorization_policies: ['default/deny-sleep'],
};

describe('workload API resources → what ztunnel holds', () => {
  it('a workload, with the mesh defaults for what istiod elides', () => {
    const r = addressFromXds({ workload: SLEEP }, OPTIONS);
    expect(r).toEqual({
      kind: 'workload',
      workload: {
        uid: SLEEP.uid,
        workloadIps: ['10.77.1.10'],
        protocol: 'HBONE',
        name: 'sleep',
        namespace: 'default',
        trustDomain: 'cluster.local',
        serviceAccount: 'sleep',
        workloadName: 'sleep',
        workloadType: 'deployment',
        canonicalName: '',
        canonicalRevision: '',
        clusterId: 'Kubernetes',
        node: 'node-a',
        network: '',
        status: 'Healthy',
        services: { 'default/sleep.default.svc.cluster.local': { '80': 8080 } },
        authorizationPolicies: ['default/deny-sleep'],
      },
    });
    expect(addressResourceName({ workload: SLEEP })).toBe(SLEEP.uid);
  });

  it('a service with a waypoint by hostname, joined to its endpoints', () => {
    const r = addressFromXds(
      {
        service: {
          name: 'sleep',
          namespace: 'default',
          hostname: 'sleep.default.svc.cluster.local',
          addresses: [{ address: ipToBase64('10.77.100.14') }],
          ports: [{ service_port: 80, app_protocol: 'HTTP11' }],
          waypoint: { hostname: { namespace: 'default', hostname: 'wp.default.svc.cluster.local' }, hbone_mtls_port: 15008 },
        },
      },
      OPTIONS,
    );
    if (r.kind !== 'service') throw new Error('expected a service');
    expect(r.service).toMatchObject({ vips: ['/10.77.100.14'], ports: { '80': 0 }, appProtocols: { '80': 'http' }, waypoint: { destination: 'default/wp.default.svc.cluster.local', hboneMtlsPort: 15008 } });
    const w = addressFromXds({ workload: SLEEP }, OPTIONS);
    if (w.kind !== 'workload') throw new Error('expected a workload');
    const [joined] = joinEndpoints([r.service], [w.workload]);
    const endpoint = joined!.endpoints[`${SLEEP.uid}:/10.77.1.10`]!;
    expect(endpoint).toEqual({ workloadUid: SLEEP.uid, service: 'default/sleep.default.svc.cluster.local', address: '/10.77.1.10', port: { '80': 8080 } });
    expect(endpointTargetPort(joined!, endpoint, 80)).toBe(8080);
    expect(endpointTargetPort(joined!, endpoint, 81)).toBeUndefined();
    expect(addressResourceName({ service: { namespace: 'default', hostname: 'sleep.default.svc.cluster.local' } })).toBe('default/sleep.default.svc.cluster.local');
  });

  it.each([
    [{ workload: { ...SLEEP, addresses: ['AQID'] } }, /workload Kubernetes\/\/Pod\/default\/sleep\.addresses\[0\]: an address must be 4 \(IPv4\) or 16 \(IPv6\) bytes, got 3/],
    [{ workload: { ...SLEEP, tunnel_protocol: 'LEGACY_ISTIO_MTLS' } }, /sleep\.tunnel_protocol: LEGACY_ISTIO_MTLS \(sidecar mTLS\) is not supported/],
    [{ workload: { ...SLEEP, network: 'remote' } }, /sleep\.network: network "remote": only the default network/],
    [{ workload: { ...SLEEP, services: { nokey: {} } } }, /sleep\.services\["nokey"\]: keys are/],
    [{ workload: { ...SLEEP, uid: undefined } }, /Workload\.uid: expected a non-empty string/],
    [{ service: { hostname: 'h', namespace: 'n', ports: [{ service_port: 70000 }] } }, /service n\/h\.ports\[0\]\.service_port: 70000 is not a port/],
    [{ service: { hostname: 'h', namespace: 'n', load_balancing: { mode: 'STRICT' } } }, /service n\/h\.load_balancing: locality-aware/],
    [{ workload: SLEEP, service: {} }, /Address: sets both/],
  ])('refuses %j naming the resource and field', (json, message) => {
    expect(() => addressFromXds(json, OPTIONS)).toThrow(message);
  });

  it('an authorization, in ztunnel dump form', () => {
    const json = {
      name: 'deny-sleep',
      namespace: 'default',
      scope: 'WORKLOAD_SELECTOR',
      action: 'DENY',
      dry_run: true,
      groups: [
        { rules: [{ matches: [{ principals: [{ exact: 'cluster.local/ns/default/sa/sleep' }], not_destination_ports: [15021] }] }, { matches: [{ source_ips: [{ address: ipToBase64('10.0.0.0'), length: 8 }] }] }] },
        {},
      ],
    };
    expect(authorizationFromXds(json)).toEqual({
      name: 'deny-sleep',
      namespace: 'default',
      scope: 'WorkloadSelector',
      action: 'Deny',
      dryRun: true,
      rules: [[[{ principals: [{ Exact: 'cluster.local/ns/default/sa/sleep' }], notDestinationPorts: [15021] }], [{ sourceIps: ['10.0.0.0/8'] }]], []],
    });
    expect(authorizationResourceName(json)).toBe('default/deny-sleep');
    expect(() => authorizationFromXds({ ...json, groups: [{ rules: [{ matches: [{ source_ips: [{ address: ipToBase64('10.0.0.0'), length: 40 }] }] }] }] })).toThrow(
      /authorization default\/deny-sleep\.groups\[0\]\.rules\[0\]\.matches\[0\]\.source_ips\[0\]\.length: 40 is not a prefix length/,
    );
    expect(() => authorizationFromXds({ ...json, action: 'AUDIT' })).toThrow(/authorization default\/deny-sleep\.action: "AUDIT" is not one of ALLOW, DENY/);
  });
});
