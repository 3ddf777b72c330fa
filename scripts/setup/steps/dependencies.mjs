// The workspace's dependencies: `pnpm install --frozen-lockfile` when what it depends on changed
// since the last successful install — the lockfile, the workspace's package.json files, pnpm's
// settings, the Node and pnpm versions. The stamp is written only after pnpm succeeded, so an
// interrupted install is redone on the next run.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CERTIFICATE_ERRORS, CERTIFICATE_FIX, CommandError, exec, hashFiles, SetupError, tail, writeFileAtomic } from '../lib.mjs';
import { logOf } from '../runner.mjs';

const STAMP = join('node_modules', '.mesh-setup-stamp');

/** The files `pnpm install`'s result depends on: lockfile, settings, every workspace package.json. */
function inputsOf(/** @type {string} */ root) {
  const files = ['pnpm-lock.yaml', 'pnpm-workspace.yaml', '.npmrc', 'package.json'];
  // The workspace's globs are `<dir>/*` or `<dir>` (pnpm-workspace.yaml).
  const globs = [...readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8').matchAll(/^\s*-\s*['"]?([\w./-]+?)(\/\*)?['"]?\s*$/gm)];
  for (const [, dir, star] of globs) {
    const parents = star ? readdirSync(join(root, /** @type {string} */ (dir)), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `${dir}/${e.name}`) : [dir];
    for (const parent of parents) if (existsSync(join(root, `${parent}/package.json`))) files.push(`${parent}/package.json`);
  }
  return files.sort().map((file) => join(root, file));
}

async function expectedStamp(/** @type {import('../runner.mjs').Context} */ ctx) {
  const { node, pnpm } = /** @type {Required<typeof ctx>} */ (ctx);
  return hashFiles(inputsOf(ctx.root), `node ${node.version} pnpm ${pnpm.version}`);
}

/** pnpm's messages for "the registry cannot be reached". */
const NETWORK_ERRORS = /ERR_PNPM_META_FETCH_FAIL|ERR_PNPM_FETCH_|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH/;

/** @type {import('../runner.mjs').Step} */
export const dependencies = {
  name: 'dependencies',
  profile: 'dev',
  async check(ctx) {
    let stamp;
    try {
      stamp = readFileSync(join(ctx.root, STAMP), 'utf8');
    } catch {
      return existsSync(join(ctx.root, 'node_modules')) ? 'not installed by the set-up yet' : 'no node_modules';
    }
    return stamp === (await expectedStamp(ctx)) ? undefined : 'the lockfile, a package.json or the Node/pnpm version changed';
  },
  async run(ctx) {
    const { node, pnpm } = /** @type {Required<typeof ctx>} */ (ctx);
    const log = logOf(ctx, 'dependencies');
    const stamp = await expectedStamp(ctx);
    try {
      await exec(node.bin, [pnpm.cjs, 'install', '--frozen-lockfile', '--reporter=append-only'], {
        cwd: ctx.root,
        log,
        env: { ...ctx.env, PATH: `${join(ctx.root, 'bin')}:${ctx.env.PATH ?? ''}` },
      });
    } catch (err) {
      const output = err instanceof CommandError ? err.output : String(err);
      if (CERTIFICATE_ERRORS.test(output)) throw new SetupError("`pnpm install`: the npm registry's TLS certificate is not trusted here", CERTIFICATE_FIX, { log });
      if (NETWORK_ERRORS.test(output)) {
        throw new SetupError('`pnpm install` cannot reach the npm registry', 'check the network (or the proxy) and the registry (`bin/pnpm config get registry`); then run again', { log });
      }
      if (/ERR_PNPM_OUTDATED_LOCKFILE/.test(output)) {
        throw new SetupError('pnpm-lock.yaml does not match the package.json files', 'run `bin/pnpm install` to bring the lockfile up to date (and commit it)', { log });
      }
      throw new SetupError(`\`pnpm install --frozen-lockfile\` failed:\n${tail(output)}`, 'see the log; then run again', { log });
    }
    await writeFileAtomic(join(ctx.root, STAMP), stamp);
    return 'pnpm install --frozen-lockfile done';
  },
};
