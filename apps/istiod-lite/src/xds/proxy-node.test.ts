import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import { buildSnapshot, parseManifests, type MeshSnapshot } from '@mesh/mesh-model';
import { checkNodeCredentialProxy, proxyFromNode, waypointProxyFromNode } from './proxy-node.js';

const ID = 'ztunnel~10.77.0.11~ztunnel-a~istio-system.svc.cluster.local';

describe('proxyFromNode', () => {
  it('reads type, ip, pod and namespace from the id and the node from NODE_NAME', () => {
    expect(proxyFromNode({ id: ID, metadata: { NODE_NAME: 'node-a' } })).toEqual({
      id: ID,
      type: 'ztunnel',
      ip: '10.77.0.11',
      podName: 'ztunnel-a',
      namespace: 'istio-system',
      nodeName: 'node-a',
      verified: false,
      metadata: { NODE_NAME: 'node-a' },
    });
  });

  it('takes the node from the certificate when verified, and refuses a contradicting claim', () => {
    expect(proxyFromNode({ id: ID }, 'node-b')).toMatchObject({ nodeName: 'node-b', verified: true });
    expect(proxyFromNode({ id: ID, metadata: { NODE_NAME: 'node-b' } }, 'node-b')).toMatchObject({ nodeName: 'node-b', verified: true });
    const attempt = () => proxyFromNode({ id: ID, metadata: { NODE_NAME: 'node-a' } }, 'node-b');
    expect(attempt).toThrow(/claims NODE_NAME node-a but its certificate is for node node-b/);
    try {
      attempt();
    } catch (err) {
      expect(hasCode(err, 'ISTIOD_ERR_NODE_MISMATCH')).toBe(true);
    }
  });

  it('refuses a node without id or without a node name', () => {
    expect(() => proxyFromNode(undefined)).toThrow(expect.objectContaining({ code: 'ISTIOD_ERR_BAD_NODE' }));
    expect(() => proxyFromNode({ id: ID })).toThrow(/did not say which node/);
  });
});

const ECHO = readFileSync(new URL('../../../../examples/waypoint/echo.yaml', import.meta.url), 'utf8');
const WAYPOINT_ID = 'waypoint~10.77.2.30~waypoint-0~echo.svc.cluster.local';
const ECHO_WAYPOINT = { namespace: 'echo', gateway: 'waypoint' };

function mesh(text: string): MeshSnapshot {
  const { resources, errors } = parseManifests(text, 'test.yaml');
  expect(errors).toEqual([]);
  return buildSnapshot(resources);
}

describe('waypointProxyFromNode (a stream opened with a waypoint credential)', () => {
  const snapshot = mesh(ECHO);

  it("serves it as its Gateway's waypoint, on its pod's node", () => {
    expect(waypointProxyFromNode({ id: WAYPOINT_ID, metadata: { NODE_NAME: 'node-b' } }, ECHO_WAYPOINT, snapshot)).toMatchObject({
      type: 'waypoint',
      podName: 'waypoint-0',
      namespace: 'echo',
      nodeName: 'node-b',
      verified: true,
    });
    expect(() => waypointProxyFromNode({ id: WAYPOINT_ID, metadata: { NODE_NAME: 'node-a' } }, ECHO_WAYPOINT, snapshot)).toThrow(
      /claims NODE_NAME node-a but its Gateway pod runs on node node-b/,
    );
  });

  it.each([
    ['a ztunnel', ID, /may connect only as a waypoint proxy of that Gateway, not as a ztunnel/],
    ['a waypoint of another namespace', 'waypoint~10.77.2.30~waypoint-0~default.svc.cluster.local', /its pod is in namespace default/],
    ['a pod of no Gateway', 'waypoint~10.77.1.20~echo-v1~echo.svc.cluster.local', /is not a pod of that Gateway/],
    ['a pod not in the mesh', 'waypoint~10.77.2.99~waypoint-9~echo.svc.cluster.local', /no pod echo\/waypoint-9/],
  ])('refuses it claiming to be %s', (_name, id, message) => {
    const attempt = () => waypointProxyFromNode({ id, metadata: { NODE_NAME: 'node-b' } }, ECHO_WAYPOINT, snapshot);
    expect(attempt).toThrow(message);
    expect(attempt).toThrow(expect.objectContaining({ code: 'ISTIOD_ERR_CALLER_NOT_ALLOWED' }));
  });

  it("refuses it for another Gateway's pod and once its Gateway is gone", () => {
    expect(() => waypointProxyFromNode({ id: WAYPOINT_ID }, { namespace: 'echo', gateway: 'other' }, snapshot)).toThrow(/no Gateway echo\/other with gatewayClassName istio-waypoint/);
    const withoutGateway = mesh(ECHO.split(/^---$/m).filter((d) => !/^kind: Gateway$/m.test(d)).join('---'));
    expect(() => waypointProxyFromNode({ id: WAYPOINT_ID }, ECHO_WAYPOINT, withoutGateway)).toThrow(/no Gateway echo\/waypoint with gatewayClassName istio-waypoint/);
  });
});

describe('checkNodeCredentialProxy (waypoints have credentials of their own)', () => {
  it('lets a node credential connect as its ztunnel, not as a waypoint', () => {
    expect(() => checkNodeCredentialProxy(proxyFromNode({ id: ID }, 'node-b'))).not.toThrow();
    expect(() => checkNodeCredentialProxy(proxyFromNode({ id: WAYPOINT_ID }, 'node-b'))).toThrow(
      expect.objectContaining({ code: 'ISTIOD_ERR_CALLER_NOT_ALLOWED', message: expect.stringMatching(/node bootstrap credential of node-b may not connect as waypoint/) }),
    );
  });
});
