/**
 * The whole system without root: istiod-lite and two ztunnels (explicit mode) as processes on
 * loopback. The sample mesh's addresses move to 127.R.x.y (R random per run); a pod is a
 * server bound to its own loopback address, and clients reach the mesh through their node's
 * SOCKS5 listener, so the source address still names the pod. The suite runs once per xDS
 * dialect (ztunnel --xds-dialect envoy|workload): traffic, policy and resync behave the same;
 * what the proxies show differs by design (docs/workload-api.md).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { socks5Connect, startNamedEchoServer } from '@mesh/ztunnel/testing';
import { readLine } from './helpers/client.js';
import { XDS_DIALECTS, createMeshFiles, freePort, podManifest, type MeshFiles, type XdsDialect } from './helpers/mesh.js';
import { AppProcess, ISTIOD_MAIN, REPO_ROOT, ZTUNNEL_MAIN, eventually, showOutputOnFailure, waitFor } from './helpers/process.js';
import type { ZtunnelDump } from '@mesh/workload-api';

const execFileAsync = promisify(execFile);
const BUILT = existsSync(ISTIOD_MAIN) && existsSync(ZTUNNEL_MAIN);
// 127.175–249.x.x: apart from apps/ztunnel/test (127.100–174), so the two suites can run in parallel.
const R = 175 + Math.floor(Math.random() * 75);
const addr = (text: string) => text.replaceAll('10.77.', `127.${R}.`);
const NODES = { 'node-a': addr('10.77.0.11'), 'node-b': addr('10.77.0.12') } as const;
const PODS: Record<string, string> = {
  'productpage-v1': '10.77.1.11',
  'reviews-v1': '10.77.1.12',
  'reviews-v2': '10.77.2.10',
  'reviews-v3': '10.77.2.11',
  'details-v1': '10.77.2.12',
  'ratings-v1': '10.77.2.13',
};
const PRODUCTPAGE = addr('10.77.1.11');
const SLEEP = addr('10.77.1.10');
const ADMIN_PORT = 15000;
/** The dialect of the suite running now (set in its beforeAll). */
let dialect: XdsDialect = 'envoy';

let files: MeshFiles;
let xdsTlsPort: number;
let istiod: AppProcess;
let istiodDebugPort: number;
const ztunnels: Record<string, AppProcess> = {};
const closers: Array<() => Promise<void> | void> = [];

/**
 * Starts istiod-lite (again); resolves once it is ready, with its debug port known. The xDS
 * port stays the same across restarts (the ztunnels reconnect to it); the debug port is new.
 */
async function startIstiod(): Promise<AppProcess> {
  istiod = new AppProcess('istiod-lite', process.execPath, [
    ISTIOD_MAIN,
    '--config-dir', files.configDir,
    '--state-dir', files.stateDir,
    '--xds-tls-port', String(xdsTlsPort),
    '--debug-port', '0',
    '--listen-address', '127.0.0.1',
  ]);
  closers.push(() => istiod.stop());
  const ready = await istiod.waitForLog((e) => e['msg'] === 'istiod-lite ready');
  istiodDebugPort = Number((ready['ports'] as { debug: number }).debug);
  return istiod;
}

function startZtunnel(node: keyof typeof NODES): AppProcess {
  return new AppProcess(`ztunnel ${node}`, process.execPath, [
    ZTUNNEL_MAIN,
    '--node-name', node,
    '--xds-address', `127.0.0.1:${xdsTlsPort}`,
    '--bootstrap-dir', `${files.stateDir}/nodes/${node}`,
    '--capture-mode', 'explicit',
    '--listen-address', NODES[node],
    '--xds-dialect', dialect,
  ]);
}

const MESHCTL_MAIN = `${REPO_ROOT}apps/istioctl-ts/dist/main.js`;
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
async function runMeshctl(args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(process.execPath, [MESHCTL_MAIN, ...args], { timeout: 30_000 });
  return stdout;
}

const admin = (node: keyof typeof NODES, path: string) => fetch(`http://${NODES[node]}:${ADMIN_PORT}${path}`);

async function ask(from: string, node: keyof typeof NODES, vip: string, port = 9080): Promise<string> {
  const socket = await socks5Connect({ proxy: { host: NODES[node], port: 15080 }, localAddress: from, host: vip, port });
  try {
    return await readLine(socket);
  } finally {
    socket.destroy();
  }
}

/** What a client gets: the first line, or `SOCKS5 reply <n>` / `refused: <why>` when refused. */
const answer = (from: string, node: keyof typeof NODES, vip: string, port = 9080): Promise<string> =>
  ask(from, node, vip, port).catch((err: Error & { reply?: number }) => (err.reply === undefined ? `refused: ${err.message}` : `SOCKS5 reply ${err.reply}`));

describe.skipIf(!BUILT).each(XDS_DIALECTS)('explicit mode, %s dialect: istiod-lite + two ztunnels as processes on loopback (needs `pnpm build`)', (suiteDialect) => {
  showOutputOnFailure(() => [istiod, ...Object.values(ztunnels)].filter(Boolean));
  beforeAll(async () => {
    dialect = suiteDialect;
    files = await createMeshFiles(addr);
    xdsTlsPort = await freePort();
    await startIstiod();
    for (const [name, ip] of Object.entries(PODS)) {
      const s = await startNamedEchoServer(name, addr(ip), 9080);
      closers.push(() => s.close());
    }
    for (const node of ['node-a', 'node-b'] as const) {
      ztunnels[node] = startZtunnel(node);
      closers.push(() => ztunnels[node]!.stop());
    }
    for (const node of ['node-a', 'node-b'] as const) {
      await waitFor(async () => (await fetch(`http://${NODES[node]}:15021/healthz/ready`)).status === 200, 30_000, `${node} ready`);
    }
  }, 90_000);

  afterAll(async () => {
    if (process.env['E2E_DEBUG']) for (const p of [istiod, ...Object.values(ztunnels)]) process.stderr.write(`--- ${p.name}\n${p.output}\n`);
    for (const close of closers.splice(0).reverse()) await close();
    await files?.cleanup();
  });

  it('productpage reaches all three reviews endpoints through the Service VIP', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add(await ask(PRODUCTPAGE, 'node-a', addr('10.77.100.11')));
    expect(seen).toEqual(new Set(['reviews-v1', 'reviews-v2', 'reviews-v3']));
  });

  it('istiod-lite knows where each ztunnel serves its admin API (what meshctl uses to find proxies)', async () => {
    const syncz = (await (await fetch(`http://127.0.0.1:${istiodDebugPort}/debug/syncz`)).json()) as unknown;
    const text = JSON.stringify(syncz);
    for (const node of ['node-a', 'node-b'] as const) expect(text).toContain(`"adminAddress":"${NODES[node]}:${ADMIN_PORT}"`);
  });

  it('shows what runs: config_dump, metrics, tunnels', async () => {
    if (dialect === 'workload') {
      // Istio ztunnel's dump: the whole mesh's workloads and services, and the certificates of node-a's pods.
      const dump = async () => (await (await admin('node-a', '/config_dump')).json()) as ZtunnelDump;
      expect((await dump()).workloads.find((w) => w.name === 'ratings-v1')).toMatchObject({ workloadIps: [addr('10.77.2.13')], node: 'node-b', protocol: 'HBONE', status: 'Healthy' });
      expect(Object.keys((await dump()).services.find((svc) => svc.name === 'reviews')?.endpoints ?? {})).toHaveLength(3);
      await eventually(async () => expect((await dump()).certificates.map((c) => [c.identity, c.state])).toEqual([
        ['spiffe://cluster.local/ns/default/sa/bookinfo-productpage', 'Available'],
        ['spiffe://cluster.local/ns/default/sa/bookinfo-reviews', 'Available'],
        ['spiffe://cluster.local/ns/default/sa/sleep', 'Available'],
      ]), { what: "node-a's certificates" });
    } else {
      const dump = (await (await admin('node-a', '/config_dump?include_eds')).json()) as { configs: Array<Record<string, unknown>> };
      const types = dump.configs.map((c) => String(c['@type']).split('.').pop());
      expect(types).toEqual(expect.arrayContaining(['ClustersConfigDump', 'ListenersConfigDump', 'EndpointsConfigDump', 'SecretsConfigDump']));
      // Certificates of node-a's pods only (node authorization at the CA), plus the root.
      const secrets = (await (await admin('node-a', '/config_dump?resource=dynamic_active_secrets')).json()) as { configs: Array<{ name: string }> };
      expect(secrets.configs.map((s) => s.name).sort()).toEqual([
        'ROOTCA',
        'spiffe://cluster.local/ns/default/sa/bookinfo-productpage',
        'spiffe://cluster.local/ns/default/sa/bookinfo-reviews',
        'spiffe://cluster.local/ns/default/sa/sleep',
      ]);
      const listeners = (await (await admin('node-a', '/config_dump?resource=dynamic_listeners')).json()) as { configs: Array<{ name: string }> };
      expect(listeners.configs.map((l) => l.name)).toContain('ztunnel_outbound');
    }
    // A live connection shows in /tunnels with its identities, and in the watch stream.
    const socket = await socks5Connect({ proxy: { host: NODES['node-a'], port: 15080 }, localAddress: PRODUCTPAGE, host: addr('10.77.100.13'), port: 9080 });
    onTestFinished(() => void socket.destroy());
    expect(await readLine(socket)).toBe('ratings-v1');
    await eventually(async () => {
      const metrics = await (await admin('node-b', '/stats/prometheus')).text();
      expect(metrics).toMatch(/istio_tcp_connections_opened_total\{reporter="destination",[^}]*source_principal="spiffe:\/\/cluster.local\/ns\/default\/sa\/bookinfo-productpage"/);
    }, { what: 'node-b counts the connection from productpage' });
    const tunnels = (await (await admin('node-a', '/tunnels')).json()) as { connections: Array<Record<string, unknown>>; pool: Array<Record<string, unknown>> };
    expect(tunnels.connections).toContainEqual(
      expect.objectContaining({ direction: 'outbound', dst: expect.objectContaining({ addr: `${addr('10.77.2.13')}:9080`, hboneAddr: `${addr('10.77.2.13')}:15008` }) }),
    );
    expect(tunnels.pool.length).toBeGreaterThan(0);
    const watch = await admin('node-a', '/tunnels?watch=1');
    const reader = watch.body!.getReader();
    const first = JSON.parse(new TextDecoder().decode((await reader.read()).value).split('\n')[0]!) as { type: string };
    expect(first.type).toBe('snapshot');
    await reader.cancel();
  });

  it('meshctl shows the live mesh: proxy-config, ztunnel-config, tunnels, x explain (found through istiod-lite)', async () => {
    const meshctl = (...args: string[]) => runMeshctl(['--istiod', `127.0.0.1:${istiodDebugPort}`, ...args]);
    if (dialect === 'workload') {
      await expect(meshctl('proxy-config', 'listeners', 'ztunnel-node-a')).rejects.toThrow(/runs Istio's workload API[\s\S]*meshctl ztunnel-config/);
      expect(await meshctl('zc', 'services', 'ztunnel-node-a')).toMatch(new RegExp(`default\\s+reviews\\s+${escape(addr('10.77.100.11'))}\\s+None\\s+3/3`));
      expect(await meshctl('zc', 'policies', 'ztunnel-node-a')).toMatch(/^NAMESPACE\s+POLICY NAME\s+ACTION\s+SCOPE/);
    } else {
      const listeners = await meshctl('proxy-config', 'listeners', 'ztunnel-node-a', '--port', '15001');
      expect(listeners).toMatch(new RegExp(`${escape(PRODUCTPAGE)} → ${escape(addr('10.77.100.11'))} → 9080\\s+Cluster: spiffe://cluster.local/ns/default/sa/bookinfo-productpage_to_http_reviews`));
      const endpoints = await meshctl('pc', 'ep', 'ztunnel-node-a', '--cluster', 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage_to_http_reviews.default.svc.cluster.local_outbound_internal');
      for (const ip of ['10.77.1.12', '10.77.2.10', '10.77.2.11']) expect(endpoints).toContain(`${addr(ip)}:15008`);
    }
    const workloads = await meshctl('zc', 'workloads', 'ztunnel-node-b');
    expect(workloads).toMatch(/ratings-v1/);
    // A live connection shows in tunnels and connections while it is open.
    const socket = await socks5Connect({ proxy: { host: NODES['node-a'], port: 15080 }, localAddress: PRODUCTPAGE, host: addr('10.77.100.12'), port: 9080 });
    onTestFinished(() => void socket.destroy());
    expect(await readLine(socket)).toBe('details-v1');
    const tunnels = JSON.parse(await meshctl('tunnels', 'ztunnel-node-a', '--once', '-o', 'json')) as unknown;
    expect(JSON.stringify(tunnels)).toContain(`${addr('10.77.2.12')}:15008`);
    // istioctl's columns: named after the workloads and the Service, addresses with --raw.
    expect(await meshctl('zc', 'connections', 'ztunnel-node-a')).toMatch(/^productpage-v1\.default\s+Outbound\s+productpage-v1\.default:\d+\s+details-v1\.default:15008\s+details\.default\.svc\.cluster\.local:9080\s+HBONE$/m);
    expect(await meshctl('zc', 'connections', 'ztunnel-node-a', '--raw')).toContain(`${addr('10.77.2.12')}:9080`);
    socket.destroy();
    const explain = await meshctl('x', 'explain', '--from', 'productpage-v1.default', '--to', `${addr('10.77.100.13')}:9080`);
    if (dialect === 'workload') {
      expect(explain).toMatch(/destination .* is service ratings\.default\.svc\.cluster\.local/);
      expect(explain).toMatch(new RegExp(`HBONE to ${escape(addr('10.77.2.13'))}:15008`));
      // Decided by ztunnel's planner as in the Envoy dialect: the steps name what its model holds.
      expect(explain).toMatch(/\[ztunnel-node-b\] listener ztunnel_inbound on port 15008: filter chain inbound_/);
    } else {
      expect(explain).toMatch(/ztunnel_outbound/);
      expect(explain).toMatch(/outbound_tunnel_lis_spiffe:\/\/cluster.local\/ns\/default\/sa\/bookinfo-productpage/);
      expect(explain).toMatch(/ztunnel_inbound/);
    }
    expect(explain).toMatch(/authorization: ALLOW/);
    expect(explain).toMatch(/allowed: .*reaches .*ratings-v1/);
  }, 90_000);

  it('a DENY policy from the manifests refuses sleep → ratings; lifting it lets sleep in again', async () => {
    const ratings = addr('10.77.100.13');
    expect(await answer(SLEEP, 'node-a', ratings)).toBe('ratings-v1');
    await files.usePolicy('deny-sleep-to-ratings.yaml', {
      what: 'DENY sleep → ratings',
      // SOCKS5 reply 2: connection not allowed by ruleset.
      inForce: async () => expect(await answer(SLEEP, 'node-a', ratings)).toBe('SOCKS5 reply 2'),
      lifted: async () => expect(await answer(SLEEP, 'node-a', ratings)).toBe('ratings-v1'),
    });
    await ztunnels['node-b']!.waitForLog((e) => e['scope'] === 'access' && String(e['policy']).includes('deny-sleep'));
    expect(await answer(PRODUCTPAGE, 'node-a', ratings)).toBe('ratings-v1');
  });

  it('keeps serving while istiod-lite is down, and resyncs a new pod when it is back', async () => {
    onTestFinished(async () => {
      if (!istiod.running) await startIstiod();
    });
    await istiod.stop();
    await ztunnels['node-a']!.waitForLog((e) => e['scope'] === 'xds' && String(e['msg']).includes('stream lost'));
    expect(await answer(PRODUCTPAGE, 'node-a', addr('10.77.100.13'))).toBe('ratings-v1');
    // While it is down, a new ratings pod appears in the manifests; after the restart it serves.
    const extra = await startNamedEchoServer('ratings-v2', addr('10.77.2.20'), 9080);
    closers.push(() => extra.close());
    await files.writeForTest('ratings-v2.yaml', podManifest({ name: 'ratings-v2', app: 'ratings', serviceAccount: 'bookinfo-ratings', node: 'node-b', ip: '10.77.2.20', port: 9080 }), {
      what: 'ratings-v2',
      lifted: async () => expect(await (await admin('node-a', '/config_dump?include_eds')).text()).not.toContain(addr('10.77.2.20')),
    });
    await startIstiod();
    await eventually(
      async () => expect(new Set(await Promise.all(Array.from({ length: 4 }, () => answer(PRODUCTPAGE, 'node-a', addr('10.77.100.13')))))).toContain('ratings-v2'),
      30_000,
      'ratings-v2 reachable through the VIP',
    );
  }, 90_000);
});
