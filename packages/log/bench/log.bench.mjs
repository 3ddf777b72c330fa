// The logging hot path: what one ztunnel access-log line costs to format and hand to the writer,
// for the hand-rolled logger of @mesh/log, pino configured for the same line, and the logger the
// proxies had before (`JSON.stringify({ time, level, scope, msg, ...fields })`) as the baseline.
// Each writes into the same counting writer, so only formatting and the call are measured (the
// queued write path is the same for all: packages/log/src/writer.ts). Runs against the built
// package: `pnpm bench log` builds first; alone: `cd packages/log && pnpm build && node bench/log.bench.mjs`.
//
// Benchmarks are not tests: this prints figures and never fails on timing.
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { createLogger } from '@mesh/log';
import { createRecorder, measureInTurns } from '../../../scripts/bench-lib.mjs';

const RUNS = 9;

/** A ztunnel access-log line's fields (apps/ztunnel/src/proxy/connections.ts). */
const fields = (i) => ({
  'src.addr': `10.77.1.10:${40000 + (i % 20000)}`,
  'src.workload': 'sleep',
  'src.namespace': 'default',
  'src.identity': 'spiffe://cluster.local/ns/default/sa/sleep',
  'dst.addr': '10.77.2.13:9080',
  'dst.hbone_addr': '10.77.2.13:15008',
  'dst.service': 'ratings.default.svc.cluster.local',
  'dst.workload': 'ratings-v1',
  'dst.namespace': 'default',
  'dst.identity': 'spiffe://cluster.local/ns/default/sa/bookinfo-ratings',
  direction: 'outbound',
  bytes_sent: 1234 + i,
  bytes_recv: 5678,
  duration: '3ms',
});

const measure = (n, candidates) => measureInTurns(n, candidates, RUNS);

export async function run({ quick = false } = {}) {
  const lines = quick ? 5_000 : 50_000;
  let bytes = 0;
  const write = (line) => void (bytes += line.length);

  const RANK = { debug: 0, info: 1, warn: 2, error: 3 };
  const levels = { access: 'info' };
  const before = (scope, level, msg, f = {}) => {
    if (RANK[level] < RANK[levels[scope]]) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level, scope, msg, ...f })}\n`);
  };
  const mesh = createLogger({ scopes: ['access'], write });
  const pinoLogger = pino(
    { base: null, messageKey: 'msg', timestamp: () => `,"time":"${new Date().toISOString()}"`, formatters: { level: (label) => ({ level: label }) } },
    { write },
  ).child({ scope: 'access' });

  const { results, record } = createRecorder();
  const info = [
    (i) => before('access', 'info', 'connection complete', fields(i)),
    (i) => mesh.log('access', 'info', 'connection complete', fields(i)),
    (i) => pinoLogger.info(fields(i), 'connection complete'),
    (i) => void fields(i),
  ];
  measure(2_000, info); // warm-up: the first measured must not pay for compilation
  const [baseline, ours, theirs, fieldsOnly] = measure(lines, info);
  record('log: access line, previous hand-rolled logger (baseline)', baseline, 'ns/line', { baseline });
  record('log: access line, @mesh/log', ours, 'ns/line', { baseline, target: { max: 1, ratio: true } });
  record('log: access line, pino 10 (same fields)', theirs, 'ns/line', { baseline });
  record('log: building the fields alone (in every row above)', fieldsOnly, 'ns/line', { baseline });
  const [oursDebug, theirsDebug] = measure(lines, [(i) => mesh.log('access', 'debug', 'connection complete', fields(i)), (i) => pinoLogger.debug(fields(i), 'connection complete')]);
  record('log: debug line below the level, @mesh/log', oursDebug, 'ns/line', { baseline });
  record('log: debug line below the level, pino 10', theirsDebug, 'ns/line', { baseline });
  if (bytes === 0) throw new Error('nothing was written');
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.table(await run({ quick: process.argv.includes('--quick') }));
