import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keepLastGood, parseManifestFiles, parseManifests } from './index.js';
import type { ManifestError } from './index.js';

const EXAMPLES = join(import.meta.dirname, '../../../examples');

function loadDir(dir: string) {
  return readdirSync(join(EXAMPLES, dir))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => ({ path: `${dir}/${f}`, text: readFileSync(join(EXAMPLES, dir, f), 'utf8') }));
}

/** `file:line:column path: message`, the form an operator reads. */
const located = (e: ManifestError) => `${e.file}:${e.line}:${e.column} ${e.path}: ${e.message}`;

describe('parseManifests: every kind', () => {
  it('parses the sample mesh and policies without errors', () => {
    const result = parseManifestFiles([...loadDir('bookinfo'), ...loadDir('policies')]);
    expect(result.errors.map(located)).toEqual([]);
    const kinds = new Set(result.resources.map((r) => r.kind));
    expect([...kinds].sort()).toEqual(['AuthorizationPolicy', 'Namespace', 'Node', 'PeerAuthentication', 'Pod', 'Service', 'ServiceAccount']);
    const node = result.resources.find((r) => r.kind === 'Node' && r.name === 'node-b');
    expect(node).toMatchObject({ address: '10.77.0.12', podCidr: '10.77.2.0/24', source: { file: 'bookinfo/00-mesh.yaml' } });
  });

  it('flattens a Pod and applies Kubernetes defaults', () => {
    const { resources, errors } = parseManifests(
      `apiVersion: v1
kind: Pod
metadata: { name: web, labels: { app: web } }
spec:
  nodeName: node-a
  containers: [{ name: web, ports: [{ name: http, containerPort: 8080 }] }]
status: { podIP: 10.0.0.5 }
`,
      'pod.yaml',
    );
    expect(errors).toEqual([]);
    expect(resources[0]).toEqual({
      kind: 'Pod',
      name: 'web',
      namespace: 'default',
      labels: { app: 'web' },
      annotations: {},
      serviceAccountName: 'default',
      nodeName: 'node-a',
      podIP: '10.0.0.5',
      ready: true,
      hostNetwork: false,
      containers: [{ name: 'web', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }],
      source: { file: 'pod.yaml', line: 1 },
    });
    expect(Object.isFrozen(resources[0])).toBe(true);
  });

  it('marks a pod whose Ready condition is False as not ready', () => {
    const { resources } = parseManifests(
      'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {nodeName: n}\nstatus: {podIP: 10.0.0.1, conditions: [{type: Ready, status: "False"}]}\n',
      'p.yaml',
    );
    expect(resources[0]).toMatchObject({ ready: false });
  });

  it('parses AuthorizationPolicy, PeerAuthentication, Gateway and HTTPRoute', () => {
    const text = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ap, namespace: shop }
spec:
  targetRefs: [{ kind: Service, group: "", name: cart }]
  action: DENY
  rules:
    - from: [{ source: { notPrincipals: ["cluster.local/ns/shop/sa/web"], ipBlocks: ["10.0.0.0/8"] } }]
      to: [{ operation: { ports: [8080, "9090"], methods: [GET], paths: ["/admin*"] } }]
      when: [{ key: "request.headers[x-id]", values: ["a"] }]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: mesh, namespace: istio-system }
spec: { mtls: { mode: STRICT } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: waypoint
  namespace: shop
  labels: { istio.io/waypoint-for: service }
spec:
  gatewayClassName: istio-waypoint
  listeners: [{ name: mesh, port: 15008, protocol: HBONE }]
status:
  addresses: [{ type: IPAddress, value: 10.0.9.9 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: cart-v1, namespace: shop }
spec:
  parentRefs: [{ group: "", kind: Service, name: cart, port: 8080 }]
  rules:
    - matches:
        - path: { type: PathPrefix, value: /api }
          headers: [{ name: x-user, value: alice }]
          method: GET
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { set: [{ name: x-v, value: "1" }], remove: [x-debug] }
        - type: URLRewrite
          urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /v1 } }
      backendRefs: [{ name: cart-v1, port: 8080, weight: 90 }, { name: cart-v2, port: 8080, weight: 10 }]
      timeouts: { request: 5s }
      retry: { attempts: 3, codes: [503] }
`;
    const { resources, errors } = parseManifests(text, 'mixed.yaml');
    expect(errors.map(located)).toEqual([]);
    const [ap, pa, gw, route] = resources;
    expect(ap).toMatchObject({
      kind: 'AuthorizationPolicy',
      action: 'DENY',
      targetRefs: [{ kind: 'Service', group: '', name: 'cart' }],
      rules: [{ to: [{ operation: { ports: ['8080', '9090'] } }], when: [{ key: 'request.headers[x-id]' }] }],
    });
    expect(pa).toMatchObject({ kind: 'PeerAuthentication', namespace: 'istio-system', mtlsMode: 'STRICT' });
    expect(gw).toMatchObject({ kind: 'Gateway', gatewayClassName: 'istio-waypoint', addresses: [{ type: 'IPAddress', value: '10.0.9.9' }] });
    expect(route).toMatchObject({
      kind: 'HTTPRoute',
      parentRefs: [{ kind: 'Service', group: '', name: 'cart', port: 8080 }],
      rules: [{ backendRefs: [{ weight: 90 }, { weight: 10 }], timeouts: { request: '5s' }, retry: { attempts: 3, codes: [503] } }],
    });
    expect(gw?.source?.line).toBe(18);
  });
});

describe('parseManifests: errors', () => {
  const SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
    - name: http
      port: 80
      targetPort: 70000
`;

  it('names file, line, column, field path and what was expected', () => {
    const { errors, resources } = parseManifests(SERVICE, 'svc.yaml');
    expect(resources).toEqual([]);
    expect(errors).toEqual([
      {
        file: 'svc.yaml',
        line: 9,
        column: 19,
        path: 'spec.ports[0].targetPort',
        message: 'expected an integer 1-65535 or a port name, got 70000',
        kind: 'Service',
        name: 'web',
      },
    ]);
  });

  it('reports every problem of a document, each at its own node', () => {
    const text = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: Bad_Name
spec:
  action: MAYBE
  rules:
    - from:
        - source:
            ipBlocks: ["10.0.0.0/33"]
`;
    const errors = parseManifests(text, 'ap.yaml').errors.map(located);
    expect(errors).toEqual([
      'ap.yaml:4:9 metadata.name: expected a lowercase DNS name (a-z, 0-9, "-", "."), got "Bad_Name"',
      'ap.yaml:6:11 spec.action: expected one of ALLOW, DENY, AUDIT, CUSTOM, got "MAYBE"',
      'ap.yaml:10:24 spec.rules[0].from[0].source.ipBlocks[0]: expected an IP address or CIDR (10.0.0.0/8), got "10.0.0.0/33"',
    ]);
  });

  it('points a missing required field at the mapping it is missing from', () => {
    const text = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers: []\n';
    expect(parseManifests(text, 'p.yaml').errors.map(located)).toEqual(['p.yaml:6:3 spec.nodeName: missing required field "nodeName"']);
  });

  it('asks for quotes when a label value is not a string', () => {
    const text = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n  labels:\n    enabled: true\n';
    expect(parseManifests(text, 'n.yaml').errors.map(located)).toEqual([
      'n.yaml:6:14 metadata.labels.enabled: expected a string (quote numbers and booleans), got true',
    ]);
  });

  it('does not let one bad document hide the others, and reports unknown kinds', () => {
    const text = `apiVersion: v1
kind: Namespace
metadata: { name: good }
---
apiVersion: v1
kind: Deployment
metadata: { name: web }
---
apiVersion: v1
kind: Service
metadata: { name: web }
spec: { ports: [{ port: http }] }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: also-good }
`;
    const { resources, errors } = parseManifests(text, 'multi.yaml');
    expect(resources.map((r) => r.name)).toEqual(['good', 'also-good']);
    expect(errors.map(located)).toEqual([
      expect.stringMatching(/^multi\.yaml:6:7 kind: unknown kind "Deployment" \(expected one of Namespace, ServiceAccount, Node, Pod/),
      'multi.yaml:12:25 spec.ports[0].port: expected an integer 1-65535, got "http"',
    ]);
    expect(errors[0]).toMatchObject({ kind: 'Deployment', name: 'web' });
  });

  it('refuses an unknown istio.io/waypoint-for, naming the Gateway and the label', () => {
    const gw = (value: string) =>
      `apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: waypoint\n  namespace: shop\n  labels: { istio.io/waypoint-for: ${value} }\nspec: { gatewayClassName: istio-waypoint }\n`;
    for (const value of ['service', 'workload', 'all', 'none']) expect(parseManifests(gw(value), 'gw.yaml').errors, value).toEqual([]);
    const { resources, errors } = parseManifests(gw('pods'), 'gw.yaml');
    expect(resources).toEqual([]);
    expect(errors.map(located)).toEqual(['gw.yaml:6:36 metadata.labels["istio.io/waypoint-for"]: unknown traffic type "pods" (expected one of service, workload, all, none)']);
    expect(errors[0]).toMatchObject({ kind: 'Gateway', name: 'waypoint', namespace: 'shop' });
  });

  it('reports YAML syntax errors with their position and keeps later documents', () => {
    const text = 'apiVersion: v1\nkind: Namespace\nmetadata: { name: a\n---\napiVersion: v1\nkind: Namespace\nmetadata: { name: b }\n';
    const { resources, errors } = parseManifests(text, 'broken.yaml');
    expect(resources.map((r) => r.name)).toEqual(['b']);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatchObject({ file: 'broken.yaml', line: expect.any(Number), message: expect.stringMatching(/^invalid YAML: /) });
    expect(errors[0]!.line).toBeLessThanOrEqual(4);
  });

  it('checks apiVersion per kind', () => {
    const text = 'apiVersion: networking.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: x }\n';
    expect(parseManifests(text, 'x.yaml').errors.map(located)).toEqual([
      'x.yaml:1:13 apiVersion: expected apiVersion security.istio.io/v1 or security.istio.io/v1beta1 for kind AuthorizationPolicy, got "networking.istio.io/v1"',
    ]);
  });

  it('applies cross-field rules: named ports on multi-port services, filter config, backend ports', () => {
    const text = `apiVersion: v1
kind: Service
metadata: { name: two }
spec:
  ports: [{ name: a, port: 80 }, { port: 81 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ kind: Service, group: "", name: two }]
  rules:
    - filters: [{ type: URLRewrite }]
      backendRefs: [{ name: two }]
`;
    expect(parseManifests(text, 'x.yaml').errors.map((e) => `${e.line} ${e.path}: ${e.message}`)).toEqual([
      '5 spec.ports: expected every port to have a name when a service has several ports (ports[1] has none)',
      '13 spec.rules[0].filters[0]: expected urlRewrite when type is URLRewrite',
      '14 spec.rules[0].backendRefs[0]: missing required field "port" (required when kind is Service)',
    ]);
  });

  it('reports a resource declared twice across files, pointing at the first', () => {
    const ns = 'apiVersion: v1\nkind: Namespace\nmetadata: { name: a }\n';
    const { resources, errors } = parseManifestFiles([
      { path: 'one.yaml', text: ns },
      { path: 'two.yaml', text: `# again\n---\n${ns}` },
    ]);
    expect(resources).toHaveLength(1);
    expect(errors.map(located)).toEqual(['two.yaml:3:1 metadata.name: duplicate Namespace/a: already declared at one.yaml:1']);
  });

  it('skips empty documents and comments', () => {
    expect(parseManifests('---\n# nothing\n---\n', 'e.yaml')).toEqual({ resources: [], errors: [] });
    expect(parseManifests('', 'e.yaml')).toEqual({ resources: [], errors: [] });
  });
});

describe('keepLastGood', () => {
  const policy = (name: string, action: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ${name}, namespace: shop }
spec: { action: ${action}, rules: [{}] }
---
`;
  const previous = parseManifests(policy('deny-all', 'DENY') + policy('audit', 'AUDIT'), 'p.yaml').resources;

  it('keeps the last good version of a refused document and the new good ones', () => {
    const result = parseManifests(policy('deny-all', 'CUSTOM') + policy('audit', 'ALLOW'), 'p.yaml');
    expect(result.errors.map((e) => e.name)).toEqual(['deny-all']);
    const kept = keepLastGood(previous, result);
    expect(kept.map((r) => `${r.name}:${(r as { action: string }).action}`)).toEqual(['audit:ALLOW', 'deny-all:DENY']);
  });

  it('drops a resource whose document was removed, and keeps everything on an unattributable error', () => {
    expect(keepLastGood(previous, parseManifests(policy('audit', 'AUDIT'), 'p.yaml')).map((r) => r.name)).toEqual(['audit']);
    const broken = parseManifests(`${policy('audit', 'AUDIT')}kind: [\n`, 'p.yaml');
    expect(broken.errors.length).toBeGreaterThan(0);
    expect(keepLastGood(previous, broken).map((r) => r.name)).toEqual(['audit', 'deny-all']);
  });
});
