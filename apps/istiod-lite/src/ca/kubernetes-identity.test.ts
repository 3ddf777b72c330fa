import * as grpc from '@grpc/grpc-js';
import { MeshError } from '@mesh/errors';
import { describe, expect, it } from 'vitest';
import { bearerTokenOf, callerOfReview, grpcStatusOfAuthError, jwtExpiryMs } from './kubernetes-identity.js';

const NODE_ACCOUNTS = new Set(['istio-system/ztunnel']);
const jwt = (claims: Record<string, unknown>) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

describe('Kubernetes identity (pure parts)', () => {
  it('reads one "Bearer <token>" authorization header, and refuses anything else', () => {
    const metadata = (...values: string[]) => {
      const m = new grpc.Metadata();
      for (const value of values) m.add('authorization', value);
      return m;
    };
    expect(bearerTokenOf(undefined)).toBeUndefined();
    expect(bearerTokenOf(metadata())).toBeUndefined();
    expect(bearerTokenOf(metadata('Bearer abc.def.ghi'))).toBe('abc.def.ghi');
    expect(bearerTokenOf(metadata('bearer abc'))).toBe('abc');
    for (const bad of [['Basic dXNlcg=='], ['Bearer'], ['Bearer a', 'Bearer b']]) {
      expect(() => bearerTokenOf(metadata(...bad))).toThrow(expect.objectContaining({ code: 'ISTIOD_ERR_TOKEN_MALFORMED' }));
    }
  });

  it("reads a token's exp only to bound the cache; none or garbage is undefined", () => {
    expect(jwtExpiryMs(jwt({ exp: 1_900_000_000 }))).toBe(1_900_000_000_000);
    expect(jwtExpiryMs(jwt({}))).toBeUndefined();
    expect(jwtExpiryMs('not-a-jwt')).toBeUndefined();
    expect(jwtExpiryMs('a.!!!.c')).toBeUndefined();
  });

  it('turns an accepted review into the caller: service account, identity, bound pod and node, node proxy or not', () => {
    const extra = { 'authentication.kubernetes.io/pod-name': ['ztunnel-x1'], 'authentication.kubernetes.io/node-name': ['node-a'] };
    expect(callerOfReview({ username: 'system:serviceaccount:istio-system:ztunnel', extra }, 'cluster.local', NODE_ACCOUNTS)).toEqual({
      namespace: 'istio-system',
      serviceAccount: 'ztunnel',
      identity: 'spiffe://cluster.local/ns/istio-system/sa/ztunnel',
      podName: 'ztunnel-x1',
      nodeName: 'node-a',
      nodeProxy: true,
    });
    expect(callerOfReview({ username: 'system:serviceaccount:default:ztunnel', extra: {} }, 'cluster.local', NODE_ACCOUNTS)).toEqual({
      namespace: 'default',
      serviceAccount: 'ztunnel',
      identity: 'spiffe://cluster.local/ns/default/sa/ztunnel',
      nodeProxy: false,
    });
    for (const username of ['admin', 'system:node:node-a', 'system:serviceaccount:default', 'system:serviceaccount:Default:x']) {
      expect(() => callerOfReview({ username, extra: {} }, 'cluster.local', NODE_ACCOUNTS)).toThrow(expect.objectContaining({ code: 'ISTIOD_ERR_TOKEN_NOT_SERVICE_ACCOUNT' }));
    }
  });

  it('maps failures to gRPC statuses: who you are → UNAUTHENTICATED, what you may → PERMISSION_DENIED, the API server → UNAVAILABLE', () => {
    const err = (code: string) => new MeshError(code, code);
    expect(grpcStatusOfAuthError(err('ISTIOD_ERR_TOKEN_REJECTED'))).toBe(grpc.status.UNAUTHENTICATED);
    expect(grpcStatusOfAuthError(err('ISTIOD_ERR_NOT_A_NODE'))).toBe(grpc.status.UNAUTHENTICATED);
    expect(grpcStatusOfAuthError(err('ISTIOD_ERR_CALLER_NOT_ALLOWED'))).toBe(grpc.status.PERMISSION_DENIED);
    expect(grpcStatusOfAuthError(err('ISTIOD_ERR_TOKEN_REVIEW_FAILED'))).toBe(grpc.status.UNAVAILABLE);
    expect(grpcStatusOfAuthError(new Error('boom'))).toBe(grpc.status.INTERNAL);
  });
});
