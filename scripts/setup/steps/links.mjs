// The checkout's bin/ (beside the tracked bin/meshctl): `node`, a link to the Node the set-up
// chose, and `pnpm`, the pinned pnpm on that Node. scripts/run.sh puts bin/ first on PATH for
// every command; a shell with `export PATH="$PWD/bin:$PATH"` gets the same node, pnpm and meshctl.
import { readFileSync, readlinkSync } from 'node:fs';
import { rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../lib.mjs';

function pnpmWrapper(/** @type {string} */ cjs, /** @type {string} */ version) {
  return `#!/bin/sh
# Written by the set-up (scripts/setup/steps/links.mjs): pnpm ${version} on bin/node, with bin/ first
# on PATH so the scripts it runs use that Node too.
here=$(dirname "$(readlink -f "$0")")
PATH="$here:$PATH"
export PATH
exec "$here/node" "${cjs}" "$@"
`;
}

function readlinkOr(/** @type {string} */ path) {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

function readOr(/** @type {string} */ path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** @type {import('../runner.mjs').Step} */
export const binLinks = {
  name: 'bin/node and bin/pnpm',
  profile: 'dev',
  check(ctx) {
    const { node, pnpm } = /** @type {Required<typeof ctx>} */ (ctx);
    const stale = [];
    if (readlinkOr(join(ctx.root, 'bin', 'node')) !== node.bin) stale.push('bin/node');
    if (readOr(join(ctx.root, 'bin', 'pnpm')) !== pnpmWrapper(pnpm.cjs, pnpm.version)) stale.push('bin/pnpm');
    return stale.length === 0 ? undefined : `${stale.join(' and ')} ${stale.length === 1 ? 'is' : 'are'} missing or out of date`;
  },
  async run(ctx) {
    const { node, pnpm } = /** @type {Required<typeof ctx>} */ (ctx);
    const link = join(ctx.root, 'bin', 'node');
    const partial = `${link}.partial-${process.pid}`;
    await rm(partial, { force: true });
    await symlink(node.bin, partial);
    await rename(partial, link);
    await writeFileAtomic(join(ctx.root, 'bin', 'pnpm'), pnpmWrapper(pnpm.cjs, pnpm.version), { mode: 0o755 });
    return `bin/node → ${node.bin} (Node ${node.version}), bin/pnpm → pnpm ${pnpm.version}`;
  },
};
