/**
 * meshctl against tiny real HTTP servers standing in for istiod-lite's debug API and the
 * ztunnels' admin APIs: discovery through syncz, pod → node resolution, admin vs istiod dumps,
 * timeouts and unreachable proxies, and the live commands in their non-TTY form.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { hasCode } from '@mesh/errors';
import { resolveZtunnelPod, type KubePod } from '../src/api/kube.js';
import { createHttpMeshClient, type MeshClientFactory } from '../src/api/mesh-client.js';
import { fixtureJson, istiodRoute, runCli, startJsonServer, tableRows, type Route } from './helpers.js';

const servers: { close: () => Promise<void> }[] = [];
async function serve(route: Route) {
  const s = await startJsonServer(route);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const NOW = Date.parse('2026-11-21T12:00:10.000Z');
const tunnelsBody = {
  connections: [
    {
      id: 7,
      direction: 'outbound',
      protocol: 'hbone',
      src: { addr: '10.77.1.11:40000', identity: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage', workload: 'productpage-v1' },
      dst: { addr: '10.77.2.10:9080', hboneAddr: '10.77.2.10:15008', service: 'reviews.default.svc.cluster.local', identity: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews', workload: 'reviews-v2' },
      startedAt: NOW - 5000,
      bytesSent: 2048,
      bytesRecv: 10240,
      ageMs: 5000,
    },
    {
      id: 8,
      direction: 'inbound',
      protocol: 'hbone',
      src: { addr: '10.77.2.10:41000', identity: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews', workload: 'reviews-v2' },
      dst: { addr: '10.77.1.11:9080', identity: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage', workload: 'productpage-v1' },
      bytesSent: 100,
      bytesRecv: 200,
      ageMs: 1000,
    },
  ],
  pool: [
    {
      id: 1,
      sourceIdentity: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage',
      destination: '10.77.2.10:15008',
      peerIdentity: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews',
      state: 'ready',
      activeStreams: 1,
      totalStreams: 4,
      ageMs: 60000,
    },
  ],
  server: [
    {
      peerIdentity: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews',
      localAddress: '10.77.1.11:15008',
      remoteAddress: '10.77.0.12:45678',
      activeStreams: 1,
      totalStreams: 1,
      ageMs: 2000,
    },
  ],
};

function adminRoute(fixture: 'bookinfo-node-a' | 'bookinfo-node-b'): Route {
  return (_req, url) => {
    if (url.pathname === '/config_dump') return { body: fixtureJson(fixture) };
    if (url.pathname === '/tunnels') return { body: tunnelsBody };
    return undefined;
  };
}

describe('data layer over HTTP', () => {
  it('lists proxies from syncz with their target names and admin addresses', async () => {
    const istiod = await serve(istiodRoute({ 'node-b': '10.77.0.12:15000' }));
    const proxies = await createHttpMeshClient({ istiod: istiod.address }).proxies();
    expect(proxies.map((p) => [p.name, p.nodeName, p.adminAddress])).toEqual([
      ['ztunnel-node-a', 'node-a', undefined],
      ['ztunnel-node-b', 'node-b', '10.77.0.12:15000'],
    ]);
  });

  it('parses /tunnels into typed connections and pool entries', async () => {
    const admin = await serve(adminRoute('bookinfo-node-a'));
    const snapshot = await createHttpMeshClient({ istiod: 'unused:1' }).tunnels(admin.address, 'ztunnel-node-a');
    expect(snapshot.connections[0]).toMatchObject({ id: '7', direction: 'outbound', dstHboneAddr: '10.77.2.10:15008', bytesSent: 2048, bytesRecv: 10240, ageMs: 5000 });
    expect(snapshot.pool[0]).toMatchObject({ destination: '10.77.2.10:15008', activeStreams: 1, totalStreams: 4 });
  });

  it('gives up on a proxy that never answers, naming the address', async () => {
    const dead = await serve(() => 'hang');
    const started = Date.now();
    const error = await createHttpMeshClient({ istiod: dead.address, timeoutMs: 200 })
      .proxies()
      .catch((err: unknown) => err);
    expect(Date.now() - started).toBeLessThan(10_000); // its own 200 ms, not the test's timeout: generous for a busy machine
    expect(hasCode(error, 'MESHCTL_ERR_TIMEOUT')).toBe(true);
    expect(String(error)).toContain(`istiod-lite at ${dead.address} did not answer /debug/syncz within 200 ms`);
  });

  it('says connection refused with what to check', async () => {
    const gone = await serve(() => undefined);
    const address = gone.address;
    await gone.close();
    const error = await createHttpMeshClient({ istiod: address }).proxies().catch((err: unknown) => err);
    expect(hasCode(error, 'MESHCTL_ERR_UNREACHABLE')).toBe(true);
    expect(String(error)).toMatch(/cannot reach istiod-lite at 127\.0\.0\.1:\d+ \(connection refused\).*--istiod/);
  });

  it('reports an HTTP error with the server’s reason', async () => {
    const istiod = await serve(istiodRoute());
    const error = await createHttpMeshClient({ istiod: istiod.address }).istiodConfigDump('ztunnel~x~y~z').catch((err: unknown) => err);
    expect(hasCode(error, 'MESHCTL_ERR_HTTP_STATUS')).toBe(true);
    expect(String(error)).toContain('with 404: proxy ztunnel~x~y~z is not connected');
  });
});

describe('meshctl against a live (fake) mesh', () => {
  it('a ztunnel target without a known admin address reads istiod-lite’s dump and says so', async () => {
    const istiod = await serve(istiodRoute());
    const { code, stdout, stderr } = await runCli(['--istiod', istiod.address, 'pc', 'l', 'ztunnel-node-b', '--port', '15008']);
    expect(code).toBe(0);
    expect(stderr).toMatch(/^note: istiod-lite does not know ztunnel-node-b's admin address/);
    expect(tableRows(stdout).slice(1).map((r) => r[2])).toEqual(['dst 10.77.2.10', 'dst 10.77.2.11', 'dst 10.77.2.12', 'dst 10.77.2.13']);
    expect(istiod.requests).toContain('/debug/config_dump?proxyID=ztunnel~10.77.0.12~ztunnel-node-b~istio-system.svc.cluster.local');
  });

  it('MESHCTL_ISTIOD sets the address; a known admin address is preferred', async () => {
    const admin = await serve(adminRoute('bookinfo-node-a'));
    const istiod = await serve(istiodRoute({ 'node-a': admin.address }));
    const { code, stderr } = await runCli(['pc', 'c', 'ztunnel-node-a'], { env: { MESHCTL_ISTIOD: istiod.address } });
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(admin.requests).toEqual(['/config_dump?include_eds']);
  });

  it('a pod target resolves to its node’s ztunnel', async () => {
    const istiod = await serve(istiodRoute());
    const { code, stdout } = await runCli(['--istiod', istiod.address, 'pc', 'ep', 'reviews-v2.default', '--cluster', 'ratings']);
    expect(code).toBe(0);
    // reviews-v2 runs on node-b; only its own identity's clusters are shown.
    const rows = tableRows(stdout).slice(1);
    expect(rows.map((r) => r[0])).toEqual(['10.77.2.13:9080']);
    expect(rows[0]?.[3]).toBe('spiffe://cluster.local/ns/default/sa/bookinfo-reviews_to_http_ratings.default.svc.cluster.local_outbound_internal');
  });

  it('an unknown target lists the known proxies and pods', async () => {
    const istiod = await serve(istiodRoute());
    const { code, stderr } = await runCli(['--istiod', istiod.address, 'pc', 'l', 'nothing.default']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error: unknown target nothing\.default; proxies: ztunnel-node-a, ztunnel-node-b; pods: .*productpage-v1\.default.*reviews-v3\.default/);
  });

  it('never hangs on a dead istiod-lite', async () => {
    const dead = await serve(() => 'hang');
    const { code, stderr } = await runCli(['--istiod', dead.address, '--timeout', '200', 'zc', 'services', 'ztunnel-node-a']);
    expect(code).toBe(1);
    expect(stderr).toContain(`error: istiod-lite at ${dead.address} did not answer /debug/syncz within 200 ms`);
  });

  it('x explain walks both ztunnels’ live config', async () => {
    const istiod = await serve(istiodRoute());
    const { code, stdout } = await runCli(['--istiod', istiod.address, 'x', 'explain', '--from', 'productpage-v1.default', '--to', 'reviews:9080', '--endpoint', '10.77.2.11']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/\[ztunnel-node-b\] listener ztunnel_inbound on 0\.0\.0\.0:15008: filter chain inbound_10\.77\.2\.11/);
    expect(stdout).toMatch(/Result: allowed: productpage-v1\.default reaches reviews-v3\.default at 10\.77\.2\.11:9080 over HBONE/);
  });

  it('x explain survives a dead admin API: that ztunnel’s config comes from istiod-lite, with a note', async () => {
    const adminA = await serve(adminRoute('bookinfo-node-a'));
    const deadB = await serve(() => 'hang');
    const istiod = await serve(istiodRoute({ 'node-a': adminA.address, 'node-b': deadB.address }));
    const { code, stdout, stderr } = await runCli(['--istiod', istiod.address, '--timeout', '200', 'x', 'explain', '--from', 'sleep.default', '--to', 'ratings:9080']);
    expect(code).toBe(0);
    expect(stderr).toContain(`note: ztunnel-node-b's admin API at ${deadB.address} did not answer /config_dump?include_eds within 200 ms`);
    expect(stdout).toMatch(/Result: allowed: sleep\.default reaches ratings-v1\.default/);
    expect(adminA.requests).toEqual(['/config_dump?include_eds']);
  });

  it('tunnels --once groups tunnels under their pool connection, with bytes', async () => {
    const admin = await serve(adminRoute('bookinfo-node-a'));
    const istiod = await serve(istiodRoute({ 'node-a': admin.address }));
    const { code, stdout } = await runCli(['--istiod', istiod.address, 'tunnels', 'ztunnel-node-a', '--once']);
    expect(code).toBe(0);
    expect(stdout).toBe(
      [
        'ztunnel-node-a',
        '10.77.2.10:15008 default/bookinfo-productpage → default/bookinfo-reviews ready streams 1 active/4 total, age 1m0s',
        '  outbound productpage-v1 → reviews-v2 10.77.2.10:9080 HBONE sent 2.0KiB (-) received 10KiB (-) age 5s',
        '10.77.1.11:15008 ← default/bookinfo-reviews from 10.77.0.12:45678 inbound streams 1 active/1 total, age 2s',
        '  inbound reviews-v2 → productpage-v1 10.77.1.11:9080 HBONE sent 100B (-) received 200B (-) age 1s',
        '',
      ].join('\n'),
    );
  });

  it('tunnels -o json for scripts; --workload filters', async () => {
    const admin = await serve(adminRoute('bookinfo-node-a'));
    const { stdout } = await runCli(['tunnels', '--admin', admin.address, '-o', 'json', '--workload', 'inbound-none-matches-this']);
    expect(JSON.parse(stdout)).toMatchObject({ tunnels: [], pool: [{ destination: '10.77.2.10:15008' }] });
    const all = JSON.parse((await runCli(['tunnels', '--admin', admin.address, '-o', 'json'])).stdout) as { tunnels: { id: string }[] };
    expect(all.tunnels.map((t) => t.id)).toEqual(['7', '8']);
  });

  it('tunnels without an admin address says how to give one', async () => {
    const istiod = await serve(istiodRoute());
    const { code, stderr } = await runCli(['--istiod', istiod.address, 'tunnels', 'ztunnel-node-a', '--once']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/does not know ztunnel-node-a's admin address.*--admin <host:port>/);
  });

  it("ztunnel-config connections: istioctl's WORKLOAD, DIRECTION, LOCAL, REMOTE, REMOTE TARGET, PROTOCOL, addresses named after workloads and Services", async () => {
    const admin = await serve(adminRoute('bookinfo-node-a'));
    const { stdout } = await runCli(['zc', 'connections', '--admin', admin.address]);
    expect(stdout.split('\n')[0]).toBe('WORKLOAD                 DIRECTION   LOCAL                          REMOTE                     REMOTE TARGET                            PROTOCOL');
    expect(tableRows(stdout)).toEqual([
      ['WORKLOAD', 'DIRECTION', 'LOCAL', 'REMOTE', 'REMOTE TARGET', 'PROTOCOL'],
      // Inbound: no Service named in this snapshot, so REMOTE TARGET is empty (as istioctl prints it).
      ['productpage-v1.default', 'Inbound', 'productpage-v1.default:9080', 'reviews-v2.default:41000', 'HBONE'],
      ['productpage-v1.default', 'Outbound', 'productpage-v1.default:40000', 'reviews-v2.default:15008', 'reviews.default.svc.cluster.local:9080', 'HBONE'],
    ]);
  });

  it('ztunnel-config connections --raw, --direction, --namespace', async () => {
    const admin = await serve(adminRoute('bookinfo-node-a'));
    expect(tableRows((await runCli(['zc', 'connections', '--admin', admin.address, '--raw', '--direction', 'outbound'])).stdout)).toEqual([
      ['WORKLOAD', 'DIRECTION', 'LOCAL', 'REMOTE', 'REMOTE TARGET', 'PROTOCOL'],
      ['productpage-v1.default', 'Outbound', '10.77.1.11:40000', '10.77.2.10:15008', '10.77.2.10:9080', 'HBONE'],
    ]);
    expect(tableRows((await runCli(['zc', 'connections', '--admin', admin.address, '--namespace', 'echo'])).stdout)).toHaveLength(1);
    const json = JSON.parse((await runCli(['zc', 'connections', '--admin', admin.address, '--direction', 'inbound', '-o', 'json'])).stdout) as { id: string }[];
    expect(json.map((c) => c.id)).toEqual(['8']);
    const bad = await runCli(['zc', 'connections', '--admin', admin.address, '--direction', 'sideways']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--direction sideways is not a direction/);
  });

  it('ztunnel-config --node reads the ztunnel on that node; with a target too it is refused', async () => {
    const istiod = await serve(istiodRoute());
    const byNode = await runCli(['--istiod', istiod.address, 'zc', 'services', '--node', 'node-a']);
    expect(byNode.code).toBe(0);
    expect(byNode.stdout).toBe((await runCli(['--istiod', istiod.address, 'zc', 'services', 'ztunnel-node-a'])).stdout);
    const both = await runCli(['--istiod', istiod.address, 'zc', 'services', 'ztunnel-node-a', '--node', 'node-b']);
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/--node node-b picks a ztunnel, and the target ztunnel-node-a picks one too/);
  });

  it('ztunnel-config log reads and sets levels through the admin API, per node or for every ztunnel', async () => {
    const levels: Record<string, string> = { access: 'info', xds: 'info', rbac: 'info' };
    const seen: string[] = [];
    const admin = await serve((req, url) => {
      if (url.pathname !== '/logging') return undefined;
      seen.push(`${req.method} ${url.search}`);
      if (req.method === 'POST') {
        for (const [key, value] of url.searchParams) {
          if (!['debug', 'info', 'warn', 'error', 'off'].includes(value)) return { status: 400, body: { error: `unknown level ${value}; use debug, info, warn, error, off` } };
          for (const scope of key === 'level' ? Object.keys(levels) : [key]) levels[scope] = value;
        }
      }
      return { body: { levels } };
    });
    const istiod = await serve(istiodRoute({ 'node-a': admin.address, 'node-b': admin.address }));
    const get = await runCli(['--istiod', istiod.address, 'zc', 'log', 'ztunnel-node-a']);
    expect(get.stdout).toBe('ztunnel-node-a:\ncurrent log level is info\n');
    const set = await runCli(['--istiod', istiod.address, 'zc', 'log', '--node', 'node-b', '--level', 'xds:debug,rbac:debug']);
    expect(set.stdout).toBe('ztunnel-node-b:\ncurrent log level is access=info,xds=debug,rbac=debug\n');
    expect(seen.at(-1)).toBe('POST ?xds=debug&rbac=debug');
    const reset = await runCli(['--istiod', istiod.address, 'zc', 'log', '--reset']);
    expect(reset.stdout).toBe('ztunnel-node-a:\ncurrent log level is info\nztunnel-node-b:\ncurrent log level is info\n');
    const bad = await runCli(['--istiod', istiod.address, 'zc', 'log', 'ztunnel-node-a', '--level', 'loud']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/answered \/logging\?level=loud with 400: unknown level loud; use debug, info, warn, error, off/);
    const unknown = await runCli(['--istiod', istiod.address, 'zc', 'log', 'ztunnel-node-z']);
    expect(unknown.stderr).toMatch(/^error: unknown ztunnel ztunnel-node-z; ztunnels: ztunnel-node-a, ztunnel-node-b \(hint: /);
    const unknownNode = await runCli(['--istiod', istiod.address, 'zc', 'log', '--node', 'node-z']);
    expect(unknownNode.stderr).toMatch(/^error: unknown ztunnel ztunnel-node-z; ztunnels: ztunnel-node-a, ztunnel-node-b \(hint: /);
  });

  describe('tunnels and zc log take the ztunnel pod name, resolved as proxy-config resolves it', () => {
    // A cluster as kube.ts sees it (the DaemonSet's pods, by node); istiod-lite and the admin APIs are the HTTP fakes.
    const PODS: KubePod[] = [
      { namespace: 'istio-system', name: 'ztunnel-a9q4m', nodeName: 'node-a', phase: 'Running', ready: true },
      { namespace: 'istio-system', name: 'ztunnel-b2x7k', nodeName: 'node-b', phase: 'Running', ready: true },
    ];
    const overCluster: MeshClientFactory = (options) => ({ ...createHttpMeshClient(options), ztunnelPod: async (target) => resolveZtunnelPod(PODS, target) });
    const levelsRoute: Route = (req, url) => (url.pathname === '/logging' ? { body: { levels: { access: 'info', xds: req.method === 'POST' ? 'debug' : 'info' } } } : adminRoute('bookinfo-node-a')(req, url));

    it('with a cluster: ztunnel-x7k2p and ztunnel-x7k2p.istio-system are that pod node’s ztunnel, shown whole', async () => {
      const admin = await serve(levelsRoute);
      const istiod = await serve(istiodRoute({ 'node-a': admin.address }));
      const cli = (...args: string[]) => runCli(['--istiod', istiod.address, ...args], { client: overCluster });
      const byNode = await cli('tunnels', 'ztunnel-node-a', '--once');
      expect(byNode.code).toBe(0);
      expect(byNode.stdout.split('\n')[0]).toBe('ztunnel-node-a');
      for (const name of ['ztunnel-a9q4m', 'ztunnel-a9q4m.istio-system']) {
        const byPod = await cli('tunnels', name, '--once');
        expect(byPod).toEqual(byNode);
        const json = JSON.parse((await cli('tunnels', name, '-o', 'json')).stdout) as { proxy: string; tunnels: { id: string }[] };
        expect(json.proxy).toBe('ztunnel-node-a');
        expect(json.tunnels.map((t) => t.id)).toEqual(['7', '8']);
      }
      expect(await cli('zc', 'log', 'ztunnel-a9q4m.istio-system')).toEqual({ code: 0, stdout: 'ztunnel-node-a:\ncurrent log level is info\n', stderr: '' });
      expect((await cli('zc', 'log', 'ztunnel-a9q4m', '--level', 'xds:debug')).stdout).toBe('ztunnel-node-a:\ncurrent log level is access=info,xds=debug\n');
      expect(admin.requests.filter((r) => r.startsWith('/logging'))).toEqual(['/logging', '/logging?xds=debug']);
      // ztunnel-<node> and --node are resolved the same way.
      expect((await cli('zc', 'log', '--node', 'node-a')).stdout).toBe('ztunnel-node-a:\ncurrent log level is info\n');
    });

    it('--help says which names they take, with an example of the pod name', async () => {
      // Whitespace as one space: commander wraps to the terminal's width.
      const help = async (...args: string[]) => (await runCli([...args, '--help'])).stdout.replace(/\s+/g, ' ');
      const tunnels = await help('tunnels');
      expect(tunnels).toContain("ztunnel ztunnel-<node> or the ztunnel pod name (ztunnel-x7k2p[.istio-system], with a cluster); or a pod name.namespace (its node's ztunnel, filtered to it)");
      expect(tunnels).toContain(' meshctl --context prod tunnels ztunnel-x7k2p.istio-system --once ');
      const log = await help('zc', 'log');
      expect(log).toContain('ztunnel ztunnel-<node>, or with a cluster the ztunnel pod name (ztunnel-x7k2p[.istio-system]) (default: every ztunnel)');
      expect(log).toContain(' meshctl --context prod zc log ztunnel-x7k2p.istio-system --level debug ');
    });

    it('with a cluster: an application pod name.namespace is still its node’s ztunnel filtered to that pod', async () => {
      const admin = await serve(adminRoute('bookinfo-node-a'));
      const istiod = await serve(istiodRoute({ 'node-a': admin.address }));
      // sleep runs on node-a and has no tunnel in the snapshot: filtered to it, none are left.
      const { code, stdout } = await runCli(['--istiod', istiod.address, 'tunnels', 'sleep.default', '-o', 'json'], { client: overCluster });
      expect(code).toBe(0);
      expect(JSON.parse(stdout)).toMatchObject({ proxy: 'ztunnel-node-a', tunnels: [] });
    });

    it('with a cluster: an unknown ztunnel pod fails naming it and listing the ztunnels there are', async () => {
      const istiod = await serve(istiodRoute());
      for (const args of [['tunnels', 'ztunnel-zzzzz', '--once'], ['zc', 'log', 'ztunnel-zzzzz']]) {
        const { code, stderr } = await runCli(['--istiod', istiod.address, ...args], { client: overCluster });
        expect(code).toBe(1);
        expect(stderr).toBe(
          'error: no ztunnel runs on node zzzzz: ztunnels (pods labelled app=ztunnel in istio-system): ztunnel-node-a (pod ztunnel-a9q4m), ztunnel-node-b (pod ztunnel-b2x7k) (hint: a ztunnel target is ztunnel-<node> or the ztunnel pod name)\n',
        );
      }
    });

    it('without a cluster there are no pods to resolve: the error lists the ztunnels istiod-lite knows and says what takes a pod name', async () => {
      const istiod = await serve(istiodRoute());
      const tunnels = await runCli(['--istiod', istiod.address, 'tunnels', 'ztunnel-a9q4m', '--once']);
      expect(tunnels.code).toBe(1);
      expect(tunnels.stderr).toBe(
        'error: unknown ztunnel ztunnel-a9q4m; ztunnels: ztunnel-node-a, ztunnel-node-b (hint: meshctl tunnels ztunnel-<node> (with --kubeconfig/--context also the ztunnel pod name), a pod name.namespace, or --admin <host:port>)\n',
      );
      const none = await runCli(['--istiod', istiod.address, 'tunnels', '--once']);
      expect(none.stderr).toMatch(/^error: unknown ztunnel \(none given\); ztunnels: ztunnel-node-a, ztunnel-node-b \(hint: /);
      const log = await runCli(['--istiod', istiod.address, 'zc', 'log', 'ztunnel-a9q4m.istio-system']);
      expect(log.code).toBe(1);
      expect(log.stderr).toBe(
        'error: unknown ztunnel ztunnel-a9q4m.istio-system; ztunnels: ztunnel-node-a, ztunnel-node-b (hint: a ztunnel is ztunnel-<node> (or --node <node>), with --kubeconfig/--context also its pod name (ztunnel-x7k2p[.istio-system]); or --admin <host:port>)\n',
      );
      // zc log takes a ztunnel, not an application pod.
      expect((await runCli(['--istiod', istiod.address, 'zc', 'log', 'productpage-v1.default'])).stderr).toMatch(/^error: unknown ztunnel productpage-v1\.default; ztunnels: ztunnel-node-a, ztunnel-node-b /);
    });
  });

  it('version reports the client and the connected proxies', async () => {
    const istiod = await serve(istiodRoute());
    const { stdout } = await runCli(['--istiod', istiod.address, 'version']);
    expect(stdout).toBe(`client version: 0.1.0\ncontrol plane: istiod-lite at ${istiod.address}, 2 proxies connected: ztunnel-node-a, ztunnel-node-b\n`);
  });
});
