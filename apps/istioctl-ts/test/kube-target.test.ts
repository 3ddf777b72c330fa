/**
 * meshctl --kubeconfig/--context against a real kube-apiserver and etcd on loopback (the
 * harness of apps/istiod-lite/test/kube-cluster.ts): istiod-lite and the ztunnels are found
 * through the API (a DaemonSet-like ztunnel pod per node, an istiod pod, their status set as a
 * kubelet would). No kubelet runs here, so a port-forward cannot succeed: the API server accepts
 * it and fails dialing the node's kubelet. What is checked: the pod picked (named in that error),
 * an unknown node listing the known ones, the failure as one line naming the pod and the reason
 * (for proxy-config, tunnels and zc log alike),
 * and a ztunnel whose admin API is reachable from here read there without a port-forward.
 *
 * meshctl runs as the built program (dist/main.js), as a user runs it: the port-forward's
 * WebSocket (@kubernetes/client-node through isomorphic-ws) does not load under vitest's module
 * transform ("WebSocket is not a constructor"), which would test an error no user sees.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeToolsMissing, startKubeCluster, type ApiObject, type KubeCluster } from '../../istiod-lite/test/kube-cluster.js';
import { fixtureJson, istiodRoute, startJsonServer, type CliResult } from './helpers.js';

const BUILT = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const missing = kubeToolsMissing() ?? (existsSync(BUILT) ? undefined : 'meshctl is not built (pnpm run build)');

function runCli(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    // Only the flags say where the cluster and istiod-lite are.
    const { MESHCTL_ISTIOD: _istiod, ...env } = process.env;
    execFile(process.execPath, [BUILT, ...args], { env: { ...env, KUBECONFIG: '/nonexistent' }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

function pod(name: string, node: string, app: string): ApiObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'istio-system', labels: { app } },
    spec: { nodeName: node, containers: [{ name: app, image: 'registry.invalid/mesh:1' }] },
  };
}

/** The error line and nothing that looks like a stack. */
function errorLine(stderr: string): string {
  expect(stderr).not.toMatch(/^\s+at /m);
  const lines = stderr.trimEnd().split('\n').filter((l) => l.startsWith('error: '));
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

describe.skipIf(missing)(`meshctl against a real kube-apiserver${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let cluster: KubeCluster;
  let kubeconfig: string;
  const closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    cluster = await startKubeCluster();
    kubeconfig = await cluster.kubeconfigFor('admin');
    await cluster.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } });
    // The API server dials a node's kubelet at its address and kubelet port: a loopback port
    // nothing listens on, so a port-forward fails at once with "connection refused".
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const kubeletPort = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const core = cluster.admin.makeApiClient(CoreV1Api);
    for (const name of ['node-a', 'node-b']) {
      await cluster.apply({ apiVersion: 'v1', kind: 'Node', metadata: { name } });
      const node = await core.readNode({ name });
      node.status = { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: kubeletPort } } };
      await core.replaceNodeStatus({ name, body: node });
    }
    const pods: Array<[string, string, string, boolean]> = [
      ['ztunnel-a9q4m', 'node-a', 'ztunnel', true],
      ['ztunnel-b2x7k', 'node-b', 'ztunnel', true],
      ['istiod-7d9f8', 'node-a', 'istiod', true],
    ];
    for (const [name, node, app, ready] of pods) {
      await cluster.apply(pod(name, node, app));
      await cluster.setPodStatus('istio-system', name, { podIP: '127.0.0.1', ready });
    }
  }, 240_000);

  afterAll(async () => {
    for (const close of closers) await close();
    await cluster?.close();
  }, 60_000);

  it('ztunnel-<node> resolves to the DaemonSet pod on that node; the port-forward failure is one line naming the pod and why', async () => {
    const result = await runCli(['--kubeconfig', kubeconfig, 'proxy-config', 'all', 'ztunnel-node-b']);
    expect(result.code).toBe(1);
    const line = errorLine(result.stderr);
    // The reason is the API server's: it could not reach the node's kubelet.
    expect(line).toMatch(/^error: cannot port-forward to pod istio-system\/ztunnel-b2x7k port 15000: error dialing backend: dial tcp 127\.0\.0\.1:\d+: connect: connection refused \(HTTP 500\) \(hint: /);
    // istiod-lite is asked first (whether the admin API is reachable without a port-forward): its pod, its debug port.
    expect(result.stderr).toContain('cannot port-forward to pod istio-system/istiod-7d9f8 port 15014');
  });

  it('a ztunnel pod name is taken as istioctl takes it', async () => {
    const result = await runCli(['--kubeconfig', kubeconfig, '--context', 'admin', 'pc', 'all', 'ztunnel-a9q4m']);
    expect(result.code).toBe(1);
    expect(errorLine(result.stderr)).toMatch(/^error: cannot port-forward to pod istio-system\/ztunnel-a9q4m port 15000: /);
  });

  it('tunnels and zc log take the ztunnel pod name (bare or name.namespace) as proxy-config does: that pod is reached', async () => {
    for (const [args, pod] of [
      [['tunnels', 'ztunnel-b2x7k.istio-system', '--once'], 'ztunnel-b2x7k'],
      [['tunnels', 'ztunnel-node-a', '--once'], 'ztunnel-a9q4m'],
      [['ztunnel-config', 'log', 'ztunnel-a9q4m'], 'ztunnel-a9q4m'],
      [['zc', 'log', 'ztunnel-b2x7k.istio-system', '--level', 'debug'], 'ztunnel-b2x7k'],
    ] as const) {
      const result = await runCli(['--kubeconfig', kubeconfig, ...args]);
      expect(result.code).toBe(1);
      expect(errorLine(result.stderr)).toMatch(new RegExp(`^error: cannot port-forward to pod istio-system/${pod} port 15000: `));
    }
    const unknown = await runCli(['--kubeconfig', kubeconfig, 'zc', 'log', 'ztunnel-zzzzz.istio-system']);
    expect(errorLine(unknown.stderr)).toMatch(/^error: no ztunnel pod is ztunnel-zzzzz\.istio-system \(name\.namespace\) and no ztunnel runs on node zzzzz\.istio-system: ztunnels \(pods labelled app=ztunnel in istio-system\): ztunnel-node-a \(pod ztunnel-a9q4m\), ztunnel-node-b \(pod ztunnel-b2x7k\) /);
  });

  it('an unknown node fails listing the known ztunnels', async () => {
    const result = await runCli(['--kubeconfig', kubeconfig, 'pc', 'all', 'ztunnel-node-z']);
    expect(result.code).toBe(1);
    expect(errorLine(result.stderr)).toBe(
      'error: no ztunnel runs on node node-z: ztunnels (pods labelled app=ztunnel in istio-system): ztunnel-node-a (pod ztunnel-a9q4m), ztunnel-node-b (pod ztunnel-b2x7k) (hint: a ztunnel target is ztunnel-<node> or the ztunnel pod name)',
    );
  });

  it('proxy-status reaches istiod-lite through its pod (app=istiod in istio-system)', async () => {
    const result = await runCli(['--kubeconfig', kubeconfig, 'proxy-status']);
    expect(result.code).toBe(1);
    expect(errorLine(result.stderr)).toMatch(/^error: cannot port-forward to pod istio-system\/istiod-7d9f8 port 15014: \S/);
  });

  it('a context the kubeconfig does not have is named with the ones it has', async () => {
    const result = await runCli(['--kubeconfig', kubeconfig, '--context', 'nope', 'proxy-status']);
    expect(result.code).toBe(1);
    expect(errorLine(result.stderr)).toBe('error: no context nope in the kubeconfig; contexts: admin');
  });

  it('where the ztunnel admin API is reachable from here (istiod-lite says where), it is read there, without a port-forward', async () => {
    const admin = await startJsonServer((_req, url) => (url.pathname === '/config_dump' ? { body: fixtureJson('bookinfo-node-a') } : undefined));
    closers.push(admin.close);
    const istiod = await startJsonServer(istiodRoute({ 'node-a': admin.address }));
    closers.push(istiod.close);
    const result = await runCli(['--kubeconfig', kubeconfig, '--istiod', istiod.address, 'pc', 'all', 'ztunnel-node-a', '-o', 'json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(admin.requests).toEqual(['/config_dump?include_eds']);
    // node-b's admin address is unknown to istiod-lite: through its pod.
    const other = await runCli(['--kubeconfig', kubeconfig, '--istiod', istiod.address, 'pc', 'all', 'ztunnel-node-b']);
    expect(errorLine(other.stderr)).toMatch(/^error: cannot port-forward to pod istio-system\/ztunnel-b2x7k port 15000: /);
  });

  it('a pod target: a ztunnel that cannot be reached through its pod is read from istiod-lite instead, with a note, as without a cluster', async () => {
    const istiod = await startJsonServer(istiodRoute());
    closers.push(istiod.close);
    const result = await runCli(['--kubeconfig', kubeconfig, '--istiod', istiod.address, 'pc', 'listeners', 'productpage-v1.default']);
    expect(result.code).toBe(0);
    const notes = result.stderr.trimEnd().split('\n');
    expect(notes).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^note: cannot port-forward to pod istio-system\/ztunnel-a9q4m port 15000: .*; using the config istiod-lite sends ztunnel-node-a instead$/),
        expect.stringMatching(/^note: cannot port-forward to pod istio-system\/ztunnel-b2x7k port 15000: .*; using the config istiod-lite sends ztunnel-node-b instead$/),
      ]),
    );
    expect(result.stdout).not.toBe('');
  });
});
