/**
 * `meshctl analyze` over manifest files: each kind of finding with istioctl's code, line format
 * and exit status (0 / 79 / 65), `-o json`, and the sample mesh in examples/.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from './helpers.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples', import.meta.url));

const MESH = `apiVersion: v1
kind: Namespace
metadata:
  name: default
  labels:
    istio.io/dataplane-mode: ambient
---
apiVersion: v1
kind: Node
metadata:
  name: node-a
spec:
  podCIDR: 10.1.0.0/24
status:
  addresses: [{ type: InternalIP, address: 10.0.0.11 }]
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: default
  labels: { app: web }
spec:
  nodeName: node-a
status:
  podIP: 10.1.0.5
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  clusterIP: 10.2.0.5
  selector: { app: web }
  ports: [{ port: 80 }]
`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshctl-analyze-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function analyze(files: Record<string, string>, ...flags: string[]) {
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return runCli(['analyze', dir, ...flags]);
}

describe('meshctl analyze', () => {
  it('a mesh without problems: nothing on stdout, the check mark on stderr, exit 0', async () => {
    const { code, stdout, stderr } = await analyze({ 'mesh.yaml': MESH });
    expect(stdout).toBe('');
    expect(stderr).toBe(`✔ No validation issues found when analyzing ${dir} (4 resources).\n`);
    expect(code).toBe(0);
  });

  it.each([
    {
      what: 'a pod on an unknown node (IST0101)',
      yaml: `apiVersion: v1\nkind: Pod\nmetadata: { name: lost, namespace: default }\nspec: { nodeName: node-z }\nstatus: { podIP: 10.1.0.9 }\n`,
      line: 'Error [IST0101] (Pod default/lost extra.yaml:1) Referenced node not found: "node-z": no ztunnel serves this pod (at spec.nodeName)',
    },
    {
      what: "an HTTPRoute's missing parent and backend (IST0101)",
      yaml: `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: r, namespace: default }\nspec:\n  parentRefs: [{ kind: Service, group: "", name: nope }]\n  rules: [{ backendRefs: [{ name: web, port: 80 }, { name: gone, port: 80 }, { name: web, port: 81 }] }]\n`,
      line: [
        'Error [IST0101] (HTTPRoute default/r extra.yaml:1) Referenced parent Service not found: "default/nope" (at spec.parentRefs[0])',
        'Error [IST0101] (HTTPRoute default/r extra.yaml:1) Referenced backend Service not found: "default/gone" (at spec.rules[0].backendRefs[1])',
        'Error [IST0101] (HTTPRoute default/r extra.yaml:1) Referenced backend Service port not found: "default/web:81" (at spec.rules[0].backendRefs[2])',
      ].join('\n'),
    },
    {
      what: 'an HTTPRoute on a Service without a waypoint: its Accepted condition, as its status says (IST0171)',
      yaml: `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: r, namespace: default }\nspec:\n  parentRefs: [{ kind: Service, group: "", name: web }]\n  rules: [{ backendRefs: [{ name: web, port: 80 }] }]\n`,
      line: 'Warning [IST0171] (HTTPRoute default/r extra.yaml:1) A condition with a negative status is present: type=Accepted, reason=NoMatchingParent, message=Service default/web does not use a waypoint (label istio.io/use-waypoint on the Service or its namespace), so nothing applies this route (at spec.parentRefs[0])',
    },
    {
      what: 'a policy selector that matches no pod (IST0127)',
      yaml: `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: nobody, namespace: default }\nspec:\n  selector: { matchLabels: { app: ghost } }\n  rules: [{}]\n`,
      line: 'Warning [IST0127] (AuthorizationPolicy default/nobody extra.yaml:1) No matching workloads for this resource with the following labels: app=ghost (at spec.selector)',
    },
    {
      what: 'a targetRefs policy on a Service without a waypoint (IST0167)',
      yaml: `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: l7, namespace: default }\nspec:\n  targetRefs: [{ kind: Service, group: "", name: web }]\n  rules: [{ to: [{ operation: { methods: [GET] } }] }]\n`,
      line: 'Warning [IST0167] (AuthorizationPolicy default/l7 extra.yaml:1) The policy has no impact: Service default/web uses no waypoint (istio.io/use-waypoint), and only waypoints enforce targetRefs policies: nothing enforces this target (at spec.targetRefs[0])',
    },
    {
      what: "a selector that picks a waypoint's pod, where targetRefs is meant (IST0166)",
      yaml: `apiVersion: v1\nkind: Pod\nmetadata: { name: waypoint-0, namespace: default, labels: { gateway.networking.k8s.io/gateway-name: waypoint } }\nspec: { nodeName: node-a }\nstatus: { podIP: 10.1.0.30 }\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: at-waypoint, namespace: default }\nspec:\n  selector: { matchLabels: { gateway.networking.k8s.io/gateway-name: waypoint } }\n  rules: [{ from: [{ source: { namespaces: [default] } }] }]\n`,
      line: 'Warning [IST0166] (AuthorizationPolicy default/at-waypoint extra.yaml:7) Ineffective selector on Kubernetes Gateway waypoint. Use the TargetRef field instead. (at spec.selector)',
    },
    {
      what: 'a Service whose selector matches no pod',
      yaml: `apiVersion: v1\nkind: Service\nmetadata: { name: api, namespace: default }\nspec: { clusterIP: 10.2.0.9, selector: { app: api }, ports: [{ port: 80 }] }\n`,
      line: 'Warning [SERVICE_NO_ENDPOINTS] (Service default/api extra.yaml:1) no pod matches the selector app=api: the Service has no endpoints, so connections to it fail (at spec.selector)',
    },
    {
      what: 'a use-waypoint label naming no waypoint (IST0101)',
      yaml: `apiVersion: v1\nkind: Service\nmetadata: { name: via, namespace: default, labels: { istio.io/use-waypoint: missing } }\nspec: { clusterIP: 10.2.0.10, selector: { app: web }, ports: [{ port: 80 }] }\n`,
      line: 'Error [IST0101] (Service default/via extra.yaml:1) Referenced waypoint Gateway not found: "default/missing": traffic to it bypasses any waypoint (at metadata.labels.istio.io/use-waypoint)',
    },
    {
      what: 'a field that does not validate (IST0106)',
      yaml: `apiVersion: v1\nkind: Service\nmetadata: { name: bad, namespace: default }\nspec: { ports: [{ port: http }] }\n`,
      line: expect.stringMatching(/^Error \[IST0106\] \(Service default\/bad .*extra\.yaml:4\) Schema validation error: .*\(at spec\.ports\[0\]\.port\)$/),
    },
  ])('$what', async ({ yaml, line }) => {
    const { code, stdout } = await analyze({ 'mesh.yaml': MESH, 'extra.yaml': yaml });
    const lines = stdout.trimEnd().split('\n');
    if (typeof line === 'string') for (const expected of line.split('\n')) expect(lines).toContain(expected.replaceAll('extra.yaml', join(dir, 'extra.yaml')));
    else expect(lines).toContainEqual(line);
    expect(code).toBe(stdout.startsWith('Error') ? 79 : 0);
  });

  it('exit 79 with an error-level finding, and the note on stderr', async () => {
    const { code, stderr } = await analyze({ 'mesh.yaml': MESH, 'pod.yaml': `apiVersion: v1\nkind: Pod\nmetadata: { name: lost, namespace: default }\nspec: { nodeName: node-z }\n` });
    expect(code).toBe(79);
    expect(stderr).toMatch(/^Error: analyzers found issues when analyzing .*\nSee https:\/\/istio\.io\/latest\/docs\/reference\/config\/analysis /);
  });

  it('--failure-threshold Warning turns warnings into exit 79; --output-threshold Error hides them but not from the exit status', async () => {
    const files = { 'mesh.yaml': MESH, 'svc.yaml': `apiVersion: v1\nkind: Service\nmetadata: { name: api, namespace: default }\nspec: { clusterIP: 10.2.0.9, selector: { app: api }, ports: [{ port: 80 }] }\n` };
    expect((await analyze(files)).code).toBe(0);
    expect((await analyze(files, '--failure-threshold', 'Warning')).code).toBe(79);
    const hidden = await analyze(files, '--output-threshold', 'Error', '--failure-threshold', 'warning');
    expect(hidden.stdout).toBe('');
    expect(hidden.code).toBe(79);
  });

  it('a document that is not YAML is named on stderr and left out: exit 65 when nothing else is wrong', async () => {
    const { code, stdout, stderr } = await analyze({ 'mesh.yaml': MESH, 'broken.yaml': 'kind: Pod\nmetadata: {name: x\n' });
    expect(stdout).toBe('');
    expect(stderr).toContain(`error: ${join(dir, 'broken.yaml')}:3:1: invalid YAML`);
    expect(stderr).toContain('No validation issues found when analyzing');
    expect(stderr).toContain('(but 1 document could not be parsed)');
    expect(code).toBe(65);
  });

  it("-o json: istioctl's keys, with the field path and the documentation URL for Istio's codes", async () => {
    const { code, stdout } = await analyze({ 'mesh.yaml': MESH, 'pod.yaml': `apiVersion: v1\nkind: Pod\nmetadata: { name: lost, namespace: default }\nspec: { nodeName: node-z }\n` }, '-o', 'json');
    expect(code).toBe(79);
    expect(JSON.parse(stdout)).toEqual([
      {
        code: 'IST0101',
        level: 'Error',
        origin: 'Pod default/lost',
        reference: `${join(dir, 'pod.yaml')}:1`,
        path: 'spec.nodeName',
        message: 'Referenced node not found: "node-z": no ztunnel serves this pod',
        documentationUrl: 'https://istio.io/latest/docs/reference/config/analysis/ist0101/',
      },
    ]);
  });

  it('the sample mesh has no error: only what the waypoint enforces differently on TCP (Info)', async () => {
    const { code, stdout } = await runCli(['analyze', join(EXAMPLES, 'bookinfo'), join(EXAMPLES, 'waypoint')]);
    expect(code).toBe(0);
    const levels = stdout.trimEnd().split('\n').map((l) => l.split(' ')[0]);
    expect(new Set(levels)).toEqual(new Set(['Info']));
  });

  it('a path that does not exist is one error line, exit 1', async () => {
    const { code, stderr } = await runCli(['analyze', join(dir, 'nope')]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error: cannot read .*nope \(no such file or directory\)\n$/);
  });
});
