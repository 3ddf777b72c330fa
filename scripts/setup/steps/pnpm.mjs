// pnpm, pinned by package.json's `packageManager` (`pnpm@<version>+sha512.<hex>`, corepack's
// form), installed from the npm registry into <tools>/pnpm-<version> whatever pnpm the machine
// has, and run on the set-up's Node (bin/pnpm, links step).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fetchPackage, installDirectory, SetupError } from '../lib.mjs';
import { logOf } from '../runner.mjs';

/** The pinned pnpm from package.json: version and SRI integrity. */
export function pnpmPin(/** @type {string} */ root) {
  const packageJson = join(root, 'package.json');
  const field = JSON.parse(readFileSync(packageJson, 'utf8')).packageManager ?? '';
  const match = /^pnpm@(\d+\.\d+\.\d+)\+sha512\.([0-9a-f]{128})$/.exec(field);
  if (!match) {
    throw new SetupError(`${packageJson}: packageManager is "${field}", not pnpm@<version>+sha512.<hex>`, 'restore it from git (`git checkout package.json`)');
  }
  return { version: /** @type {string} */ (match[1]), integrity: `sha512-${Buffer.from(/** @type {string} */ (match[2]), 'hex').toString('base64')}` };
}

/** @type {import('../runner.mjs').Step} */
export const pnpm = {
  name: 'pnpm',
  profile: 'dev',
  check(ctx) {
    const { version } = pnpmPin(ctx.root);
    const dir = join(ctx.tools, `pnpm-${version}`);
    const cjs = join(dir, 'bin', 'pnpm.cjs');
    ctx.pnpm = { dir, version, cjs };
    return existsSync(cjs) ? undefined : `pnpm ${version} is not in ${ctx.tools}`;
  },
  async run(ctx) {
    const { version, integrity } = pnpmPin(ctx.root);
    const pinned = /** @type {NonNullable<typeof ctx.pnpm>} */ (ctx.pnpm);
    await installDirectory(pinned.dir, (dir) => fetchPackage({ name: 'pnpm', version, integrity, dir, log: logOf(ctx, 'pnpm'), env: ctx.env }));
    return `installed pnpm ${version} in ${pinned.dir}`;
  },
};
