// What the benchmark modules share: percentiles, and a recorder whose rows carry the baseline
// measured in the same run, the ratio to it, and the target the row is judged against. A target
// is information for the reader (`pnpm bench` prints whether it is met); it never fails a run.

export const median = (xs) => percentile(xs, 50);

/**
 * ns per call of each candidate (`(i) => void`, called `n` times a turn), the median over `rounds`
 * rounds; in each round every candidate takes one turn, in a rotating order, so a change in the
 * machine's load falls on all of them alike.
 */
export function measureInTurns(n, candidates, rounds) {
  const samples = candidates.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < candidates.length; k++) {
      const c = (r + k) % candidates.length;
      const start = performance.now();
      for (let i = 0; i < n; i++) candidates[c](i);
      samples[c].push(((performance.now() - start) * 1e6) / n);
    }
  }
  return samples.map(median);
}

/** The p-th percentile (nearest rank) of `xs`; NaN for no samples. */
export function percentile(xs, p) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/**
 * Rows for `run()` to return. `target`: `{ min }` or `{ max }` on the value, or on the ratio to
 * the baseline with `{ ratio: true }`, plus `text` when the plain form would mislead.
 */
export function createRecorder() {
  const results = [];
  const record = (name, value, unit, { baseline, target, note } = {}) => {
    const row = { name, value: round(value), unit };
    if (baseline !== undefined) {
      row.baseline = round(baseline);
      row.ratio = round(value / baseline);
    }
    if (target) {
      const judged = target.ratio ? row.ratio : row.value;
      row.target = target.text ?? describeTarget(target, unit);
      row.met = judged === undefined || Number.isNaN(judged) ? undefined : target.min !== undefined ? judged >= target.min : judged <= target.max;
    }
    if (note) row.note = note;
    results.push(row);
    return row;
  };
  return { results, record };
}

function describeTarget(target, unit) {
  const bound = target.min !== undefined ? `≥ ${target.min}` : `≤ ${target.max}`;
  return target.ratio ? `${bound} of baseline` : `${bound} ${unit}`;
}

function round(x) {
  if (!Number.isFinite(x)) return x;
  const digits = Math.abs(x) >= 100 ? 1 : 3;
  return +x.toFixed(digits);
}
