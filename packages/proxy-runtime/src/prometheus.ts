/** Prometheus text exposition (format 0.0.4) pieces both proxies' metrics use. */

/** A label value escaped as the format requires: backslash, newline and double quote. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** `name="value",…` for `names`, in that order. */
export function formatLabels<K extends string>(names: readonly K[], labels: Readonly<Record<K, string>>): string {
  return names.map((l) => `${l}="${escapeLabelValue(labels[l])}"`).join(',');
}

/** `# HELP`, `# TYPE … counter` and one line per series, labels in `names` order. */
export function counterLines<K extends string>(metric: string, help: string, names: readonly K[], series: Iterable<{ labels: Readonly<Record<K, string>>; value: number }>): string[] {
  const lines = [`# HELP ${metric} ${help}`, `# TYPE ${metric} counter`];
  for (const { labels, value } of series) lines.push(`${metric}{${formatLabels(names, labels)}} ${value}`);
  return lines;
}

/** The sum of the series whose labels include every `match` pair (a metric's `get`, for tests). */
export function sumMatching<K extends string>(series: Iterable<{ labels: Readonly<Record<K, string>>; value: number }>, match: Partial<Record<K, string>>): number {
  let sum = 0;
  for (const { labels, value } of series) {
    if ((Object.entries(match) as Array<[K, string]>).every(([k, v]) => labels[k] === v)) sum += value;
  }
  return sum;
}
