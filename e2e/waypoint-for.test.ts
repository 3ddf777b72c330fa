/**
 * istio.io/waypoint-for for real (root): the two-node mesh in network namespaces with
 * examples/waypoint-for/web.yaml (namespace wpfor uses the waypoint `waypoint` at 10.77.2.40;
 * web-a 10.77.1.40 on node-a and web-b 10.77.2.41 on node-b are enrolled, web-direct 10.77.2.42
 * opts out; service web 10.77.100.40:80; the Gateway's L7 policy denies /private). The `sleep`
 * pod calls pod IPs and the VIP while each test sets the Gateway's traffic type by a manifest
 * edit: the DENY answering 403 shows the request went through the waypoint. It runs once per
 * ztunnel xDS dialect. Namespaces: prefix `wpt<6 hex>-`, removed in afterAll.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { Topology } from '@mesh/netfilter';
import { XDS_DIALECTS, createMeshFiles, type MeshFiles } from './helpers/mesh.js';
import { ISTIOD_MAIN, REPO_ROOT, ZTUNNEL_MAIN, eventually, type AppProcess } from './helpers/process.js';
import { NamespaceSuite } from './helpers/suite.js';
import { WAYPOINT_MAIN, httpFrom, podAgent, startEchoPod } from './helpers/waypoint.js';
import { startWaypointMesh } from './helpers/waypoint-mesh.js';

const isRoot = process.getuid?.() === 0;
const BUILT = existsSync(ISTIOD_MAIN) && existsSync(ZTUNNEL_MAIN) && existsSync(WAYPOINT_MAIN);
const suite = new NamespaceSuite('wpt');
const WAYPOINT_IP = '10.77.2.40';
const WEB_A = '10.77.1.40';
const WEB_B = '10.77.2.41';
const WEB_DIRECT = '10.77.2.42';
const WEB_VIP = '10.77.100.40';
const WEB_PORT = 8080;
const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';

const PODS = [
  { name: 'sleep', node: 'node-a', ip: '10.77.1.10' },
  { name: 'web-a', namespace: 'wpfor', node: 'node-a', ip: WEB_A },
  { name: 'web-b', namespace: 'wpfor', node: 'node-b', ip: WEB_B },
  { name: 'web-direct', namespace: 'wpfor', node: 'node-b', ip: WEB_DIRECT },
  { name: 'waypoint-0', namespace: 'wpfor', node: 'node-b', ip: WAYPOINT_IP },
];

let topology: Topology | undefined;
let files: MeshFiles;
let waypoint: AppProcess;
const { servers } = suite;
const podNs = (name: string, namespace = 'default') => topology!.pod(name, namespace).netns;

/** One request from the sleep pod on a fresh connection (a kept-alive one keeps the path it was opened on). */
async function call(ip: string, port: number, path: string): Promise<string> {
  const agent = podAgent(podNs('sleep'), 1);
  try {
    const { status, body } = await httpFrom(agent, ip, port, path);
    // `200 <pod that answered>`, else the status alone (403: the waypoint's RBAC denied it).
    return status === 200 ? `200 ${body.split(' ')[0] ?? ''}` : String(status);
  } finally {
    agent.destroy();
  }
}

const webYaml = async (value: string) => (await readFile(`${REPO_ROOT}examples/waypoint-for/web.yaml`, 'utf8')).replace('istio.io/waypoint-for: workload', `istio.io/waypoint-for: ${value}`);

async function cleanup(): Promise<void> {
  await suite.teardown();
  await files?.cleanup();
}

/** What sleep sees for each traffic type: through the waypoint, /private is denied (403). */
const EXPECTED = {
  service: { pod: false, service: true },
  workload: { pod: true, service: false },
  all: { pod: true, service: true },
  none: { pod: false, service: false },
} as const;

describe.skipIf(!isRoot || !BUILT).each(XDS_DIALECTS)('waypoint-for, %s dialect at ztunnel: examples/waypoint-for in network namespaces (root, needs `pnpm build`)', (dialect) => {
  suite.showOutputOnFailure();
  suite.runAround({
    start: async () => {
      files = await createMeshFiles();
      await files.write('web.yaml', await webYaml('workload'));
      const mesh = await startWaypointMesh({
        suite,
        files,
        pods: PODS,
        dialect,
        waypoint: { pod: 'waypoint-0', namespace: 'wpfor', ip: WAYPOINT_IP, node: 'node-b', gateway: 'waypoint' },
        startPods: async (t) => {
          for (const pod of PODS.filter((p) => p.name.startsWith('web'))) servers.push(await startEchoPod(t.pod(pod.name, 'wpfor').netns, pod.name, pod.ip, WEB_PORT));
        },
      });
      topology = mesh.topology;
      waypoint = mesh.waypoint;
    },
    cleanup,
    startTimeoutMs: 120_000,
    stopTimeoutMs: 30_000,
  });

  for (const [value, expected] of Object.entries(EXPECTED)) {
    it(`istio.io/waypoint-for: ${value} — pod IPs ${expected.pod ? 'through' : 'around'} the waypoint, the VIP ${expected.service ? 'through' : 'around'} it`, async () => {
      await files.write('web.yaml', await webYaml(value));
      const denied = (through: boolean, name: string) => (through ? '403' : `200 ${name}`);
      // The edit is pushed to istiod-lite, both ztunnels and the waypoint: wait until all of it shows.
      await eventually(async () => {
        expect(await call(WEB_B, WEB_PORT, '/private'), 'web-b (other node) by pod IP').toBe(denied(expected.pod, 'web-b'));
        expect(await call(WEB_A, WEB_PORT, '/private'), 'web-a (same node) by pod IP').toBe(denied(expected.pod, 'web-a'));
        expect(await call(WEB_VIP, 80, '/private'), 'web by its VIP').toMatch(expected.service ? /^403$/ : /^200 web-[ab]$/);
      }, 30_000, `waypoint-for: ${value} in force`);
      // Other paths pass either way; the opted-out pod is never sent to the waypoint.
      expect(await call(WEB_B, WEB_PORT, '/')).toBe('200 web-b');
      expect(await call(WEB_DIRECT, WEB_PORT, '/private')).toBe('200 web-direct');
      if (expected.pod) {
        const line = await waypoint.waitForLog((e) => e['scope'] === 'access' && e['response_code'] === 403 && e['path'] === '/private');
        expect(line).toMatchObject({ 'src.identity': SLEEP, response_flags: 'RBAC', rbac_policy: 'ns[wpfor]-policy[deny-private]-rule[0]' });
      }
    }, 60_000);
  }
});
