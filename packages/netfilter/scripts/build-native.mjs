#!/usr/bin/env node
// Compiles native/sockopt.c into build/sockopt.node with the system C compiler. No node-gyp and
// no Python: the addon is one C file against node_api.h, which a Node installation ships beside
// its binary (<prefix>/bin/node → <prefix>/include/node). Runs on `pnpm install` (this package's
// `install` script), on `pnpm build`, and from the set-up (scripts/setup/steps/native-addon.mjs).
// Off Linux there is nothing to build: TPROXY is Linux-only.
//
// build/ is not a turbo cache output: the addon belongs to this checkout's Node and headers, and a
// copy restored from another checkout's build would be rebuilt (and announced) by the next set-up.
// build/sockopt.json records what the addon was built from (the source's hash, the headers'
// directory and Node version); it is rebuilt when either changes. The compiler writes a
// temporary file that is renamed into place, so an interrupted build never leaves a partial
// addon that looks built.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE = join(packageDir, 'native', 'sockopt.c');
export const ADDON = join(packageDir, 'build', 'sockopt.node');
const RECORD = join(packageDir, 'build', 'sockopt.json');

/**
 * Where node_api.h lives for the Node at `execPath`: beside it first (the headers of the Node
 * that will load the addon), then an explicit nodedir (the npm/pnpm convention, for a Node
 * installed without headers), then the system's.
 * @returns {string | undefined}
 */
export function headersFor(execPath = process.execPath, env = process.env) {
  const candidates = [
    resolve(dirname(execPath), '..', 'include', 'node'),
    env.npm_config_nodedir && join(env.npm_config_nodedir, 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ].filter(Boolean);
  return candidates.find((dir) => existsSync(join(dir, 'node_api.h')));
}

/** The Node version node_version.h in `includeDir` describes ("24.22.3"). */
function headersVersion(includeDir) {
  const text = readFileSync(join(includeDir, 'node_version.h'), 'utf8');
  const part = (name) => new RegExp(`#define NODE_${name}_VERSION (\\d+)`).exec(text)?.[1] ?? '?';
  return `${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}`;
}

function recordFor(includeDir) {
  return { source: createHash('sha256').update(readFileSync(SOURCE)).digest('hex'), headers: includeDir, node: headersVersion(includeDir) };
}

/** Undefined when build/sockopt.node was built from the current source against `includeDir`, else why not. */
export function addonState(includeDir) {
  if (!existsSync(ADDON)) return 'not built';
  let built;
  try {
    built = JSON.parse(readFileSync(RECORD, 'utf8'));
  } catch {
    return 'built without a record of its headers';
  }
  const wanted = recordFor(includeDir);
  if (built.source !== wanted.source) return 'native/sockopt.c changed';
  if (built.node !== wanted.node) return `built against Node ${built.node}'s headers, not Node ${wanted.node}'s`;
  if (built.headers !== wanted.headers) return `built against the headers in ${built.headers}, not ${wanted.headers}`;
  return undefined;
}

/**
 * Compiles the addon against `includeDir`; throws with the compiler's output on failure.
 * @returns {string} the Node version of the headers used
 */
export function buildAddon(includeDir, compiler = process.env.CC || 'cc') {
  mkdirSync(dirname(ADDON), { recursive: true });
  const partial = `${ADDON}.partial-${process.pid}`;
  const args = ['-O2', '-fPIC', '-shared', '-Wall', '-Wextra', '-DNODE_GYP_MODULE_NAME=sockopt', '-I', includeDir, '-o', partial, SOURCE];
  try {
    execFileSync(compiler, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    rmSync(partial, { force: true });
    const output = `${err.stdout ?? ''}${err.stderr ?? ''}`.trim();
    throw new Error(`\`${compiler} ${args.join(' ')}\` failed: ${err.code === 'ENOENT' ? `no ${compiler} on PATH` : err.message}${output ? `\n${output}` : ''}\n  install a C compiler (Debian: apt-get install -y gcc libc6-dev)`);
  }
  const record = recordFor(includeDir);
  renameSync(partial, ADDON);
  writeFileSync(RECORD, `${JSON.stringify(record)}\n`);
  return record.node;
}

function main() {
  if (process.platform !== 'linux') {
    console.log(`@mesh/netfilter: no native addon on ${process.platform} (transparent capture is Linux-only)`);
    return 0;
  }
  const includeDir = headersFor();
  if (!includeDir) {
    console.error(`@mesh/netfilter: node_api.h not found beside ${process.execPath}, in $npm_config_nodedir or /usr/include/node`);
    console.error('  run the set-up (`npm run setup`), which installs Node 24 with its headers, or set npm_config_nodedir');
    return 1;
  }
  if (!process.argv.includes('--force') && addonState(includeDir) === undefined) return 0;
  try {
    const version = buildAddon(includeDir);
    console.log(`@mesh/netfilter: built ${ADDON} against Node ${version}'s headers`);
    return 0;
  } catch (err) {
    console.error(`@mesh/netfilter: ${err.message}`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) process.exitCode = main();
