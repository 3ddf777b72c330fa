// `pnpm bench [filter...]`: runs every benchmark module (packages/*/bench/*.bench.mjs,
// apps/*/bench/*.bench.mjs) against the built code, prints each module's figures with their
// ratio to the baseline measured in the same run, and writes them as JSON under bench/results/.
// At the end, every row that has a target (scripts/bench-lib.mjs) is printed again in one table
// with its ratio, target and whether this run met it. Benchmarks never fail on a timing; only a
// crash is an error.
import { mkdirSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const quick = process.argv.includes('--quick');

const modules = [];
for (const group of ['packages', 'apps']) {
  for (const name of readdirSync(join(root, group))) {
    const dir = join(root, group, name, 'bench');
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir)) if (file.endsWith('.bench.mjs')) modules.push(join(dir, file));
  }
}
// Matched against the path inside the repository: a checkout under a directory named like a
// benchmark (…/soak/) must not select every module.
const selected = modules.filter((m) => filters.length === 0 || filters.some((f) => relative(root, m).includes(f)));
if (selected.length === 0) {
  console.error(`no benchmark matches ${filters.join(' ')}; available:\n  ${modules.map((m) => relative(root, m)).join('\n  ')}`);
  process.exit(2);
}

const outDir = join(root, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const judged = [];
for (const file of selected) {
  const name = relative(root, file);
  console.log(`\n== ${name}${quick ? ' (quick)' : ''}`);
  const mod = await import(pathToFileURL(file).href);
  const started = Date.now();
  const results = await mod.run({ quick });
  console.table(results);
  const out = join(outDir, `${name.replace(/[/\\]/g, '_').replace(/\.bench\.mjs$/, '')}-${stamp}.json`);
  writeFileSync(
    out,
    JSON.stringify({ benchmark: name, startedAt: new Date(started).toISOString(), seconds: (Date.now() - started) / 1000, node: process.version, quick, results }, null, 2),
  );
  console.log(`wrote ${relative(root, out)}`);
  for (const row of results) if (row.target) judged.push({ benchmark: name.replace(/^.*\/bench\//, '').replace(/\.bench\.mjs$/, ''), ...row });
}
if (judged.length > 0) {
  console.log('\n== targets (this run; timing never fails the run)');
  console.table(
    judged.map((r) => ({
      benchmark: r.benchmark,
      name: r.name,
      value: `${r.value} ${r.unit}`,
      baseline: r.baseline ?? '',
      ratio: r.ratio ?? '',
      target: r.target,
      met: r.met === undefined ? '?' : r.met ? 'yes' : 'no',
    })),
  );
  const out = join(outDir, `targets-${stamp}.json`);
  writeFileSync(out, JSON.stringify({ node: process.version, quick, rows: judged }, null, 2));
  console.log(`wrote ${relative(root, out)}`);
}
process.exit(0);
