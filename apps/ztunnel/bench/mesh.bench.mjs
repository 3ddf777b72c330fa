// Mesh benchmark (issue 4): two nodes as network namespaces, a client pod on node-a and a server
// pod on node-b, measured first with capture off (direct pod to pod through the nodes) and then
// through the mesh (istiod-lite + a transparent ztunnel per node: TPROXY → HBONE → TPROXY), in
// the same run, so only ratios compare. Needs root and `pnpm build`; elsewhere it reports skipped.
//
//   throughput of one connection A → B                        Gbit/s, mesh vs direct
//   request/response latency (1-byte ping-pong) A → B, B → A   p50/p99 µs
//   connections per second (connect, 1 byte each way, close)   8 in parallel
//   steady 1,000 req/s of 1 KiB: added p90 latency, ztunnel CPU (vCPU per 1,000 req/s)
//   ztunnel RSS with 1,000 open connections (each ztunnel)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTcpSocket, createTopology, destroyTopology, listNamespaces } from '@mesh/netfilter';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ISTIOD_MAIN = join(ROOT, 'apps/istiod-lite/dist/main.js');
const ZTUNNEL_MAIN = join(ROOT, 'apps/ztunnel/dist/main.js');
const POD_SERVER = fileURLToPath(new URL('./pod-server.mjs', import.meta.url));
const MiB = 1024 * 1024;
const CLIENT_IP = '10.78.1.10';
const SERVER_IP = '10.78.2.10';
const ISTIOD_IP = '10.78.0.2';
const CLK_TCK = 100;

const MANIFESTS = `apiVersion: v1
kind: Namespace
metadata: { name: default, labels: { istio.io/dataplane-mode: ambient } }
---
apiVersion: v1
kind: Node
metadata: { name: node-a }
spec: { podCIDR: 10.78.1.0/24 }
status: { addresses: [{ type: InternalIP, address: 10.78.0.11 }] }
---
apiVersion: v1
kind: Node
metadata: { name: node-b }
spec: { podCIDR: 10.78.2.0/24 }
status: { addresses: [{ type: InternalIP, address: 10.78.0.12 }] }
---
apiVersion: v1
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
spec: { clusterIP: 10.78.100.10, selector: { app: server }, ports: [{ name: echo, port: 9080, targetPort: 9080 }, { name: sink, port: 9081, targetPort: 9081 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: client, labels: { app: client } }
spec: { serviceAccountName: client, nodeName: node-a, containers: [{ name: c, ports: [{ containerPort: 9080 }] }] }
status: { phase: Running, podIP: ${CLIENT_IP} }
---
apiVersion: v1
kind: Pod
metadata: { name: server, labels: { app: server } }
spec: { serviceAccountName: server, nodeName: node-b, containers: [{ name: s, ports: [{ containerPort: 9080 }, { containerPort: 9081 }] }] }
status: { phase: Running, podIP: ${SERVER_IP} }
`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

function startProcess(argv, waitFor) {
  const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const ready = new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk;
      if (waitFor.test(output)) resolve();
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.once('exit', (code) => reject(new Error(`${argv.join(' ')} exited ${code}:\n${output.slice(-2000)}`)));
  });
  const stop = () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  };
  return { child, ready, stop };
}

function connectFrom(netns, host, port) {
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

async function throughput(netns, host, bytes) {
  const socket = await connectFrom(netns, host, 9081);
  const block = Buffer.alloc(MiB, 7);
  const reply = new Promise((resolve) => {
    let text = '';
    socket.on('data', (c) => (text += c));
    socket.on('end', () => resolve(text));
  });
  const t0 = process.hrtime.bigint();
  for (let sent = 0; sent < bytes; sent += block.length) if (!socket.write(block)) await new Promise((r) => socket.once('drain', r));
  socket.end();
  const counted = Number(await reply);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  socket.destroy();
  if (counted !== bytes) throw new Error(`sink counted ${counted} of ${bytes} bytes`);
  return (bytes * 8) / seconds / 1e9;
}

async function pingPong(netns, host, rounds) {
  const socket = await connectFrom(netns, host, 9080);
  const samples = [];
  const one = Buffer.from([1]);
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint();
    const got = new Promise((r) => socket.once('data', r));
    socket.write(one);
    await got;
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  socket.destroy();
  return samples.slice(Math.floor(rounds / 10)); // drop warm-up
}

async function connectionsPerSecond(netns, host, seconds, parallel = 8) {
  let done = 0;
  const until = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (Date.now() < until) {
        const socket = await connectFrom(netns, host, 9080);
        await new Promise((r) => {
          socket.once('data', r);
          socket.write('x');
        });
        socket.destroy();
        done++;
      }
    }),
  );
  return done / seconds;
}

/** `rps` requests of 1 KiB per second spread over `conns` connections; latencies in µs. */
async function steadyRate(netns, host, rps, seconds, conns = 10) {
  const sockets = await Promise.all(Array.from({ length: conns }, () => connectFrom(netns, host, 9080)));
  const payload = Buffer.alloc(1024, 3);
  const samples = [];
  const intervalMs = (1000 * conns) / rps;
  await Promise.all(
    sockets.map(async (socket, i) => {
      await sleep((i * intervalMs) / conns);
      const end = Date.now() + seconds * 1000;
      let next = Date.now();
      while (Date.now() < end) {
        const t0 = process.hrtime.bigint();
        let got = 0;
        await new Promise((resolve) => {
          const onData = (c) => {
            got += c.length;
            if (got >= payload.length) {
              socket.off('data', onData);
              resolve();
            }
          };
          socket.on('data', onData);
          socket.write(payload);
        });
        samples.push(Number(process.hrtime.bigint() - t0) / 1000);
        next += intervalMs;
        const wait = next - Date.now();
        if (wait > 0) await sleep(wait);
      }
    }),
  );
  for (const s of sockets) s.destroy();
  return samples;
}

function cpuTicks(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14, 15)
}

function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function readyInNetns(netns) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: 15021, path: '/healthz/ready', createConnection: () => createTcpSocket({ netns }).connect(15021, '127.0.0.1') }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function measure(label, topology, quick) {
  const client = topology.pod('client').netns;
  const server = topology.pod('server').netns;
  const bytes = (quick ? 128 : 512) * MiB;
  const reps = quick ? 1 : 3;
  await throughput(client, SERVER_IP, 32 * MiB); // warm-up
  const gbps = [];
  for (let i = 0; i < reps; i++) gbps.push(await throughput(client, SERVER_IP, bytes));
  const ab = await pingPong(client, SERVER_IP, quick ? 500 : 2000);
  const ba = await pingPong(server, CLIENT_IP, quick ? 500 : 2000);
  const cps = await connectionsPerSecond(client, SERVER_IP, quick ? 1 : 2);
  return { label, gbps: median(gbps), ab, ba, cps };
}

export async function run({ quick = false } = {}) {
  if (process.getuid?.() !== 0) return [{ name: 'mesh benchmark', note: 'skipped: needs root (network namespaces, TPROXY)' }];
  if (!existsSync(ISTIOD_MAIN) || !existsSync(ZTUNNEL_MAIN)) return [{ name: 'mesh benchmark', note: 'skipped: run `pnpm build` first' }];
  // Namespaces of a run that was killed before its cleanup (`zb<4 hex>-`) go first.
  for (const name of await listNamespaces('zb')) {
    const stale = /^(zb[0-9a-f]{4}-)/.exec(name)?.[1];
    if (stale) await destroyTopology(stale);
  }
  const prefix = `zb${randomBytes(2).toString('hex')}-`;
  const dir = await mkdtemp(join(tmpdir(), 'mesh-bench-'));
  const processes = [];
  const results = [];
  // Interrupted (Ctrl-C, timeout): still kill the process groups and remove the namespaces.
  let creating;
  const onSignal = async (signal) => {
    // Sockets of the interrupted measurement fail as their peers die; nothing to report now.
    process.on('uncaughtException', () => undefined);
    for (const p of processes) p.stop();
    await creating?.catch(() => undefined); // a half-built topology finishes (or rolls back) first
    await destroyTopology(prefix).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const record = (name, value, unit, baseline, note) =>
    results.push({ name, value: +value.toFixed(3), unit, ...(baseline !== undefined ? { baseline: +baseline.toFixed(3), ratio: +(value / baseline).toFixed(3) } : {}), ...(note ? { note } : {}) });
  try {
    await writeFile(join(dir, 'mesh.yaml'), MANIFESTS);
    creating = createTopology({
      prefix,
      underlayCidr: '10.78.0.0/24',
      nodes: [
        { name: 'node-a', address: '10.78.0.11' },
        { name: 'node-b', address: '10.78.0.12' },
      ],
      pods: [
        { name: 'client', node: 'node-a', ip: CLIENT_IP },
        { name: 'server', node: 'node-b', ip: SERVER_IP },
      ],
    });
    const topology = await creating;
    for (const pod of ['client', 'server']) {
      const p = startProcess(['ip', 'netns', 'exec', topology.pod(pod).netns, process.execPath, POD_SERVER], /ready/);
      processes.push(p);
      await p.ready;
    }
    const direct = await measure('direct', topology, quick);

    await topology.exec(topology.underlayNetns, ['ip', 'addr', 'add', `${ISTIOD_IP}/24`, 'dev', 'br0']);
    const istiod = startProcess(
      ['ip', 'netns', 'exec', topology.underlayNetns, process.execPath, ISTIOD_MAIN, '--config-dir', dir, '--state-dir', join(dir, 'state'), '--listen-address', ISTIOD_IP],
      /istiod-lite ready/,
    );
    processes.push(istiod);
    await istiod.ready;
    const ztunnels = {};
    for (const node of ['node-a', 'node-b']) {
      const netns = topology.node(node).netns;
      const z = startProcess(
        ['ip', 'netns', 'exec', netns, process.execPath, ZTUNNEL_MAIN, '--node-name', node, '--xds-address', `${ISTIOD_IP}:15012`, '--bootstrap-dir', join(dir, 'state', 'nodes', node), '--capture-mode', 'transparent', '--capture-netns', netns, '--log-level', 'warn'],
        /./,
      );
      processes.push(z);
      ztunnels[node] = z;
    }
    for (const node of ['node-a', 'node-b']) {
      const until = Date.now() + 30_000;
      while (!(await readyInNetns(topology.node(node).netns))) {
        if (Date.now() > until) throw new Error(`ztunnel ${node} not ready`);
        await sleep(100);
      }
    }
    await sleep(500); // capture rules follow readiness by a few ms
    const mesh = await measure('mesh', topology, quick);

    record('throughput, one connection A → B', mesh.gbps, 'Gbit/s', direct.gbps, 'target ratio ≥ 0.30');
    record('latency A → B p50', median(mesh.ab), 'µs', median(direct.ab));
    record('latency A → B p99', pct(mesh.ab, 99), 'µs', pct(direct.ab, 99));
    record('latency B → A p50', median(mesh.ba), 'µs', median(direct.ba));
    record('latency B → A p99', pct(mesh.ba, 99), 'µs', pct(direct.ba, 99));
    record('connections per second (8 parallel)', mesh.cps, 'conn/s', direct.cps);

    // Steady 1,000 req/s, direct and mesh alternating (the machine is noisy), medians of the p90s;
    // ztunnel CPU over the mesh rounds only.
    const seconds = quick ? 2 : 4;
    const rounds = quick ? 1 : 2;
    const clientNs = topology.pod('client').netns;
    const pids = { a: ztunnels['node-a'].child.pid, b: ztunnels['node-b'].child.pid };
    const directP90 = [];
    const meshP90 = [];
    const cpu = { a: 0, b: 0 };
    let meshRequests = 0;
    for (let i = 0; i < rounds; i++) {
      directP90.push(pct(await steadyRate(clientNs, SERVER_IP, 1000, seconds), 90));
      const before = { a: cpuTicks(pids.a), b: cpuTicks(pids.b) };
      const samples = await steadyRate(clientNs, SERVER_IP, 1000, seconds);
      cpu.a += cpuTicks(pids.a) - before.a;
      cpu.b += cpuTicks(pids.b) - before.b;
      meshRequests += samples.length;
      meshP90.push(pct(samples, 90));
    }
    const vcpuPer1000 = (ticks) => ticks / CLK_TCK / (meshRequests / 1000);
    record('added latency p90 at 1,000 req/s (1 KiB)', (median(meshP90) - median(directP90)) / 1000, 'ms', undefined, 'target ≤ 0.2 ms (Istio: 0.17 ms)');
    record('ztunnel A CPU per 1,000 req/s', vcpuPer1000(cpu.a), 'vCPU', undefined, 'target ≤ 0.06');
    record('ztunnel B CPU per 1,000 req/s', vcpuPer1000(cpu.b), 'vCPU', undefined, 'target ≤ 0.06');

    const idle = { a: rssMiB(pids.a), b: rssMiB(pids.b) };
    const open = [];
    for (let i = 0; i < 1000; i++) open.push(await connectFrom(topology.pod('client').netns, SERVER_IP, 9080));
    await Promise.all(open.map((s) => new Promise((r) => { s.once('data', r); s.write('x'); })));
    await sleep(500);
    record('ztunnel A RSS with 1,000 open connections', rssMiB(pids.a), 'MiB', idle.a, 'baseline: idle RSS');
    record('ztunnel B RSS with 1,000 open connections', rssMiB(pids.b), 'MiB', idle.b, 'baseline: idle RSS');
    for (const s of open) s.destroy();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const p of processes.reverse()) p.stop();
    await destroyTopology(prefix).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = await run({ quick: process.argv.includes('--quick') });
  console.table(results);
  process.exit(0);
}
