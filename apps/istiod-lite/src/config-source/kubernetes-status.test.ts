/**
 * The status written back, from a snapshot of the sample mesh: what is written, that an unchanged
 * status writes nothing (no write loops), that other controllers' route parents stay, and that
 * lastTransitionTime moves only when a condition's status does.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildSnapshot, parseManifestFiles } from '@mesh/mesh-model';
import { describe, expect, it } from 'vitest';
import { ROUTE_STATUS_CONTROLLER, authorizationPolicyStatusUpdate, gatewayStatusUpdate, httpRouteStatusUpdate } from './kubernetes-status.js';

const EXAMPLES = fileURLToPath(new URL('../../../../examples/', import.meta.url));
const files = ['bookinfo/details.yaml', 'waypoint/echo.yaml'].map((f) => ({ path: f, text: readFileSync(EXAMPLES + f, 'utf8') }));
const snapshot = buildSnapshot(parseManifestFiles(files).resources, { trustDomain: 'cluster.local' });
const route = snapshot.httpRoutes.get('echo/echo')!;
const gateway = snapshot.gateways.get('echo/waypoint')!;
const T0 = '2026-12-05T22:00:00Z';
const T1 = '2026-12-05T22:05:00Z';

describe('HTTPRoute status.parents', () => {
  it('writes Accepted and ResolvedRefs per parentRef under Istio controllerName, then nothing while it holds', () => {
    const first = httpRouteStatusUpdate(snapshot, route, 3, undefined, T0)!;
    expect(first.parents).toEqual([
      {
        parentRef: { group: '', kind: 'Service', name: 'echo', port: 80 },
        controllerName: ROUTE_STATUS_CONTROLLER,
        conditions: [
          expect.objectContaining({ type: 'Accepted', status: 'True', reason: 'Accepted', observedGeneration: 3, lastTransitionTime: T0 }),
          expect.objectContaining({ type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', observedGeneration: 3, lastTransitionTime: T0 }),
        ],
      },
    ]);
    expect(httpRouteStatusUpdate(snapshot, route, 3, first, T1)).toBeUndefined();
    // A new generation is a new observedGeneration; the transition time stays.
    const next = httpRouteStatusUpdate(snapshot, route, 4, first, T1)!;
    expect(next.parents[0]).toMatchObject({ conditions: [{ observedGeneration: 4, lastTransitionTime: T0 }, { observedGeneration: 4, lastTransitionTime: T0 }] });
  });

  it('keeps other controllers’ parent entries', () => {
    const theirs = { parentRef: { name: 'gw' }, controllerName: 'example.com/other', conditions: [] };
    const update = httpRouteStatusUpdate(snapshot, route, 1, { parents: [theirs] }, T0)!;
    expect(update.parents[0]).toEqual(theirs);
    expect(update.parents).toHaveLength(2);
    expect(httpRouteStatusUpdate(snapshot, route, 1, update, T1)).toBeUndefined();
  });
});

describe('waypoint Gateway conditions', () => {
  it('Accepted and Programmed (its pod has an IP), keeping conditions it does not own', () => {
    const other = { type: 'Example', status: 'True', reason: 'X', message: '', lastTransitionTime: T0 };
    const update = gatewayStatusUpdate(snapshot, gateway, 1, { conditions: [other], addresses: [] }, T0)!;
    expect(update.conditions).toEqual([
      other,
      expect.objectContaining({ type: 'Accepted', status: 'True', reason: 'Accepted', observedGeneration: 1 }),
      expect.objectContaining({ type: 'Programmed', status: 'True', reason: 'Programmed', observedGeneration: 1 }),
    ]);
    expect(gatewayStatusUpdate(snapshot, gateway, 1, update, T1)).toBeUndefined();
  });

  it('Programmed False (AddressNotAssigned) while the waypoint has no address; its transition time moves', () => {
    const withPod = gatewayStatusUpdate(snapshot, gateway, 1, undefined, T0)!;
    const noPod = buildSnapshot(parseManifestFiles(files).resources.filter((r) => !(r.kind === 'Pod' && r.name === 'waypoint-0')), { trustDomain: 'cluster.local' });
    const update = gatewayStatusUpdate(noPod, noPod.gateways.get('echo/waypoint')!, 1, withPod, T1)!;
    expect(update.conditions).toEqual([
      expect.objectContaining({ type: 'Accepted', status: 'True', lastTransitionTime: T0 }),
      expect.objectContaining({ type: 'Programmed', status: 'False', reason: 'AddressNotAssigned', lastTransitionTime: T1 }),
    ]);
  });
});

describe('AuthorizationPolicy WaypointAccepted and ZtunnelAccepted', () => {
  type Policy = Parameters<typeof authorizationPolicyStatusUpdate>[1];
  const policy = (targetRefs: Array<{ group: string; kind: string; name: string }>, spec: Partial<Pick<Policy, 'action' | 'rules' | 'selector'>> = {}) =>
    ({ kind: 'AuthorizationPolicy', namespace: 'echo', name: 'p', labels: {}, annotations: {}, targetRefs, action: 'ALLOW', rules: [], dryRun: false, ...spec }) as Policy;
  const gatewayRef = { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'waypoint' };
  const rule = (parts: Partial<Policy['rules'][number]>): Policy['rules'][number] => ({ from: [], to: [], when: [], ...parts });
  const ztunnelAccepted = { type: 'ZtunnelAccepted', status: 'True', reason: 'Accepted', message: 'attached to ztunnel' };

  it("says which waypoint a targetRef binds to, as Istio, then nothing while it holds", () => {
    const first = authorizationPolicyStatusUpdate(snapshot, policy([gatewayRef]), 2, undefined, T0)!;
    expect(first.conditions).toEqual([{ type: 'WaypointAccepted', status: 'True', reason: 'Accepted', message: 'bound to echo/waypoint', observedGeneration: 2, lastTransitionTime: T0 }]);
    expect(authorizationPolicyStatusUpdate(snapshot, policy([gatewayRef]), 2, first, T1)).toBeUndefined();
    // A Service that uses the waypoint binds to it too.
    expect(authorizationPolicyStatusUpdate(snapshot, policy([{ group: '', kind: 'Service', name: 'echo' }]), 2, undefined, T0)!.conditions[0]).toMatchObject({ status: 'True', message: 'bound to echo/waypoint' });
  });

  it("is False with Istio's reasons when nothing binds, and flattens several targetRefs", () => {
    const missing = authorizationPolicyStatusUpdate(snapshot, policy([{ group: '', kind: 'Service', name: 'nope' }]), 1, undefined, T0)!;
    expect(missing.conditions[0]).toMatchObject({ status: 'False', reason: 'TargetNotFound', message: 'Service echo/nope was not found' });
    const both = authorizationPolicyStatusUpdate(snapshot, policy([gatewayRef, { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'other' }]), 1, undefined, T0)!;
    expect(both.conditions[0]).toMatchObject({ status: 'True', reason: 'PartiallyInvalid', message: 'Invalid targetRefs: Gateway.gateway.networking.k8s.io:echo/other' });
  });

  it('a policy without targetRefs is attached to ztunnel (selector, namespace or mesh-wide), then nothing while it holds', () => {
    const selector = { matchLabels: { app: 'echo' } };
    const l4 = [rule({ from: [{ source: { principals: ['cluster.local/ns/echo/sa/client'] } }], to: [{ operation: { ports: ['8080'] } }], when: [{ key: 'source.ip', values: ['10.0.0.0/8'] }] })];
    const first = authorizationPolicyStatusUpdate(snapshot, policy([], { selector, rules: l4 }), 3, undefined, T0)!;
    expect(first.conditions).toEqual([{ ...ztunnelAccepted, observedGeneration: 3, lastTransitionTime: T0 }]);
    expect(authorizationPolicyStatusUpdate(snapshot, policy([], { selector, rules: l4 }), 3, first, T1)).toBeUndefined();
    // Namespace-wide, an allow-nothing policy (no rules), and a DENY: the same.
    expect(authorizationPolicyStatusUpdate(snapshot, policy([]), 1, undefined, T0)!.conditions).toEqual([{ ...ztunnelAccepted, observedGeneration: 1, lastTransitionTime: T0 }]);
    expect(authorizationPolicyStatusUpdate(snapshot, policy([], { action: 'DENY', rules: l4 }), 1, undefined, T0)!.conditions[0]).toMatchObject(ztunnelAccepted);
    // A selector matching only the waypoint's pods (which ztunnel does not capture): Istio looks at the policy alone.
    expect(authorizationPolicyStatusUpdate(snapshot, policy([], { selector: { matchLabels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' } } }), 1, undefined, T0)!.conditions[0]).toMatchObject(ztunnelAccepted);
  });

  it("says UnsupportedValue, with Istio's message and this mesh's list, when ztunnel cannot see some attributes", () => {
    const http = [
      rule({ to: [{ operation: { ports: ['8080'], methods: ['GET'], notPaths: ['/admin'] } }] }),
      rule({ from: [{ source: { requestPrincipals: ['iss/sub'], trustDomains: ['td'] } }], when: [{ key: 'request.headers[x-user]', values: ['a'] }, { key: 'source.namespace', values: ['echo'] }] }),
      rule({ to: [{ operation: { methods: ['POST'] } }] }),
    ];
    const found = 'found: methods, notPaths, request.headers[x-user], requestPrincipals, trustDomains';
    const allow = authorizationPolicyStatusUpdate(snapshot, policy([], { rules: http }), 2, undefined, T0)!;
    expect(allow.conditions).toEqual([
      {
        type: 'ZtunnelAccepted',
        status: 'True',
        reason: 'UnsupportedValue',
        message: `ztunnel does not support HTTP attributes (${found}). In ambient mode you must use a waypoint proxy to enforce HTTP rules. Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more restrictive than requested.`,
        observedGeneration: 2,
        lastTransitionTime: T0,
      },
    ]);
    const deny = authorizationPolicyStatusUpdate(snapshot, policy([], { action: 'DENY', rules: http }), 2, undefined, T0)!;
    expect(deny.conditions[0]?.message).toBe(
      `ztunnel does not support HTTP attributes (${found}). In ambient mode you must use a waypoint proxy to enforce HTTP rules. DENY policy with HTTP attributes is enforced without the HTTP rules. This will be more restrictive than requested.`,
    );
    // Still True: lastTransitionTime stays when the rules lose their HTTP attributes.
    const fixed = authorizationPolicyStatusUpdate(snapshot, policy([], { rules: [rule({ to: [{ operation: { ports: ['8080'] } }] })] }), 3, allow, T1)!;
    expect(fixed.conditions).toEqual([{ ...ztunnelAccepted, observedGeneration: 3, lastTransitionTime: T0 }]);
  });

  it('AUDIT is False: ztunnel is not sent it', () => {
    const update = authorizationPolicyStatusUpdate(snapshot, policy([], { action: 'AUDIT' }), 1, { conditions: [{ ...ztunnelAccepted, lastTransitionTime: T0 }] }, T1)!;
    expect(update.conditions).toEqual([{ type: 'ZtunnelAccepted', status: 'False', reason: 'UnsupportedValue', message: 'ztunnel does not support the AUDIT action', observedGeneration: 1, lastTransitionTime: T1 }]);
  });

  it('moving between ztunnel and a waypoint swaps the two conditions and leaves the others', () => {
    const other = { type: 'Example', status: 'True', reason: 'X', message: '', lastTransitionTime: T0 };
    const atZtunnel = authorizationPolicyStatusUpdate(snapshot, policy([]), 1, { conditions: [other] }, T0)!;
    expect(atZtunnel.conditions).toEqual([other, { ...ztunnelAccepted, observedGeneration: 1, lastTransitionTime: T0 }]);
    // The policy gains a targetRef: ZtunnelAccepted goes, WaypointAccepted comes.
    const atWaypoint = authorizationPolicyStatusUpdate(snapshot, policy([gatewayRef]), 2, atZtunnel, T1)!;
    expect(atWaypoint.conditions).toEqual([other, { type: 'WaypointAccepted', status: 'True', reason: 'Accepted', message: 'bound to echo/waypoint', observedGeneration: 2, lastTransitionTime: T1 }]);
    // And back.
    expect(authorizationPolicyStatusUpdate(snapshot, policy([]), 3, atWaypoint, T1)!.conditions).toEqual([other, { ...ztunnelAccepted, observedGeneration: 3, lastTransitionTime: T1 }]);
  });
});
