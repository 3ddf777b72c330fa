/**
 * deploy/kubernetes/ against a real kube-apiserver (kube-cluster.ts, with Istio's and Gateway
 * API's real CRDs): the kustomization renders with the real kubectl, a server-side dry-run apply
 * of it is accepted (every object validated by the API server's own schemas and admission), and
 * its ClusterRole grants istiod-lite's service account exactly what the Kubernetes config source
 * uses, no less (or it would wait on a 403) and no more, as the API server's authorizer answers.
 *
 * No kubelet runs here: the pods are never started, so this does not show the mesh working on a
 * cluster (deploy/kubernetes/README.md says what is not yet tested).
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAllYaml } from '@kubernetes/client-node';
import { writeTestCacerts } from '@mesh/pki/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMeshCa } from '../src/ca/credentials.js';
import { CONTROLLER_PERMISSIONS } from '../src/config-source/kubernetes-controllers.js';
import { WATCHED_RESOURCES } from '../src/config-source/kubernetes-objects.js';
import { kubeToolsMissing, startKubeCluster, type ApiObject, type KubeCluster } from './kube-cluster.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const KUBECTL = fileURLToPath(new URL('../../../.state/tools/kubectl', import.meta.url));
const SOURCE = fileURLToPath(new URL('../src/config-source/kubernetes-config-source.ts', import.meta.url));
const CONTROLLERS = fileURLToPath(new URL('../src/config-source/kubernetes-controllers.ts', import.meta.url));
const TOKEN_CHECK = fileURLToPath(new URL('../src/ca/kubernetes-identity.ts', import.meta.url));
const ISTIOD_SERVICE_ACCOUNT = 'system:serviceaccount:istio-system:istiod';

const missing = kubeToolsMissing() ?? (existsSync(KUBECTL) ? undefined : 'kubectl not built: run `npm run setup`');

function kubectl(args: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(KUBECTL, args, { cwd: REPO, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`kubectl ${args.join(' ')} failed: ${String(err)}\n${stderr}`)) : resolve({ stdout, stderr }),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** `group/resource verb`, as the API server's authorizer sees a request. */
type Permission = string;
const permission = (group: string, resource: string, verb: string): Permission => `${group}/${resource} ${verb}`;

/**
 * What kubernetes-config-source.ts does with the API, derived from its own code:
 * - list + watch of every WATCHED_RESOURCES kind (its informers); get on them (the reread of an
 *   object after a 409 on a status write, and `kubectl`-style reads of one object);
 * - merge-patch of `<plural>/status` for the kinds of its STATUS_WRITTEN set;
 * - create of events.k8s.io Events (a POST per object version; it never patches or updates one);
 * - create of TokenReviews (ca/kubernetes-identity.ts: proxies' service-account tokens).
 * The writes are checked against the source text too, so a new kind of request fails here first.
 */
function requiredPermissions(): Set<Permission> {
  const required = new Set<Permission>();
  const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.split('/')[0]! : '');
  for (const r of WATCHED_RESOURCES) for (const verb of ['get', 'list', 'watch']) required.add(permission(groupOf(r.apiVersion), r.plural, verb));
  const source = readFileSync(SOURCE, 'utf8');
  const statusWritten = /const STATUS_WRITTEN = new Set\(\[([^\]]*)\]\)/.exec(source)?.[1];
  if (statusWritten === undefined) throw new Error('STATUS_WRITTEN not found in kubernetes-config-source.ts: update this test');
  for (const kind of [...statusWritten.matchAll(/'([A-Za-z]+)'/g)].map((m) => m[1]!)) {
    const resource = WATCHED_RESOURCES.find((r) => r.kind === kind);
    if (!resource) throw new Error(`STATUS_WRITTEN names ${kind}, which is not watched`);
    required.add(permission(groupOf(resource.apiVersion), `${resource.plural}/status`, 'patch'));
  }
  required.add(permission('events.k8s.io', 'events', 'create'));
  // The CA's and xDS's token check: a TokenReview per token (a POST), and a Pod read (get, above) when the review names no node.
  if (!readFileSync(TOKEN_CHECK, 'utf8').includes(`TOKEN_REVIEW_PATH = '/apis/authentication.k8s.io/v1/tokenreviews'`)) throw new Error('TOKEN_REVIEW_PATH not found in kubernetes-identity.ts: update this test');
  required.add(permission('authentication.k8s.io', 'tokenreviews', 'create'));
  // The controllers (istio-ca-root-cert ConfigMaps, waypoint objects): their own list.
  for (const { group, resource, verbs } of CONTROLLER_PERMISSIONS) for (const verb of verbs) required.add(permission(group, resource, verb));
  return required;
}

describe.skipIf(missing)(`deploy/kubernetes on a real kube-apiserver${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let cluster: KubeCluster;
  let admin: string;
  let rendered: string;

  beforeAll(async () => {
    cluster = await startKubeCluster();
    admin = await cluster.kubeconfigFor('admin');
    rendered = (await kubectl(['kustomize', 'deploy/kubernetes'])).stdout;
  }, 180_000);

  afterAll(async () => {
    await cluster?.close();
  });

  it('renders the kustomization: istio-system, istiod-lite and ztunnel with the images build-images.sh tags', () => {
    const objects = loadAllYaml(rendered) as ApiObject[];
    const names = objects.map((o) => `${o.kind}/${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`).sort();
    expect(names).toEqual(
      [
        'ClusterRole/istiod-lite',
        'ClusterRoleBinding/istiod-lite',
        'DaemonSet/istio-system/ztunnel',
        'Deployment/istio-system/istiod',
        'Namespace/istio-system',
        'Service/istio-system/istiod',
        'ServiceAccount/istio-system/istiod',
        'ServiceAccount/istio-system/ztunnel',
      ].sort(),
    );
    const images = objects.flatMap((o) => ((o['spec'] as { template?: { spec?: { containers?: Array<{ image: string }> } } })?.template?.spec?.containers ?? []).map((c) => c.image));
    const built = readFileSync(`${REPO}docker/build-images.sh`, 'utf8');
    for (const image of images) {
      expect(image).toMatch(/^mesh\/[a-z-]+:latest$/);
      expect(built).toContain(`build ${image.replace(/:latest$/, '')} `);
    }
    expect(images.sort()).toEqual(['mesh/istiod-lite:latest', 'mesh/ztunnel:latest']);
  });

  it('is accepted by the API server: kubectl apply --server-side --dry-run=server', async () => {
    // A server-side dry run creates nothing, so the namespaced objects would be refused for want
    // of istio-system ("namespaces \"istio-system\" not found"): the Namespace, as rendered, is
    // applied for real first (what an install does in its first step), then everything is dry-run.
    const namespace = (loadAllYaml(rendered) as ApiObject[]).find((o) => o.kind === 'Namespace');
    await kubectl(['--kubeconfig', admin, 'apply', '--server-side', '--field-manager=mesh-deploy-test', '-f', '-'], JSON.stringify(namespace));
    const { stdout } = await kubectl(['--kubeconfig', admin, 'apply', '--server-side', '--field-manager=mesh-deploy-test', '--dry-run=server', '-f', '-'], rendered);
    // One line per object, each "serverside-applied (server dry run)".
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength((loadAllYaml(rendered) as unknown[]).length);
    for (const line of lines) expect(line).toMatch(/serverside-applied \(server dry run\)$/);
  }, 60_000);

  it('its ClusterRole grants istiod-lite exactly what the Kubernetes config source does with the API', async () => {
    const role = (loadAllYaml(rendered) as ApiObject[]).find((o) => o.kind === 'ClusterRole')!;
    const granted = new Set<Permission>();
    for (const rule of role['rules'] as Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>)
      for (const group of rule.apiGroups) for (const resource of rule.resources) for (const verb of rule.verbs) granted.add(permission(group, resource, verb));
    const required = requiredPermissions();
    expect([...granted].sort()).toEqual([...required].sort());

    // The source's requests are GET (lists, watches, rereads), PATCH (status) and POST (Events):
    // a request of another kind would need a rule the table above does not derive.
    const source = readFileSync(SOURCE, 'utf8');
    expect(new Set([...source.matchAll(/HttpMethod\.([A-Z]+)/g)].map((m) => m[1]))).toEqual(new Set(['GET', 'PATCH', 'POST']));
    expect(source).toContain('`/apis/events.k8s.io/v1/namespaces/${eventNamespace}/events`');
    // The controllers: GET (list, watch, the read before an apply), POST and PUT of ConfigMaps,
    // PATCH (server-side apply) of waypoint objects; CONTROLLER_PERMISSIONS says which resources.
    expect(new Set([...readFileSync(CONTROLLERS, 'utf8').matchAll(/HttpMethod\.([A-Z]+)/g)].map((m) => m[1]))).toEqual(new Set(['GET', 'POST', 'PUT', 'PATCH']));

    // And the API server's authorizer agrees once it is applied for real: the service account may
    // do each of them, cluster-wide, and may not write a spec.
    await kubectl(['--kubeconfig', admin, 'apply', '--server-side', '--field-manager=mesh-deploy-test', '-f', '-'], rendered);
    // `kubectl auth can-i` prints yes or no (and exits 1 on no).
    const canI = (verb: string, resource: string, subresource?: string) =>
      new Promise<string>((resolve, reject) => {
        const args = ['--kubeconfig', admin, 'auth', 'can-i', verb, resource, ...(subresource ? [`--subresource=${subresource}`] : []), '--all-namespaces', `--as=${ISTIOD_SERVICE_ACCOUNT}`];
        execFile(KUBECTL, args, (err, stdout, stderr) => {
          const answer = stdout.trim();
          if (answer === 'yes' || answer === 'no') resolve(`${verb} ${resource}${subresource ? `/${subresource}` : ''}: ${answer}`);
          else reject(new Error(`kubectl auth can-i ${verb} ${resource}: ${String(err)} ${stderr}`));
        });
      });
    const asked = [...required].map((p) => {
      const [groupResource = '', verb = ''] = p.split(' ');
      const [group = '', resource = '', subresource] = groupResource.split('/');
      // kubectl names a resource resource.group (the core group: no suffix).
      return { verb, resource: `${resource}${group ? `.${group}` : ''}`, subresource };
    });
    const answers = await Promise.all(asked.map(({ verb, resource, subresource }) => canI(verb, resource, subresource)));
    expect(answers).toEqual(asked.map(({ verb, resource, subresource }) => `${verb} ${resource}${subresource ? `/${subresource}` : ''}: yes`));
    expect(await canI('update', 'httproutes.gateway.networking.k8s.io')).toBe('update httproutes.gateway.networking.k8s.io: no');
    expect(await canI('patch', 'pods')).toBe('patch pods: no');
    expect(await canI('delete', 'deployments.apps')).toBe('delete deployments.apps: no');
    expect(await canI('list', 'secrets')).toBe('list secrets: no');
  }, 120_000);
});

/**
 * deploy/kubernetes/istiod.yaml's init container copies the optional `cacerts` Secret into
 * <state-dir>/cacerts with ca-key.pem 0600 (a Secret volume with fsGroup is group-readable, which
 * the CA refuses): its script, run here with the mount paths pointed at temporary directories.
 */
describe('the cacerts init container of deploy/kubernetes/istiod.yaml', () => {
  const manifest = (loadAllYaml(readFileSync(`${REPO}deploy/kubernetes/istiod.yaml`, 'utf8')) as ApiObject[]).find((o) => o.kind === 'Deployment')!;
  const init = (manifest['spec'] as { template: { spec: { initContainers: Array<{ name: string; command: string[] }> } } }).template.spec.initContainers.find((c) => c.name === 'cacerts')!;
  const run = (secretDir: string, stateDir: string) => {
    const [node, flag, script] = init.command;
    expect([node, flag]).toEqual(['node', '-e']);
    return execFileSync(process.execPath, ['-e', script!.replaceAll("'/etc/cacerts'", JSON.stringify(secretDir)).replaceAll("'/var/lib/istiod/cacerts'", JSON.stringify(`${stateDir}/cacerts`))], { encoding: 'utf8' });
  };

  it('copies a plugged-in CA that the state dir then loads; without the Secret it copies nothing (a self-signed root)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'istiod-cacerts-'));
    try {
      const secret = path.join(dir, 'secret');
      writeTestCacerts(secret, { intermediate: true });
      // As the kubelet mounts it with defaultMode 0400 and fsGroup: group-readable.
      for (const name of readdirSync(secret)) chmodSync(path.join(secret, name), 0o440);
      const state = path.join(dir, 'state');
      expect(run(secret, state)).toContain('plugged-in CA copied');
      expect(statSync(path.join(state, 'cacerts', 'ca-key.pem')).mode & 0o777).toBe(0o600);
      const ca = loadMeshCa(state, 'cluster.local');
      expect(ca.rootCertPem).toBe(readFileSync(path.join(secret, 'root-cert.pem'), 'utf8'));
      // A replaced pod (a new emptyDir) gets the same root again.
      const replaced = path.join(dir, 'state-2');
      run(secret, replaced);
      expect(loadMeshCa(replaced, 'cluster.local').rootCertPem).toBe(ca.rootCertPem);

      const empty = path.join(dir, 'empty-secret');
      mkdirSync(empty);
      const unplugged = path.join(dir, 'state-3');
      expect(run(empty, unplugged)).toContain('no cacerts Secret');
      expect(existsSync(path.join(unplugged, 'cacerts'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
