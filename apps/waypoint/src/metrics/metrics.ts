/**
 * Istio's standard HTTP metrics as a waypoint reports them (`/stats/prometheus`):
 *   istio_requests_total (counter), istio_request_duration_milliseconds (histogram, Istio's
 *   default buckets), labelled reporter="waypoint", source_workload, source_principal,
 *   destination_workload, destination_service, response_code, response_flags.
 */
import { formatLabels } from '@mesh/proxy-runtime';

export const REQUEST_LABELS = ['reporter', 'source_workload', 'source_principal', 'destination_workload', 'destination_service', 'response_code', 'response_flags'] as const;
export type RequestLabels = Record<(typeof REQUEST_LABELS)[number], string>;

/** Istio's default duration buckets (ms). */
export const DURATION_BUCKETS_MS: readonly number[] = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

interface Series {
  labels: RequestLabels;
  count: number;
  sum: number;
  buckets: number[];
}

export class RequestMetrics {
  readonly #series = new Map<string, Series>();

  record(labels: RequestLabels, durationMs: number): void {
    // Once per request: the key is concatenated, not mapped and joined (REQUEST_LABELS' order).
    const key = `${labels.reporter}\u0000${labels.source_workload}\u0000${labels.source_principal}\u0000${labels.destination_workload}\u0000${labels.destination_service}\u0000${labels.response_code}\u0000${labels.response_flags}`;
    let s = this.#series.get(key);
    if (!s) this.#series.set(key, (s = { labels: { ...labels }, count: 0, sum: 0, buckets: DURATION_BUCKETS_MS.map(() => 0) }));
    s.count++;
    s.sum += durationMs;
    const buckets = s.buckets;
    for (let i = 0; i < DURATION_BUCKETS_MS.length; i++) if (durationMs <= (DURATION_BUCKETS_MS[i] as number)) buckets[i] = (buckets[i] as number) + 1;
  }

  /** Requests whose labels include `match`. */
  count(match: Partial<RequestLabels> = {}): number {
    let n = 0;
    for (const s of this.#series.values()) if (Object.entries(match).every(([k, v]) => s.labels[k as keyof RequestLabels] === v)) n += s.count;
    return n;
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const lines = ['# HELP istio_requests_total Total requests handled by the waypoint', '# TYPE istio_requests_total counter'];
    const text = (labels: RequestLabels) => formatLabels(REQUEST_LABELS, labels);
    for (const s of this.#series.values()) lines.push(`istio_requests_total{${text(s.labels)}} ${s.count}`);
    lines.push('# HELP istio_request_duration_milliseconds Request duration', '# TYPE istio_request_duration_milliseconds histogram');
    for (const s of this.#series.values()) {
      const l = text(s.labels);
      DURATION_BUCKETS_MS.forEach((le, i) => lines.push(`istio_request_duration_milliseconds_bucket{${l},le="${le}"} ${s.buckets[i]}`));
      lines.push(`istio_request_duration_milliseconds_bucket{${l},le="+Inf"} ${s.count}`);
      lines.push(`istio_request_duration_milliseconds_sum{${l}} ${Number(s.sum.toFixed(3))}`);
      lines.push(`istio_request_duration_milliseconds_count{${l}} ${s.count}`);
    }
    return `${lines.join('\n')}\n`;
  }
}
