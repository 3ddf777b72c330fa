// The waypoint under test, in its own process so its CPU time can be measured alone. It gets
// its xDS target over IPC, signs its CSR through the parent (which holds the test CA), and
// answers {cpu} (process.cpuUsage) on request.
import { createProxyLogger } from '@mesh/log';
import { Waypoint, parseConfig } from '@mesh/waypoint';

const pendingSigns = new Map();
let nextSign = 0;
const sign = ({ identity, csrPem }) =>
  new Promise((resolve) => {
    const id = nextSign++;
    pendingSigns.set(id, resolve);
    process.send({ kind: 'sign', id, identity, csrPem });
  });

let waypoint;
// Never outlive the benchmark.
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
if (process.env.BENCH_DEBUG) console.error('child up');
process.on('message', async (msg) => {
  if (process.env.BENCH_DEBUG) console.error('child got', msg.kind);
  if (msg.kind === 'start') {
    const { config } = parseConfig(['--node-name', 'node-b', '--pod-name', 'waypoint-0', '--namespace', 'echo', '--xds-address', msg.xds, '--listen-address', '127.0.0.1', '--hbone-port', '0', '--admin-port', '0', '--readiness-port', '0', '--log-level', 'warn']);
    // Access logs are formatted as in production (info) but not written, so their cost counts.
    waypoint = await Waypoint.start({ config, logger: createProxyLogger({ level: 'info', write: () => undefined }), sign, random: Math.random });
    const port = await waypoint.listening();
    while (!waypoint.ready) await new Promise((r) => setTimeout(r, 20));
    process.send({ kind: 'ready', port, adminPort: waypoint.adminPort });
  } else if (msg.kind === 'signed') {
    pendingSigns.get(msg.id)?.(msg.chain);
    pendingSigns.delete(msg.id);
  } else if (msg.kind === 'cpu') {
    process.send({ kind: 'cpu', cpu: process.cpuUsage() });
  }
});
