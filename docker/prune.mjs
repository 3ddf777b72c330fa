#!/usr/bin/env node
/**
 * The first stage of every service image: from the built workspace (dist/ of every package,
 * node_modules in pnpm's layout, dev dependencies included), copy only what one app needs at
 * run time into <out>: the app's package.json + dist/ at <out>/, and the closure of its
 * `dependencies` (never devDependencies) under <out>/node_modules. Workspace packages bring
 * package.json, dist/, data files and build/ (the native addon) — no src, tests or tsconfig.
 *
 * Placement follows Node's resolution: a package goes to <out>/node_modules/<name> unless
 * another version is there already, in which case it nests under its dependent.
 * Usage: node docker/prune.mjs <workspace root> <app dir, relative> <out>
 */
import { cpSync, existsSync, mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const [root, appDir, out] = process.argv.slice(2);
if (!root || !appDir || !out) {
  process.stderr.write('usage: prune.mjs <workspace root> <app dir> <out>\n');
  process.exit(2);
}
const workspaceRoot = realpathSync(root);
const isWorkspacePackage = (dir) => !relative(workspaceRoot, dir).startsWith('..') && !dir.includes('/node_modules/');
/** Never needed at run time in a workspace package (sources and tests are not in the context). */
const WORKSPACE_BUILD_ONLY = new Set(['node_modules', 'src', 'test', 'bench', 'native', 'scripts', 'tsconfig.json', '.tsbuildinfo']);

function readPackage(dir) {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
}

function copyPackage(from, to) {
  mkdirSync(to, { recursive: true });
  if (isWorkspacePackage(from)) {
    // package.json, dist/, data the code reads (e.g. @mesh/xds proto/), build/ (native addon).
    cpSync(from, to, { recursive: true, dereference: true, filter: (src) => !relative(from, src).split('/').some((part) => WORKSPACE_BUILD_ONLY.has(part)) });
    return;
  }
  // A registry package as published, minus its own node_modules (its deps are placed below).
  cpSync(from, to, { recursive: true, dereference: true, filter: (src) => !relative(from, src).split('/').includes('node_modules') });
}

/** Node's lookup: <dir>/node_modules/<name>, then each parent's. */
function resolveDependency(fromDir, name) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dir === dirname(dir)) return undefined;
  }
}

const placed = new Map(); // name → real source dir at <out>/node_modules/<name>
let count = 0;

function place(sourceDir, targetDir) {
  const pkg = readPackage(sourceDir);
  const deps = { ...pkg.dependencies, ...pkg.optionalDependencies };
  for (const name of Object.keys(deps)) {
    const real = resolveDependency(sourceDir, name);
    if (!real) {
      if (pkg.optionalDependencies?.[name]) continue;
      throw new Error(`${pkg.name}: dependency ${name} is not installed (run pnpm install)`);
    }
    let target;
    if (!placed.has(name)) {
      target = join(out, 'node_modules', name);
      placed.set(name, real);
    } else if (placed.get(name) === real) {
      continue;
    } else {
      target = join(targetDir, 'node_modules', name);
      if (existsSync(target)) continue;
    }
    copyPackage(real, target);
    count++;
    place(real, target);
  }
}

const app = realpathSync(join(workspaceRoot, appDir));
copyPackage(app, out);
place(app, out);
process.stdout.write(`prune: ${readPackage(app).name} with ${count} runtime packages → ${out}\n`);
