/**
 * Istio's standard TCP metrics, as ztunnel reports them (`/stats/prometheus`):
 *   istio_tcp_connections_opened_total, istio_tcp_connections_closed_total,
 *   istio_tcp_sent_bytes_total (response: destination → source),
 *   istio_tcp_received_bytes_total (request: source → destination),
 * labelled reporter, source_workload, source_principal, destination_workload,
 * destination_principal, destination_service, connection_security_policy, response_flags.
 */
import { formatLabels } from '@mesh/proxy-runtime';

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

export class TcpMetrics {
  readonly #series = new Map<TcpMetric, Map<string, { labels: TcpLabels; value: number }>>();

  add(metric: TcpMetric, labels: TcpLabels, value = 1): void {
    if (value === 0 && metric !== 'istio_tcp_connections_opened_total') return;
    let series = this.#series.get(metric);
    if (!series) this.#series.set(metric, (series = new Map()));
    const key = TCP_LABELS.map((l) => labels[l]).join('\u0000');
    const entry = series.get(key);
    if (entry) entry.value += value;
    else series.set(key, { labels: { ...labels }, value });
  }

  get(metric: TcpMetric, match: Partial<TcpLabels> = {}): number {
    let sum = 0;
    for (const { labels, value } of this.#series.get(metric)?.values() ?? []) {
      if (Object.entries(match).every(([k, v]) => labels[k as keyof TcpLabels] === v)) sum += value;
    }
    return sum;
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const lines: string[] = [];
    for (const [metric, help] of Object.entries(METRICS) as Array<[TcpMetric, string]>) {
      lines.push(`# HELP ${metric} ${help}`, `# TYPE ${metric} counter`);
      for (const { labels, value } of this.#series.get(metric)?.values() ?? []) {
        lines.push(`${metric}{${formatLabels(TCP_LABELS, labels)}} ${value}`);
      }
    }
    return `${lines.join('\n')}\n`;
  }
}
