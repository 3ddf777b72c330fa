// Profiles the HBONE core (docs/performance.md, "HBONE core"): not a benchmark, a way to see
// where the time and the memory of `pnpm bench hbone` go.
//
//   node --expose-gc packages/hbone-core/bench/profile-hbone.mjs <dir> heap [n]
//     n idle tunnels (default 2000), then a heap snapshot of each side: client.heapsnapshot,
//     server.heapsnapshot (summarize: node scripts/profile-summary.mjs <file>)
//   node --cpu-prof --cpu-prof-dir=<dir> packages/hbone-core/bench/profile-hbone.mjs <dir> open [n]
//     n tunnel opens on a warm pooled connection (CONNECT → 200, then a clean close); the
//     server process writes its own .cpuprofile to <dir> too.
import { fork } from 'node:child_process';
import { writeHeapSnapshot } from 'node:v8';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HbonePool, createHboneSecureContext } from '@mesh/hbone-core';
import { createTestCa } from '@mesh/pki/testing';

const [dir, mode = 'heap', nArg] = process.argv.slice(2);
if (!dir) {
  console.error('usage: profile-hbone.mjs <dir> heap|open [n]');
  process.exit(2);
}
const CLIENT = 'spiffe://cluster.local/ns/default/sa/sleep';
const SERVER = 'spiffe://cluster.local/ns/default/sa/reviews';
const ca = createTestCa();
const server = ca.issue(SERVER);
const client = ca.issue(CLIENT);
const execArgv = mode === 'open' ? ['--expose-gc', '--cpu-prof', `--cpu-prof-dir=${dir}`] : ['--expose-gc'];
const child = fork(fileURLToPath(new URL('./peer.mjs', import.meta.url)), [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const ask = (msg) => new Promise((r) => { child.once('message', r); child.send(msg); });
const { hbonePort } = await ask({ credentials: { keyPem: server.keyPem, certChainPem: server.chainPem, rootCertPem: ca.rootPem } });
const clientContext = createHboneSecureContext({ keyPem: client.keyPem, certChainPem: client.chainPem, rootCertPem: ca.rootPem });
const pool = new HbonePool({ trustDomain: 'cluster.local', secureContextFor: () => clientContext });
const open = () => pool.open({ sourceIdentity: CLIENT, destination: `127.0.0.1:${hbonePort}`, expectedIdentities: [SERVER], authority: '127.0.0.1:1' });

if (mode === 'heap') {
  const n = Number(nArg ?? 2000);
  const held = [];
  for (let i = 0; i < n; i += 500) held.push(...(await Promise.all(Array.from({ length: 500 }, open))));
  await new Promise((r) => setTimeout(r, 200));
  globalThis.gc?.();
  writeHeapSnapshot(join(dir, 'client.heapsnapshot'));
  await ask({ snapshot: join(dir, 'server.heapsnapshot') });
  console.log(`${held.length} idle tunnels; snapshots in ${dir}`);
} else {
  const n = Number(nArg ?? 5000);
  for (let i = 0; i < n; i++) {
    const s = await open();
    s.end();
    s.resume();
    await new Promise((r) => s.once('close', r));
  }
  console.log(`${n} opens; profiles in ${dir}`);
}
pool.destroy();
child.send('exit');
await new Promise((r) => child.once('exit', r));
