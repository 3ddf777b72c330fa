import { describe, expect, it } from 'vitest';
import { planRootCertConfigMaps } from './kubernetes-root-cert.js';

const ROOT = '-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n';
const configMap = (namespace: string, data: Record<string, string>, labels: Record<string, string> = { 'istio.io/config': 'true' }) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'istio-ca-root-cert', namespace, labels, resourceVersion: '7' },
  data,
});

describe('planRootCertConfigMaps', () => {
  it('creates one in each namespace that has none, but those Istio skips (kube-system included)', () => {
    const writes = planRootCertConfigMaps(['default', 'kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage', 'app'], new Map(), ROOT);
    expect(writes.map((w) => `${w.op} ${w.namespace}`)).toEqual(['create app', 'create default', 'create kube-system']);
    expect(writes[0]!.body).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio-ca-root-cert', namespace: 'app', labels: { 'istio.io/config': 'true' } }, data: { 'root-cert.pem': ROOT } });
  });

  it('writes nothing for a right one, and corrects only what it owns in an edited one', () => {
    expect(planRootCertConfigMaps(['app'], new Map([['app', configMap('app', { 'root-cert.pem': ROOT })]]), ROOT)).toEqual([]);
    const [write] = planRootCertConfigMaps(['app'], new Map([['app', configMap('app', { 'root-cert.pem': 'old', extra: 'kept' }, { team: 'a' })]]), ROOT);
    expect(write).toMatchObject({
      op: 'update',
      namespace: 'app',
      body: { metadata: { resourceVersion: '7', labels: { team: 'a', 'istio.io/config': 'true' } }, data: { 'root-cert.pem': ROOT, extra: 'kept' } },
    });
  });
});
