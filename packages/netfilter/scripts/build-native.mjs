#!/usr/bin/env node
// Compiles native/sockopt.c into build/sockopt.node with the system C compiler. No node-gyp and
// no Python: the addon is one C file against node_api.h, which the Node installation ships
// (Debian's nodejs package: /usr/include/node). Runs on `pnpm install` (this package's
// `install` script) and `pnpm build`. Off Linux there is nothing to build: TPROXY is Linux-only.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(packageDir, 'native', 'sockopt.c');
const output = join(packageDir, 'build', 'sockopt.node');

if (process.platform !== 'linux') {
  console.log(`@mesh/netfilter: no native addon on ${process.platform} (transparent capture is Linux-only)`);
  process.exit(0);
}
if (existsSync(output) && statSync(output).mtimeMs >= statSync(source).mtimeMs && !process.argv.includes('--force')) {
  process.exit(0);
}

// Where node_api.h lives: an explicit nodedir first (the npm/pnpm convention), then the
// include directory next to the running node binary (/usr/bin/node -> /usr/include/node).
const candidates = [
  process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include', 'node'),
  resolve(dirname(process.execPath), '..', 'include', 'node'),
  '/usr/include/node',
  '/usr/local/include/node',
].filter(Boolean);
const includeDir = candidates.find((dir) => existsSync(join(dir, 'node_api.h')));
if (!includeDir) {
  console.error(`@mesh/netfilter: node_api.h not found in ${candidates.join(', ')}`);
  console.error('  install Node with its headers (Debian: the nodejs package) or set npm_config_nodedir');
  process.exit(1);
}

mkdirSync(dirname(output), { recursive: true });
const compiler = process.env.CC || 'cc';
const args = ['-O2', '-fPIC', '-shared', '-Wall', '-Wextra', '-DNODE_GYP_MODULE_NAME=sockopt', '-I', includeDir, '-o', output, source];
try {
  execFileSync(compiler, args, { stdio: 'inherit' });
} catch (err) {
  console.error(`@mesh/netfilter: \`${compiler} ${args.join(' ')}\` failed: ${err.message}`);
  console.error('  install a C compiler (Debian: apt-get install -y gcc libc6-dev)');
  process.exit(1);
}
console.log(`@mesh/netfilter: built ${output}`);
