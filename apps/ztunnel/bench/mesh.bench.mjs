// Mesh benchmark: two nodes as network namespaces running the sample mesh (examples/bookinfo)
// plus two pod pairs of the benchmark's own, a client on node-a and a server on node-b in each
// (bench-mesh.mjs):
//
//   mesh pair    client → server, both in the mesh: captured on both nodes
//                (TPROXY → ztunnel A → HBONE → ztunnel B → TPROXY → pod)
//   direct pair  plain-client → plain-server, pods the mesh does not know: the same route through
//                the same nodes, uncaptured (the baseline)
//
// Every figure alternates rounds on the two pairs in the same run (the machine is shared and
// noisy, so only ratios and differences taken close together compare), and the run checks from
// ztunnel's own metrics that the direct rounds did not pass through it and the mesh rounds did.
// Needs root and `pnpm build`; elsewhere it reports skipped.
//
//   ztunnel idle RSS (sample config, no traffic yet) against a bare Node process's RSS
//   throughput of one connection A → B                        Gbit/s, mesh vs direct
//   request/response latency (1-byte ping-pong) A → B, B → A   p50/p99 µs, and the added p50
//   connections per second (connect, 1 byte each way, close)   8 in parallel
//   ztunnel CPU per 1,000 new connections (each ztunnel, over the connections-per-second rounds)
//   steady 1,000 req/s of 1 KiB: added p90 latency, ztunnel CPU (vCPU per 1,000 req/s)
//   ztunnel RSS with 1,000 open connections (each ztunnel)
import { existsSync } from 'node:fs';
import { connectionsPerSecond as newConnections, createRecorder, pingPong, sinkThroughput, steadyRequests } from '../../../scripts/bench-lib.mjs';
import { CLK_TCK, MiB, connectFrom, connectionsOpened, cpuTicks, createBenchMesh, median, pct, rssMiB, sleep, startProcess, statusMiB, ISTIOD_MAIN, ZTUNNEL_MAIN } from './bench-mesh.mjs';

export const throughput = (netns, host, bytes) => sinkThroughput(() => connectFrom(netns, host, 9081), bytes);
export { pingPong };

export const connectionsPerSecond = (netns, host, seconds, parallel = 8) => newConnections(() => connectFrom(netns, host, 9080), seconds, parallel);

/** `rps` requests of 1 KiB per second spread over `conns` connections; latencies in µs. */
export const steadyRate = (netns, host, rps, seconds, conns = 10) => steadyRequests(() => connectFrom(netns, host, 9080), rps, seconds, conns);

/** A bare Node process (an empty event loop): the floor under the idle RSS. */
async function bareNodeRssMiB() {
  const p = startProcess([process.execPath, '-e', 'setInterval(() => {}, 1000); console.log("up")'], /up/);
  try {
    await p.ready;
    await sleep(1000);
    return rssMiB(p.child.pid);
  } finally {
    p.stop();
  }
}

export async function run({ quick = false } = {}) {
  if (process.getuid?.() !== 0) return [{ name: 'mesh benchmark', note: 'skipped: needs root (network namespaces, TPROXY)' }];
  if (!existsSync(ISTIOD_MAIN) || !existsSync(ZTUNNEL_MAIN)) return [{ name: 'mesh benchmark', note: 'skipped: run `pnpm build` first' }];
  const bench = await createBenchMesh({ tag: 'zb', sampleMesh: true, withDirectPair: true });
  const { direct, mesh } = bench;
  const { results, record } = createRecorder();
  try {
    // Before the mesh starts both pairs are plain, so their latencies must agree: this shows the
    // direct pair is a fair stand-in for the mesh pair without the mesh.
    const beforeMesh = {};
    for (const [key, p] of [['direct', direct], ['mesh', mesh]]) {
      const socket = await connectFrom(p.client, p.serverIp, 9080);
      await pingPong(socket, 300);
      beforeMesh[key] = median(await pingPong(socket, quick ? 500 : 2000));
      socket.destroy();
    }

    // Default log level (info): the access log's cost per connection counts, as in production.
    const { ztunnels } = await bench.startMesh();
    const nodeNs = { a: bench.topology.node('node-a').netns, b: bench.topology.node('node-b').netns };
    const pids = { a: ztunnels['node-a'].child.pid, b: ztunnels['node-b'].child.pid };
    await sleep(2000); // let start-up garbage settle
    const idle = { a: rssMiB(pids.a), b: rssMiB(pids.b) };
    const anon = { a: statusMiB(pids.a, 'RssAnon'), b: statusMiB(pids.b, 'RssAnon') };
    const bare = await bareNodeRssMiB();
    record('ztunnel idle rss', Math.max(idle.a, idle.b), 'MiB', {
      baseline: bare,
      target: { max: 60 },
      note: `the larger of the two; sample mesh (bookinfo) + bench pods, no traffic yet: A ${idle.a.toFixed(1)} (${anon.a.toFixed(1)} not file-backed), B ${idle.b.toFixed(1)} (${anon.b.toFixed(1)}) MiB; baseline: a bare Node process`,
    });

    // Which rounds went through ztunnel A: the direct pair's must not, the mesh pair's must.
    const checked = async (p, fn) => {
      const before = await connectionsOpened(nodeNs.a);
      const value = await fn();
      const opened = (await connectionsOpened(nodeNs.a)) - before;
      if (p === direct && opened > 0) throw new Error(`the direct pair's round went through ztunnel (${opened} connections): the baseline is not direct`);
      if (p === mesh && opened === 0) throw new Error("the mesh pair's round did not go through ztunnel: capture is not in place");
      return value;
    };

    // Throughput: alternate direct and mesh rounds.
    const bytes = (quick ? 128 : 512) * MiB;
    const reps = quick ? 1 : 3;
    const gbps = { direct: [], mesh: [] };
    for (const p of [direct, mesh]) await checked(p, () => throughput(p.client, p.serverIp, 32 * MiB)); // warm-up
    for (let i = 0; i < reps; i++) {
      gbps.direct.push(await throughput(direct.client, direct.serverIp, bytes));
      gbps.mesh.push(await throughput(mesh.client, mesh.serverIp, bytes));
    }
    record('throughput, one connection A → B', median(gbps.mesh), 'Gbit/s', { baseline: median(gbps.direct), target: { ratio: true, min: 0.4 } });

    // Ping-pong both ways, in alternating blocks on long-lived connections.
    const rounds = quick ? 500 : 2000;
    const blocks = quick ? 2 : 4;
    for (const [name, from, to] of [
      ['A → B', 'client', 'serverIp'],
      ['B → A', 'server', 'clientIp'],
    ]) {
      const samples = { direct: [], mesh: [] };
      const sockets = {};
      for (const [key, p] of [['direct', direct], ['mesh', mesh]]) {
        sockets[key] = await checked(p, async () => {
          const socket = await connectFrom(p[from], p[to], 9080);
          await pingPong(socket, 300); // warm-up
          return socket;
        });
      }
      for (let b = 0; b < blocks; b++) {
        for (const key of ['direct', 'mesh']) samples[key].push(...(await pingPong(sockets[key], rounds / blocks)));
      }
      for (const s of Object.values(sockets)) s.destroy();
      const p50 = { direct: median(samples.direct), mesh: median(samples.mesh) };
      record(`latency ${name} p50`, p50.mesh, 'µs', { baseline: p50.direct });
      record(`latency ${name} p99`, pct(samples.mesh, 99), 'µs', { baseline: pct(samples.direct, 99) });
      if (name === 'A → B') {
        record('added latency p50', p50.mesh - p50.direct, 'µs', {
          target: { max: 80 },
          note: `1-byte ping-pong through both ztunnels minus the direct pair's, same run (before the mesh started: direct pair ${beforeMesh.direct.toFixed(0)} µs, mesh pair ${beforeMesh.mesh.toFixed(0)} µs)`,
        });
      }
    }

    // New connections: alternate 1-second rounds. Each ztunnel's CPU is read around the mesh
    // rounds and divided by the connections they made.
    const cps = { direct: [], mesh: [] };
    const connCpu = { a: 0, b: 0 };
    let meshConnections = 0;
    for (let i = 0; i < (quick ? 1 : 3); i++) {
      cps.direct.push(await checked(direct, () => connectionsPerSecond(direct.client, direct.serverIp, 1)));
      const rate = await checked(mesh, async () => {
        const before = { a: cpuTicks(pids.a), b: cpuTicks(pids.b) };
        const perSecond = await connectionsPerSecond(mesh.client, mesh.serverIp, 1);
        connCpu.a += cpuTicks(pids.a) - before.a;
        connCpu.b += cpuTicks(pids.b) - before.b;
        return perSecond;
      });
      meshConnections += rate; // 1-second rounds
      cps.mesh.push(rate);
    }
    record('connections per second (8 parallel)', median(cps.mesh), 'conn/s', { baseline: median(cps.direct), target: { ratio: true, min: 0.35 } });
    for (const [node, key] of [['A', 'a'], ['B', 'b']]) {
      record(`ztunnel ${node} CPU per 1,000 connections`, connCpu[key] / CLK_TCK / (meshConnections / 1000), 's', {
        note: `CPU seconds of ztunnel ${node} over the connections-per-second rounds per 1,000 connections made (${Math.round(meshConnections)}); the runtime's floor: ≈ 0.16 s per hop (\`pnpm bench floor\`)`,
      });
    }

    // Steady 1,000 req/s of 1 KiB, direct and mesh rounds alternating; medians of the p90s.
    // ztunnel CPU is read over both kinds of round: over the mesh rounds it is the cost of the
    // traffic, over the direct ones what ztunnel spends doing nothing (reported in the note).
    const seconds = quick ? 2 : 4;
    const steadyRounds = quick ? 1 : 3;
    const p90s = { direct: [], mesh: [] };
    const cpu = { direct: { a: 0, b: 0 }, mesh: { a: 0, b: 0 } };
    let meshRequests = 0;
    let directSeconds = 0;
    for (let i = 0; i < steadyRounds; i++) {
      for (const [key, p] of [['direct', direct], ['mesh', mesh]]) {
        const before = { a: cpuTicks(pids.a), b: cpuTicks(pids.b) };
        const t0 = Date.now();
        const samples = await checked(p, () => steadyRate(p.client, p.serverIp, 1000, seconds));
        cpu[key].a += cpuTicks(pids.a) - before.a;
        cpu[key].b += cpuTicks(pids.b) - before.b;
        p90s[key].push(pct(samples, 90));
        if (key === 'mesh') meshRequests += samples.length;
        else directSeconds += (Date.now() - t0) / 1000;
      }
    }
    const vcpuPer1000 = (ticks) => ticks / CLK_TCK / (meshRequests / 1000);
    const idleVcpu = (ticks) => (ticks / CLK_TCK / directSeconds).toFixed(3);
    record('added latency p90 at 1,000 req/s', median(p90s.mesh) - median(p90s.direct), 'µs', {
      target: { max: 200 },
      note: `1 KiB request/response on 10 connections; mesh pair p90 ${median(p90s.mesh).toFixed(0)} µs, direct pair ${median(p90s.direct).toFixed(0)} µs, same run (Istio: +170 µs for two ztunnels)`,
    });
    record('ztunnel A CPU per 1,000 req/s', vcpuPer1000(cpu.mesh.a), 'vCPU', { target: { max: 0.06 }, note: `idle (during the direct rounds): ${idleVcpu(cpu.direct.a)} vCPU` });
    record('ztunnel B CPU per 1,000 req/s', vcpuPer1000(cpu.mesh.b), 'vCPU', { target: { max: 0.06 }, note: `idle (during the direct rounds): ${idleVcpu(cpu.direct.b)} vCPU` });

    const before = { a: rssMiB(pids.a), b: rssMiB(pids.b) };
    const open = [];
    for (let i = 0; i < 1000; i++) open.push(await connectFrom(mesh.client, mesh.serverIp, 9080));
    await Promise.all(open.map((s) => new Promise((r) => { s.once('data', r); s.write('x'); })));
    await sleep(500);
    const held = { a: rssMiB(pids.a), b: rssMiB(pids.b) };
    for (const [node, key] of [['A', 'a'], ['B', 'b']]) {
      record(`ztunnel ${node} RSS with 1,000 open connections`, held[key], 'MiB', {
        baseline: before[key],
        note: `baseline: RSS before they opened (after the runs above); ${(((held[key] - before[key]) * 1024) / 1000).toFixed(1)} KiB per connection`,
      });
    }
    for (const s of open) s.destroy();
  } finally {
    await bench.cleanup();
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = await run({ quick: process.argv.includes('--quick') });
  console.table(results);
  process.exit(0);
}
