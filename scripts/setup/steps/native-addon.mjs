// packages/netfilter's N-API addon (IP_TRANSPARENT, SO_MARK), built against the headers of the
// Node the set-up chose. `pnpm install` builds it too (the package's install script); this step
// rebuilds it when those headers or its source changed since (packages/netfilter/scripts/build-native.mjs).
import { writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { ADDON, addonState, buildAddon } from '../../../packages/netfilter/scripts/build-native.mjs';
import { SetupError } from '../lib.mjs';
import { logOf } from '../runner.mjs';

function includeDirOf(/** @type {import('../runner.mjs').Context} */ ctx) {
  return join(/** @type {NonNullable<typeof ctx.node>} */ (ctx.node).dir, 'include', 'node');
}

/** @type {import('../runner.mjs').Step} */
export const nativeAddon = {
  name: 'native addon',
  profile: 'dev',
  check(ctx) {
    return addonState(includeDirOf(ctx));
  },
  async run(ctx) {
    try {
      const version = buildAddon(includeDirOf(ctx));
      return `built ${relative(ctx.root, ADDON)} against Node ${version}'s headers`;
    } catch (err) {
      const log = logOf(ctx, 'native addon');
      await writeFile(log, String(/** @type {Error} */ (err).message));
      throw new SetupError(`cannot build ${relative(ctx.root, ADDON)}`, 'a C compiler and libc headers are needed (Debian: apt-get install gcc libc6-dev; the set-up installs them when run as root)', { log });
    }
  },
};
