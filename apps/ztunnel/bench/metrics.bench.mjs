// The metrics hot path: what counting one connection costs (istio_tcp_connections_opened_total,
// closed_total, sent and received bytes: four counter adds with Istio's eight labels), for
// ztunnel's hand-rolled TcpMetrics and for prom-client's Counter, plus what rendering the
// Prometheus text costs at a scrape. Runs against the built app: `pnpm bench metrics` builds
// first; alone: `pnpm build && node apps/ztunnel/bench/metrics.bench.mjs`.
//
// Benchmarks are not tests: this prints figures and never fails on timing.
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import client from 'prom-client';
import { TcpMetrics, TCP_LABELS } from '../dist/metrics/metrics.js';
import { createRecorder, measureInTurns, median } from '../../../scripts/bench-lib.mjs';

const RUNS = 9;
/** Distinct label sets a busy node sees (source/destination workload pairs × flags). */
const SERIES = 50;

const labelsOf = (i) => ({
  reporter: i % 2 ? 'source' : 'destination',
  source_workload: `sleep-${i % 10}`,
  source_principal: `spiffe://cluster.local/ns/default/sa/sleep-${i % 10}`,
  destination_workload: `ratings-v${i % 5}`,
  destination_principal: `spiffe://cluster.local/ns/default/sa/ratings-${i % 5}`,
  destination_service: `ratings.default.svc.cluster.local`,
  connection_security_policy: 'mutual_tls',
  response_flags: '-',
});

const measure = (n, candidates) => measureInTurns(n, candidates, RUNS);

export async function run({ quick = false } = {}) {
  const n = quick ? 5_000 : 50_000;
  const labels = Array.from({ length: SERIES }, (_, i) => labelsOf(i));

  const ours = new TcpMetrics();
  const countOurs = (i) => {
    const l = labels[i % SERIES];
    ours.add('istio_tcp_connections_opened_total', l);
    ours.add('istio_tcp_connections_closed_total', l);
    ours.add('istio_tcp_sent_bytes_total', l, 1024);
    ours.add('istio_tcp_received_bytes_total', l, 512);
  };

  const registry = new client.Registry();
  const counter = (name, help) => new client.Counter({ name, help, labelNames: [...TCP_LABELS], registers: [registry] });
  const opened = counter('istio_tcp_connections_opened_total', 'Total TCP connections opened');
  const closed = counter('istio_tcp_connections_closed_total', 'Total TCP connections closed');
  const sent = counter('istio_tcp_sent_bytes_total', 'Bytes sent during response (destination to source)');
  const received = counter('istio_tcp_received_bytes_total', 'Bytes received during request (source to destination)');
  const countProm = (i) => {
    const l = labels[i % SERIES];
    opened.inc(l);
    closed.inc(l);
    sent.inc(l, 1024);
    received.inc(l, 512);
  };

  measure(2_000, [countOurs, countProm]); // warm-up
  const { results, record } = createRecorder();
  const [baseline, prom] = measure(n, [countOurs, countProm]);
  record('metrics: one connection counted (4 counters, 8 labels), TcpMetrics (baseline)', baseline, 'ns/connection', { baseline });
  record('metrics: one connection counted, prom-client 15 Counter', prom, 'ns/connection', { baseline });

  // A scrape: rendered text, µs; prom-client's registry.metrics() is async, so each round awaits it.
  const scrapes = quick ? 50 : 500;
  const ourSamples = [];
  const promSamples = [];
  for (let r = 0; r < RUNS; r++) {
    let start = performance.now();
    for (let i = 0; i < scrapes; i++) ours.render();
    ourSamples.push(((performance.now() - start) * 1000) / scrapes);
    start = performance.now();
    for (let i = 0; i < scrapes; i++) await registry.metrics();
    promSamples.push(((performance.now() - start) * 1000) / scrapes);
  }
  const renderOurs = median(ourSamples);
  record(`metrics: render ${SERIES} series × 4 counters, TcpMetrics`, renderOurs, 'µs/scrape', { baseline: renderOurs });
  record(`metrics: render ${SERIES} series × 4 counters, prom-client 15`, median(promSamples), 'µs/scrape', { baseline: renderOurs });
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.table(await run({ quick: process.argv.includes('--quick') }));
