// Where the time or the memory went, from a V8 profile a Node process wrote:
//
//   node scripts/profile-summary.mjs <file.cpuprofile> [top]     self time by area and by function
//   node scripts/profile-summary.mjs <file.heapsnapshot> [top]   self size by constructor / kind
//   … <file.cpuprofile> [top] --from-s N    only the samples from N s after the profile began
//                                            (leave a ztunnel's start-up out), and time inclusive
//                                            of callees by function
//
// An area is a workspace package (`@mesh/hbone-core`, `ztunnel`, …), a dependency under
// node_modules, Node's own JavaScript (`node:…`), or V8's buckets (`(garbage collector)`,
// `(program)`, `(idle)`). Used for the figures in docs/performance.md.
import { readFileSync } from 'node:fs';

const argv = process.argv.slice(2);
const fromAt = argv.indexOf('--from-s');
const fromUs = fromAt >= 0 ? Number(argv[fromAt + 1]) * 1e6 : undefined;
const [file, topArg] = argv.filter((a, i) => !a.startsWith('--') && (fromAt < 0 || i !== fromAt + 1));
if (!file) {
  console.error('usage: profile-summary.mjs <file.cpuprofile|file.heapsnapshot> [top]');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const data = JSON.parse(readFileSync(file, 'utf8'));

/** The area a script URL belongs to. */
function areaOf(url, functionName) {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0] === 'internal' ? url.slice(14).split('/')[0] : url.slice(5)}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules)/.exec(url);
  if (pkg) return pkg[1];
  const ws = /\/(packages|apps)\/([^/]+)\//.exec(url);
  return ws ? `${ws[1] === 'packages' ? '@mesh/' : ''}${ws[2]}` : url;
}

const pct = (x, total) => `${((100 * x) / total).toFixed(1)} %`.padStart(7);

function table(title, map, total, unit, fmt) {
  console.log(`\n${title}`);
  for (const [key, value] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(value, total)} ${fmt(value).padStart(10)} ${unit}  ${key}`);
}

if (data.nodes && data.samples && data.timeDeltas) {
  const byId = new Map(data.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let at = 0;
  data.samples.forEach((id, i) => {
    at += data.timeDeltas[i] ?? 0;
    if (fromUs === undefined || at >= fromUs) self.set(id, (self.get(id) ?? 0) + (data.timeDeltas[i] ?? 0));
  });
  let total = 0;
  const byArea = new Map();
  const byFunction = new Map();
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    total += us;
    const area = areaOf(url, functionName);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
    const key = `${functionName || '(anonymous)'}  ${url ? `${url.replace(/^file:\/\/.*?\/(packages|apps|node_modules)\//, '$1/')}:${lineNumber + 1}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  const busy = total - (byArea.get('(idle)') ?? 0);
  console.log(`${file}${fromUs !== undefined ? ` from ${fromUs / 1e6} s` : ''}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s not idle; shares of the time not idle`);
  byArea.delete('(idle)');
  table('self time by area', byArea, busy, 'ms', (us) => (us / 1000).toFixed(0));
  byFunction.delete('(idle)  ');
  table('self time by function', byFunction, busy, 'ms', (us) => (us / 1000).toFixed(0));
  if (fromUs !== undefined) {
    // Inclusive: a sample counts for every function on its stack (once per function).
    const parentOf = new Map();
    for (const n of data.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
    const inclusive = new Map();
    for (const [id, us] of self) {
      if (byId.get(id).callFrame.functionName === '(idle)') continue;
      const seen = new Set();
      for (let n = id; n !== undefined; n = parentOf.get(n)) {
        const { functionName, url, lineNumber } = byId.get(n).callFrame;
        const key = `${functionName || '(anonymous)'}  ${url ? `${url.replace(/^file:\/\/.*?\/(packages|apps|node_modules)\//, '$1/')}:${lineNumber + 1}` : ''}`;
        if (seen.has(key)) continue;
        seen.add(key);
        inclusive.set(key, (inclusive.get(key) ?? 0) + us);
      }
    }
    inclusive.delete('(root)  ');
    table(`time inclusive of callees by function (from ${fromUs / 1e6} s)`, inclusive, busy, 'ms', (us) => (us / 1000).toFixed(0));
  }
} else if (data.snapshot && data.nodes && data.strings) {
  const fields = data.snapshot.meta.node_fields;
  const types = data.snapshot.meta.node_types[0];
  const width = fields.length;
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const byKind = new Map();
  let total = 0;
  for (let i = 0; i < data.nodes.length; i += width) {
    const type = types[data.nodes[i + typeAt]];
    const name = data.strings[data.nodes[i + nameAt]];
    const size = data.nodes[i + sizeAt];
    total += size;
    const key = type === 'object' || type === 'closure' || type === 'native' ? `${type} ${name}` : `(${type})`;
    byKind.set(key, (byKind.get(key) ?? 0) + size);
  }
  console.log(`${file}: ${(total / 1048576).toFixed(1)} MiB of JS heap objects (self sizes)`);
  table('self size by constructor (objects, closures, native) or kind', byKind, total, 'KiB', (b) => (b / 1024).toFixed(0));
} else {
  console.error(`${file}: neither a .cpuprofile nor a .heapsnapshot`);
  process.exit(2);
}
