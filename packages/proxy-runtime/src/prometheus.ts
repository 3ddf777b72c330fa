/** Prometheus text exposition (format 0.0.4) pieces both proxies' metrics use. */

/** A label value escaped as the format requires: backslash, newline and double quote. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** `name="value",…` for `names`, in that order. */
export function formatLabels<K extends string>(names: readonly K[], labels: Readonly<Record<K, string>>): string {
  return names.map((l) => `${l}="${escapeLabelValue(labels[l])}"`).join(',');
}
