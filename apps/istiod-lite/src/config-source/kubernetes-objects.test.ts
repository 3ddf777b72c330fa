/**
 * API objects as kube-apiserver v1.37 returns them (defaulted fields, server metadata, status)
 * turned into mesh resources by mesh-model's own validation; problems name the object and field.
 */
import { describe, expect, it } from 'vitest';
import { formatManifestError } from './config-source.js';
import { EndpointSliceStore, KubernetesObjectStore, WATCHED_RESOURCES, manifestOf, resourcePath, sliceEndpoints } from './kubernetes-objects.js';
import type { KubernetesObject, WatchedResource } from './kubernetes-objects.js';

const resource = (kind: string): WatchedResource => WATCHED_RESOURCES.find((r) => r.kind === kind)!;

const serverMetadata = {
  uid: '0b5e3f3a-4a7e-4d55-9a55-7d1f7c0f6a11',
  resourceVersion: '812',
  generation: 1,
  creationTimestamp: '2026-12-04T21:40:01Z',
  managedFields: [{ manager: 'node', operation: 'Update', apiVersion: 'v1', time: '2026-12-04T21:40:01Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': {} } }],
};

/** A Pod as the API server lists it after `create` (items of a list carry no apiVersion/kind). */
function recordedPod(status: Record<string, unknown>): KubernetesObject {
  return {
    metadata: { name: 'ratings-v2', namespace: 'default', labels: { app: 'ratings', version: 'v2' }, ...serverMetadata },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'registry.invalid/sample:1',
          ports: [{ name: 'http', containerPort: 9080, protocol: 'TCP' }],
          resources: {},
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
          imagePullPolicy: 'IfNotPresent',
        },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'ratings',
      serviceAccount: 'ratings',
      nodeName: 'node-a',
      securityContext: {},
      schedulerName: 'default-scheduler',
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
    },
    status,
  };
}

const running = (ready: boolean, probeTime = '2026-12-04T21:40:05Z') => ({
  phase: 'Running',
  podIP: '10.77.1.40',
  podIPs: [{ ip: '10.77.1.40' }],
  hostIP: '10.77.0.11',
  qosClass: 'BestEffort',
  startTime: '2026-12-04T21:40:02Z',
  conditions: [
    { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: '2026-12-04T21:40:01Z' },
    { type: 'Ready', status: ready ? 'True' : 'False', lastProbeTime: probeTime, lastTransitionTime: '2026-12-04T21:40:04Z' },
  ],
});

const customPolicy: KubernetesObject = {
  metadata: { name: 'ext-authz', namespace: 'default', ...serverMetadata },
  spec: { selector: { matchLabels: { app: 'ratings' } }, action: 'CUSTOM', provider: { name: 'ext-authz' }, rules: [{}] },
};

describe('Kubernetes objects → mesh resources', () => {
  it('reads a Pod as the API server returns it; it counts once Running, with an IP and Ready', () => {
    const store = new KubernetesObjectStore();
    expect(store.apply(resource('Pod'), recordedPod({ phase: 'Pending', qosClass: 'BestEffort' }))).toEqual({ changed: true, errors: [], keptLastGood: false });
    expect(store.resources()).toMatchObject([{ kind: 'Pod', namespace: 'default', name: 'ratings-v2', nodeName: 'node-a', serviceAccountName: 'ratings', ready: false }]);
    expect(store.resources()[0]).not.toHaveProperty('podIP');

    expect(store.apply(resource('Pod'), recordedPod(running(false))).changed).toBe(true);
    expect(store.resources()[0]).toMatchObject({ podIP: '10.77.1.40', ready: false });
    expect(store.apply(resource('Pod'), recordedPod(running(true))).changed).toBe(true);
    expect(store.resources()[0]).toMatchObject({ podIP: '10.77.1.40', ready: true });
    // A kubelet's status churn that changes nothing the mesh reads makes no new snapshot.
    expect(store.apply(resource('Pod'), recordedPod(running(true, '2026-12-04T21:41:00Z'))).changed).toBe(false);
  });

  it('an object the API server accepted but the mesh cannot use: a problem naming kind/namespace/name and field, nothing in force', () => {
    const store = new KubernetesObjectStore();
    const { changed, errors } = store.apply(resource('AuthorizationPolicy'), customPolicy);
    expect(changed).toBe(false);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ file: 'AuthorizationPolicy default/ext-authz', kind: 'AuthorizationPolicy', namespace: 'default', name: 'ext-authz', line: 0, path: 'spec.action' });
    expect(formatManifestError(errors[0]!)).toMatch(/^AuthorizationPolicy default\/ext-authz: spec\.action: /);
    expect(store.resources()).toEqual([]);
    expect(store.problems()).toEqual(errors);
  });

  it('a good object broken by an edit keeps its last good version, the others unaffected; deleting it removes both', () => {
    const store = new KubernetesObjectStore();
    const allow = { ...customPolicy, metadata: { ...customPolicy.metadata, name: 'allow' }, spec: { selector: { matchLabels: { app: 'ratings' } }, action: 'ALLOW', rules: [{}] } };
    store.apply(resource('AuthorizationPolicy'), allow);
    store.apply(resource('Pod'), recordedPod(running(true)));
    const broken = store.apply(resource('AuthorizationPolicy'), { ...allow, spec: { ...allow.spec, action: 'CUSTOM', provider: { name: 'ext-authz' } } });
    expect(broken).toMatchObject({ changed: false, keptLastGood: true });
    expect(store.resources().map((r) => `${r.kind}/${r.name}`).sort()).toEqual(['AuthorizationPolicy/allow', 'Pod/ratings-v2']);
    expect(store.resources().find((r) => r.kind === 'AuthorizationPolicy')).toMatchObject({ action: 'ALLOW' });
    expect(store.problems()).toHaveLength(1);

    expect(store.remove(resource('AuthorizationPolicy'), allow)).toBe(true);
    expect(store.problems()).toEqual([]);
    expect(store.resources().map((r) => r.kind)).toEqual(['Pod']);
    // Deleting an object that was never in force changes nothing.
    store.apply(resource('AuthorizationPolicy'), customPolicy);
    expect(store.remove(resource('AuthorizationPolicy'), customPolicy)).toBe(false);
  });

  it('a manifest is what the user wrote plus the status the mesh reads', () => {
    const route: KubernetesObject = {
      metadata: { name: 'echo', namespace: 'echo', ...serverMetadata },
      spec: { parentRefs: [{ group: '', kind: 'Service', name: 'echo', port: 80 }], rules: [] },
      status: { parents: [] },
    };
    expect(manifestOf(resource('HTTPRoute'), route)).toEqual({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'echo', namespace: 'echo', creationTimestamp: '2026-12-04T21:40:01Z' },
      spec: route.spec,
    });
    expect(manifestOf(resource('Pod'), recordedPod(running(true)))).toHaveProperty('status.podIP', '10.77.1.40');
  });

  it('lists and watches cluster-wide at the API paths of each group', () => {
    expect(WATCHED_RESOURCES.map(resourcePath)).toEqual([
      '/api/v1/namespaces',
      '/api/v1/serviceaccounts',
      '/api/v1/nodes',
      '/api/v1/pods',
      '/api/v1/services',
      '/apis/discovery.k8s.io/v1/endpointslices',
      '/apis/security.istio.io/v1/authorizationpolicies',
      '/apis/security.istio.io/v1/peerauthentications',
      '/apis/gateway.networking.k8s.io/v1/gateways',
      '/apis/gateway.networking.k8s.io/v1/httproutes',
      '/apis/gateway.networking.k8s.io/v1/referencegrants',
    ]);
  });
});

describe('EndpointSlices', () => {
  const slice = (fields: Record<string, unknown>, labels: Record<string, string> = { 'kubernetes.io/service-name': 'ratings' }): KubernetesObject => ({
    metadata: { name: 'ratings-x7k2p', namespace: 'default', labels, ...serverMetadata },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 9080, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }],
    endpoints: [
      { addresses: ['10.77.2.13', '10.77.2.113'], conditions: { ready: true }, targetRef: { kind: 'Pod', namespace: 'default', name: 'ratings-v1' } },
      // ready unset: "nil should be interpreted as ready".
      { addresses: ['10.77.2.14'], conditions: {}, targetRef: { kind: 'Pod', name: 'ratings-v2' } },
      { addresses: ['10.77.2.15'], conditions: { ready: false }, targetRef: { kind: 'Pod', name: 'ratings-v3' } },
      { addresses: ['10.77.9.1'], conditions: { ready: true } },
    ],
    ...fields,
  });

  it('ready addresses with a Pod targetRef, first address, TCP ports, keyed by the service-name label', () => {
    expect(sliceEndpoints(slice({}))).toEqual({
      service: 'default/ratings',
      endpoints: [
        { pod: 'default/ratings-v1', address: '10.77.2.13', portName: 'http', port: 9080 },
        { pod: 'default/ratings-v2', address: '10.77.2.14', portName: 'http', port: 9080 },
      ],
    });
    expect(sliceEndpoints(slice({ addressType: 'FQDN' }))?.endpoints).toEqual([]);
    expect(sliceEndpoints(slice({}, {}))).toBeUndefined();
  });

  it('per Service, the union of its slices; changes are said, the same slice again is not', () => {
    const store = new EndpointSliceStore();
    expect(store.apply(slice({}))).toBe(true);
    expect(store.apply(slice({}))).toBe(false);
    expect(store.apply({ ...slice({}), metadata: { ...slice({}).metadata, name: 'ratings-y' } })).toBe(true);
    expect(store.byService().get('default/ratings')).toHaveLength(4);
    expect(store.remove(slice({}))).toBe(true);
    expect(store.byService().get('default/ratings')).toHaveLength(2);
  });
});
