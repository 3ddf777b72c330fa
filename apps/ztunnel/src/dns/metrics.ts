/**
 * The DNS proxy's metrics, named as Istio's ztunnel registers them (src/dns/metrics.rs, under
 * its `istio_` prefix; Istio marks them unstable):
 *   istio_dns_requests_total                     every query answered or forwarded
 *   istio_dns_upstream_requests_total            queries forwarded to the node's resolver
 *   istio_dns_upstream_failures_total            forwards that got no usable answer (SERVFAIL)
 *   istio_dns_upstream_request_duration_seconds  histogram of forward round trips
 * labelled request_query_type (`a`, `aaaa`, … lower case), request_protocol (`udp`, `tcp`),
 * source_canonical_service, source_canonical_revision (`unknown` when not known; this mesh has
 * no canonical-service labels, so the source workload's name stands for the service).
 */
import { counterLines, formatLabels, sumMatching } from '@mesh/proxy-runtime';

export const DNS_LABELS = ['request_query_type', 'request_protocol', 'source_canonical_service', 'source_canonical_revision'] as const;
export type DnsLabels = Record<(typeof DNS_LABELS)[number], string>;

const COUNTERS = {
  istio_dns_requests_total: 'Total number of DNS requests (unstable)',
  istio_dns_upstream_requests_total: 'Total number of DNS requests forwarded to upstream (unstable)',
  istio_dns_upstream_failures_total: 'Total number of DNS requests that failed to forward upstream (unstable)',
} as const;
export type DnsCounter = keyof typeof COUNTERS;

const DURATION = 'istio_dns_upstream_request_duration_seconds';
/** Istio's buckets (seconds), in ascending order. */
export const DNS_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.1, 1, 5] as const;

const keyOf = (labels: DnsLabels) => DNS_LABELS.map((l) => labels[l]).join('\u0000');
const text = (labels: DnsLabels) => formatLabels(DNS_LABELS, labels);

export class DnsMetrics {
  readonly #counters = new Map<DnsCounter, Map<string, { labels: DnsLabels; value: number }>>();
  readonly #durations = new Map<string, { labels: DnsLabels; buckets: number[]; sum: number; count: number }>();

  increment(counter: DnsCounter, labels: DnsLabels): void {
    let series = this.#counters.get(counter);
    if (!series) this.#counters.set(counter, (series = new Map()));
    const entry = series.get(keyOf(labels));
    if (entry) entry.value += 1;
    else series.set(keyOf(labels), { labels: { ...labels }, value: 1 });
  }

  observeUpstream(labels: DnsLabels, seconds: number): void {
    let entry = this.#durations.get(keyOf(labels));
    if (!entry) this.#durations.set(keyOf(labels), (entry = { labels: { ...labels }, buckets: DNS_DURATION_BUCKETS.map(() => 0), sum: 0, count: 0 }));
    DNS_DURATION_BUCKETS.forEach((le, i) => {
      if (seconds <= le) entry.buckets[i] = (entry.buckets[i] ?? 0) + 1;
    });
    entry.sum += seconds;
    entry.count += 1;
  }

  get(counter: DnsCounter, match: Partial<DnsLabels> = {}): number {
    return sumMatching(this.#counters.get(counter)?.values() ?? [], match);
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const lines = (Object.entries(COUNTERS) as Array<[DnsCounter, string]>).flatMap(([name, help]) =>
      counterLines(name, help, DNS_LABELS, this.#counters.get(name)?.values() ?? []),
    );
    lines.push(`# HELP ${DURATION} Total time in seconds Istio takes to get DNS response from upstream (unstable)`, `# TYPE ${DURATION} histogram`);
    for (const { labels, buckets, sum, count } of this.#durations.values()) {
      DNS_DURATION_BUCKETS.forEach((le, i) => lines.push(`${DURATION}_bucket{${text(labels)},le="${le}"} ${buckets[i] ?? 0}`));
      lines.push(`${DURATION}_bucket{${text(labels)},le="+Inf"} ${count}`, `${DURATION}_sum{${text(labels)}} ${sum}`, `${DURATION}_count{${text(labels)}} ${count}`);
    }
    return `${lines.join('\n')}\n`;
  }
}
