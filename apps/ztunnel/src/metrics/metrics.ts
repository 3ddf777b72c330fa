/**
 * Istio's standard TCP metrics, as ztunnel reports them (`/stats/prometheus`):
 *   istio_tcp_connections_opened_total, istio_tcp_connections_closed_total,
 *   istio_tcp_sent_bytes_total (response: destination → source),
 *   istio_tcp_received_bytes_total (request: source → destination),
 * labelled reporter, source_workload, source_principal, destination_workload,
 * destination_principal, destination_service, connection_security_policy, response_flags.
 */
import { counterLines, sumMatching } from '@mesh/proxy-runtime';

export const TCP_LABELS = [
  'reporter',
  'source_workload',
  'source_principal',
  'destination_workload',
  'destination_principal',
  'destination_service',
  'connection_security_policy',
  'response_flags',
] as const;
export type TcpLabels = Record<(typeof TCP_LABELS)[number], string>;

const METRICS = {
  istio_tcp_connections_opened_total: 'Total TCP connections opened',
  istio_tcp_connections_closed_total: 'Total TCP connections closed',
  istio_tcp_sent_bytes_total: 'Bytes sent during response (destination to source)',
  istio_tcp_received_bytes_total: 'Bytes received during request (source to destination)',
} as const;
export type TcpMetric = keyof typeof METRICS;

/** The series' key of a label set: the values in TCP_LABELS order (concatenated; this runs per connection). */
export function seriesKey(labels: TcpLabels): string {
  let key = '';
  for (const l of TCP_LABELS) key += `${labels[l]}\u0000`;
  return key;
}

export class TcpMetrics {
  readonly #series = new Map<TcpMetric, Map<string, { labels: TcpLabels; value: number }>>();

  /** `key`: `seriesKey(labels)`, when the caller adds to several metrics with the same labels. */
  add(metric: TcpMetric, labels: TcpLabels, value = 1, key = seriesKey(labels)): void {
    if (value === 0 && metric !== 'istio_tcp_connections_opened_total') return;
    let series = this.#series.get(metric);
    if (!series) this.#series.set(metric, (series = new Map()));
    const entry = series.get(key);
    if (entry) entry.value += value;
    else series.set(key, { labels: { ...labels }, value });
  }

  get(metric: TcpMetric, match: Partial<TcpLabels> = {}): number {
    return sumMatching(this.#series.get(metric)?.values() ?? [], match);
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const lines = (Object.entries(METRICS) as Array<[TcpMetric, string]>).flatMap(([metric, help]) =>
      counterLines(metric, help, TCP_LABELS, this.#series.get(metric)?.values() ?? []),
    );
    return `${lines.join('\n')}\n`;
  }
}
