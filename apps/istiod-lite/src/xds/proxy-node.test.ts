import { describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import { proxyFromNode } from './proxy-node.js';

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
