// The two-node mesh the ztunnel benchmarks run on (root, built apps), in network namespaces:
//
//   mesh pair    client (node-a) → server (node-b), both in the mesh: once `startMesh()` has
//                started istiod-lite on the underlay and a transparent ztunnel per node, their
//                traffic is captured on both nodes (TPROXY → ztunnel A → HBONE → ztunnel B → pod)
//   direct pair  plain-client (node-a) → plain-server (node-b), pods no manifest names: the same
//                route through the same nodes, never captured; the baseline, measured in the same
//                run as the mesh pair (`withDirectPair`)
//
// Every pod runs pod-server.mjs (echo on 9080, byte-counting sink on 9081). `sampleMesh` adds the
// sample mesh (examples/bookinfo) to the config, so each ztunnel holds what it would in the
// walkthrough. Everything is removed by `cleanup()`, also on Ctrl-C, and namespaces a killed run
// left (same tag) are removed first: each run records its pid (and the pid's start time) in
// /run/mesh-bench/<prefix>.owner before it creates a namespace, and a namespace is swept only
// when that owner is gone (or never recorded), so runs in progress do not break each other.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, closeSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTcpSocket, createTopology, destroyTopology, listNamespaces } from '@mesh/netfilter';

export { median, percentile as pct } from '../../../scripts/bench-lib.mjs';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const ISTIOD_MAIN = join(ROOT, 'apps/istiod-lite/dist/main.js');
export const ZTUNNEL_MAIN = join(ROOT, 'apps/ztunnel/dist/main.js');
const SAMPLE_MESH = join(ROOT, 'examples/bookinfo');
/** The sample mesh's underlay and pod CIDRs are in 10.77 (examples/bookinfo/00-mesh.yaml). */
const SAMPLE_SUBNET = '10.77';
const POD_SERVER = fileURLToPath(new URL('./pod-server.mjs', import.meta.url));
export const MiB = 1024 * 1024;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Host parts of the pods in their node's /24, clear of the sample mesh's pods (.10–.13). */
const MESH_HOST = 50;
const DIRECT_HOST = 51;

/** Namespace and nodes, unless the sample mesh (which has them) is loaded too. */
function meshScaffold(subnet) {
  return `apiVersion: v1
kind: Namespace
metadata: { name: default, labels: { istio.io/dataplane-mode: ambient } }
---
apiVersion: v1
kind: Node
metadata: { name: node-a }
spec: { podCIDR: ${subnet}.1.0/24 }
status: { addresses: [{ type: InternalIP, address: ${subnet}.0.11 }] }
---
apiVersion: v1
kind: Node
metadata: { name: node-b }
spec: { podCIDR: ${subnet}.2.0/24 }
status: { addresses: [{ type: InternalIP, address: ${subnet}.0.12 }] }
---
`;
}

/** The mesh pair: one client, one server behind a Service. The direct pair is in no manifest. */
function benchManifests(subnet) {
  return `apiVersion: v1
kind: ServiceAccount
metadata: { name: client }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: server }
---
apiVersion: v1
kind: Service
metadata: { name: server }
spec: { clusterIP: ${subnet}.100.${MESH_HOST}, selector: { app: server }, ports: [{ name: echo, port: 9080, targetPort: 9080 }, { name: sink, port: 9081, targetPort: 9081 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: client, labels: { app: client } }
spec: { serviceAccountName: client, nodeName: node-a, containers: [{ name: c, ports: [{ containerPort: 9080 }] }] }
status: { phase: Running, podIP: ${subnet}.1.${MESH_HOST} }
---
apiVersion: v1
kind: Pod
metadata: { name: server, labels: { app: server } }
spec: { serviceAccountName: server, nodeName: node-b, containers: [{ name: s, ports: [{ containerPort: 9080 }, { containerPort: 9081 }] }] }
status: { phase: Running, podIP: ${subnet}.2.${MESH_HOST} }
`;
}

/**
 * Starts a process in its own group. `logFile`: its stdout goes through a pipe to a `cat` that
 * appends to that file, as a container runtime's shim keeps a container's log (a pipe, drained by
 * another process), costing the benchmark process nothing; `waitFor` then sees stderr only.
 */
export function startProcess(argv, waitFor, { logFile } = {}) {
  let shim;
  if (logFile) {
    const logFd = openSync(logFile, 'a');
    shim = spawn('cat', [], { detached: true, stdio: ['pipe', logFd, 'ignore'] });
    closeSync(logFd);
  }
  const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', shim?.stdin ?? 'pipe', 'pipe'] });
  shim?.stdin.destroy(); // the child holds the pipe's write end now
  let output = '';
  const ready = new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk;
      if (output.length > 1_000_000) output = output.slice(-100_000);
      if (waitFor.test(output)) resolve();
    };
    child.stdout?.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.once('exit', (code) => reject(new Error(`${argv.join(' ')} exited ${code}:\n${output.slice(-2000)}`)));
  });
  ready.catch(() => undefined);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const signal = (name) => {
    try {
      process.kill(-child.pid, name);
    } catch {
      // gone
    }
  };
  /** SIGKILL; `graceful`: SIGTERM first and up to 5 s to exit (a profiled process writes its profile then). */
  const stop = async ({ graceful = false } = {}) => {
    if (graceful && child.exitCode === null) {
      signal('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
    }
    signal('SIGKILL');
    if (shim) {
      // Drains what the process wrote, then ends with the pipe.
      await Promise.race([new Promise((resolve) => shim.once('exit', resolve)), sleep(2000)]);
      shim.kill('SIGKILL');
    }
  };
  const tail = () => {
    if (!logFile) return output;
    try {
      return output + readFileSync(logFile, 'utf8').slice(-4000);
    } catch {
      return output;
    }
  };
  return { child, ready, stop, signal, output: tail };
}

export function connectFrom(netns, host, port) {
  return new Promise((resolve, reject) => {
    const socket = createTcpSocket({ netns });
    socket.setNoDelay(true);
    socket.once('error', reject);
    socket.connect(port, host, () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
export const CLK_TCK = 100;

/** utime + stime of a process, in clock ticks (CLK_TCK a second). */
export function cpuTicks(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** A field of /proc/<pid>/status in MiB: VmRSS (all resident memory), RssAnon (less the mapped files: Node's own code pages). */
export function statusMiB(pid, field) {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

export function rssMiB(pid) {
  return statusMiB(pid, 'VmRSS');
}

export function openFds(pid) {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** GET on a node's loopback (ztunnel's admin, metrics and readiness ports); undefined when unreachable. */
function getInNetns(netns, port, path) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, createConnection: () => createTcpSocket({ netns }).connect(port, '127.0.0.1') }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** GET on a ztunnel's admin API (its node's loopback), parsed as JSON. */
export async function adminJson(netns, path) {
  const res = await getInNetns(netns, 15000, path);
  if (res?.status !== 200) throw new Error(`ztunnel admin ${path} in ${netns}: ${res?.status ?? 'unreachable'}`);
  return JSON.parse(res.body);
}

/** Connections a ztunnel has opened so far (istio_tcp_connections_opened_total, every series). */
export async function connectionsOpened(netns) {
  const res = await getInNetns(netns, 15020, '/stats/prometheus');
  if (res?.status !== 200) throw new Error(`ztunnel metrics in ${netns}: ${res?.status ?? 'unreachable'}`);
  let sum = 0;
  for (const m of res.body.matchAll(/^istio_tcp_connections_opened_total\{[^}]*\} (\d+)$/gm)) sum += Number(m[1]);
  return sum;
}

/**
 * Node flags for the ztunnels, from BENCH_ZTUNNEL_NODE_ARGS (space-separated), to profile them
 * in place, e.g. `--cpu-prof --cpu-prof-dir=/tmp/zprof --heapsnapshot-signal=SIGUSR2`
 * (docs/performance.md).
 */
function nodeArgsFromEnv() {
  return (process.env.BENCH_ZTUNNEL_NODE_ARGS ?? '').split(' ').filter(Boolean);
}

/** Which process made the namespaces of a prefix: /run/mesh-bench/<prefix>.owner, "<pid> <start time>". */
const OWNERS = '/run/mesh-bench';
const ownerFile = (prefix) => join(OWNERS, `${prefix}owner`);

/** A process's start time (field 22 of /proc/<pid>/stat), so a reused pid is not taken for the owner; undefined when it is gone. */
function startTime(pid) {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[19];
  } catch {
    return undefined;
  }
}

function recordOwner(prefix) {
  mkdirSync(OWNERS, { recursive: true });
  writeFileSync(ownerFile(prefix), `${process.pid} ${startTime(process.pid)}\n`);
}

/** Whether the run that made a prefix's namespaces still runs (no record: a killed run of before, or one that never got going). */
function ownerAlive(prefix) {
  let record;
  try {
    record = readFileSync(ownerFile(prefix), 'utf8').trim().split(' ');
  } catch {
    return false;
  }
  const [pid, started] = record;
  return startTime(Number(pid)) === started;
}

/**
 * Creates the topology (tag: two letters naming the benchmark; subnet: e.g. '10.78', ignored with
 * `sampleMesh`, which fixes it) and starts the pod servers; `startMesh()` adds istiod-lite and the
 * ztunnels. Returns the mesh handle; `direct` (with `withDirectPair`) is the uncaptured pair.
 */
export async function createBenchMesh({ tag, subnet: requestedSubnet, sampleMesh = false, withDirectPair = false }) {
  const subnet = sampleMesh ? SAMPLE_SUBNET : requestedSubnet;
  const swept = new Set();
  for (const name of await listNamespaces(tag)) {
    const stale = new RegExp(`^(${tag}[0-9a-f]{4}-)`).exec(name)?.[1];
    if (!stale || swept.has(stale) || ownerAlive(stale)) continue;
    swept.add(stale);
    await destroyTopology(stale);
    rmSync(ownerFile(stale), { force: true });
  }
  const prefix = `${tag}${randomBytes(2).toString('hex')}-`;
  recordOwner(prefix);
  const dir = await mkdtemp(join(tmpdir(), `mesh-bench-${tag}-`));
  const processes = [];
  let creating;
  const cleanup = async () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // Profiled ztunnels get to write their profiles.
    const graceful = nodeArgsFromEnv().length > 0;
    await Promise.all(processes.reverse().map((p) => p.stop({ graceful })));
    await creating?.catch(() => undefined);
    await destroyTopology(prefix).catch(() => undefined);
    rmSync(ownerFile(prefix), { force: true });
    await rm(dir, { recursive: true, force: true });
  };
  // Interrupted (Ctrl-C, timeout): still kill the process groups and remove the namespaces.
  const onSignal = async (signal) => {
    // Sockets of the interrupted measurement fail as their peers die; nothing to report now.
    process.on('uncaughtException', () => undefined);
    await cleanup();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const pair = (client, server, host) => ({ client, server, clientIp: `${subnet}.1.${host}`, serverIp: `${subnet}.2.${host}` });
  const pairs = { mesh: pair('client', 'server', MESH_HOST), ...(withDirectPair ? { direct: pair('plain-client', 'plain-server', DIRECT_HOST) } : {}) };
  try {
    if (sampleMesh) for (const file of readdirSync(SAMPLE_MESH)) await copyFile(join(SAMPLE_MESH, file), join(dir, file));
    else await writeFile(join(dir, '00-mesh.yaml'), meshScaffold(subnet));
    await writeFile(join(dir, 'zz-bench.yaml'), benchManifests(subnet));
    creating = createTopology({
      prefix,
      underlayCidr: `${subnet}.0.0/24`,
      nodes: [
        { name: 'node-a', address: `${subnet}.0.11` },
        { name: 'node-b', address: `${subnet}.0.12` },
      ],
      pods: Object.values(pairs).flatMap((p) => [
        { name: p.client, node: 'node-a', ip: p.clientIp },
        { name: p.server, node: 'node-b', ip: p.serverIp },
      ]),
    });
    const topology = await creating;
    for (const pod of Object.values(pairs).flatMap((p) => [p.client, p.server])) {
      const p = startProcess(['ip', 'netns', 'exec', topology.pod(pod).netns, process.execPath, POD_SERVER], /ready/);
      processes.push(p);
      await p.ready;
    }
    const istiodIp = `${subnet}.0.2`;
    /** A pair's namespaces and addresses: client and server are network namespace names. */
    const endpoints = (p) => ({ client: topology.pod(p.client).netns, server: topology.pod(p.server).netns, clientIp: p.clientIp, serverIp: p.serverIp });
    return {
      topology,
      clientIp: pairs.mesh.clientIp,
      serverIp: pairs.mesh.serverIp,
      serviceIp: `${subnet}.100.${MESH_HOST}`,
      mesh: endpoints(pairs.mesh),
      direct: pairs.direct && endpoints(pairs.direct),
      cleanup,
      /**
       * istiod-lite and a transparent ztunnel per node, ready (config, certificates, capture
       * rules). Each ztunnel's stdout (its access log) goes to a file, as in a container.
       */
      async startMesh({ ztunnelArgs = [], nodeArgs = nodeArgsFromEnv() } = {}) {
        await topology.exec(topology.underlayNetns, ['ip', 'addr', 'add', `${istiodIp}/24`, 'dev', 'br0']);
        const istiod = startProcess(
          ['ip', 'netns', 'exec', topology.underlayNetns, process.execPath, ISTIOD_MAIN, '--config-dir', dir, '--state-dir', join(dir, 'state'), '--listen-address', istiodIp],
          /istiod-lite ready/,
        );
        processes.push(istiod);
        await istiod.ready;
        const ztunnels = {};
        for (const node of ['node-a', 'node-b']) {
          const netns = topology.node(node).netns;
          // `ip netns exec` execs node in place, so the child's pid is ztunnel's own.
          const z = startProcess(
            ['ip', 'netns', 'exec', netns, process.execPath, ...nodeArgs, ZTUNNEL_MAIN, '--node-name', node, '--xds-address', `${istiodIp}:15012`, '--bootstrap-dir', join(dir, 'state', 'nodes', node), '--capture-mode', 'transparent', '--capture-netns', netns, ...ztunnelArgs],
            /./,
            { logFile: join(dir, `ztunnel-${node}.log`) },
          );
          processes.push(z);
          ztunnels[node] = z;
        }
        for (const node of ['node-a', 'node-b']) {
          const until = Date.now() + 60_000;
          while ((await getInNetns(topology.node(node).netns, 15021, '/healthz/ready'))?.status !== 200) {
            if (Date.now() > until) throw new Error(`ztunnel ${node} not ready:\n${ztunnels[node].output().slice(-2000)}`);
            await sleep(100);
          }
        }
        await sleep(500); // capture rules follow readiness by a few ms
        return { istiod, ztunnels };
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
