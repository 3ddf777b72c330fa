// The system programs the project drives, found by name (so another distribution that has them
// passes too) and installed with apt-get as root when missing. The root-only ones (the capture
// rules and network namespaces of transparent mode and of the root-only tests) are needed, and
// checked, only when running as root.
import { existsSync, readFileSync } from 'node:fs';
import { exec, SetupError, which } from '../lib.mjs';
import { logOf } from '../runner.mjs';

/**
 * @typedef {object} Need
 * @property {string} what     a program on PATH (or in sbin), or an absolute file
 * @property {string} package  the Debian package that provides it
 * @property {boolean} [root]  needed only as root
 * @property {boolean} [test]  needed only by the tests (`npm test`, `npm run setup`), not by `npm run dev`
 */

/**
 * What the project drives. A package only a test needs is one more line with `test: true`
 * (e.g. `{ what: 'stress-ng', package: 'stress-ng', root: true, test: true }`).
 * @type {readonly Need[]}
 */
export const NEEDS = [
  { what: 'cc', package: 'gcc' }, // the native addon
  { what: '/usr/include/stdio.h', package: 'libc6-dev' }, // its libc headers
  { what: 'curl', package: 'curl' }, // `meshctl dev exec … curl`, `npm run dev -- --check`, tests
  { what: 'iptables', package: 'iptables', root: true }, // capture rules
  { what: 'ipset', package: 'ipset', root: true },
  { what: 'ip', package: 'iproute2', root: true }, // namespaces, veths, policy routing
  { what: 'sysctl', package: 'procps', root: true },
  { what: 'stress-ng', package: 'stress-ng', root: true, test: true }, // the CPU load of `npm run test:stress`
];

function present(/** @type {Need} */ need, /** @type {string | undefined} */ pathEnv) {
  return need.what.startsWith('/') ? existsSync(need.what) : which(need.what, pathEnv, { system: true }) !== undefined;
}

/** The packages to install: those whose program is missing (root-only ones only as root). */
export function missingPackages(/** @type {boolean} */ isRoot, /** @type {string | undefined} */ pathEnv, needs = NEEDS) {
  return [...new Set(needs.filter((need) => (isRoot || !need.root) && !present(need, pathEnv)).map((need) => need.package))];
}

function osName() {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'this system';
  } catch {
    return 'this system';
  }
}

/**
 * The step, for `needs`; `findAptGet` says where apt-get is (undefined off Debian).
 * @returns {import('../runner.mjs').Step}
 */
export function debianStep(needs = NEEDS, findAptGet = (/** @type {NodeJS.ProcessEnv} */ env) => which('apt-get', env.PATH, { system: true })) {
  return {
    name: 'Debian packages',
    profile: 'dev',
    check(ctx) {
      const missing = missingPackages(ctx.isRoot, ctx.env.PATH, needs);
      return missing.length === 0 ? undefined : `missing ${missing.join(' ')}`;
    },
    async run(ctx) {
      const missing = missingPackages(ctx.isRoot, ctx.env.PATH, needs);
      const command = `apt-get install --no-install-recommends ${missing.join(' ')}`;
      const aptGet = findAptGet(ctx.env);
      if (!aptGet) {
        throw new SetupError(`unsupported OS: ${osName()} has no apt-get to install ${missing.join(' ')}`, 'the set-up installs system packages on Debian and its derivatives; elsewhere install those programs with the system\'s package manager, then run again');
      }
      if (!ctx.isRoot) {
        throw new SetupError(`not root: cannot install the Debian packages ${missing.join(' ')}`, `run \`sudo ${command}\` (or run this command as root once), then run again`);
      }
      const log = logOf(ctx, 'debian');
      const env = { ...ctx.env, DEBIAN_FRONTEND: 'noninteractive' };
      try {
        await exec(aptGet, ['update', '-qq'], { log, env });
        await exec(aptGet, ['install', '-y', '-qq', '--no-install-recommends', ...missing], { log, env });
      } catch (err) {
        const output = String(/** @type {{output?: string}} */ (err).output ?? err);
        if (/dpkg was interrupted/.test(output)) throw new SetupError('apt-get refuses: an earlier dpkg run was interrupted', 'run `dpkg --configure -a` as root, then run again', { log });
        if (/Could not get lock|is held by process/.test(output)) throw new SetupError('apt-get is busy (another package manager holds its lock)', 'wait for it to finish, then run again', { log });
        if (/Temporary failure resolving|Could not resolve|Failed to fetch|Unable to connect/.test(output)) throw new SetupError('apt-get cannot reach the Debian mirror', 'check the network and /etc/apt/sources.list, then run again', { log });
        throw new SetupError(`\`${command}\` failed`, 'see the log; then run again', { log });
      }
      const still = missingPackages(ctx.isRoot, ctx.env.PATH, needs);
      if (still.length > 0) throw new SetupError(`installed ${missing.join(' ')}, yet ${still.join(' ')} still provide nothing on PATH`, 'see the log', { log });
      return `installed ${missing.join(' ')}`;
    },
  };
}

/** What every command needs (the 'dev' profile), and what only the tests add. */
export const debianPackages = debianStep(NEEDS.filter((need) => !need.test));
export const debianPackagesForTests = { ...debianStep(NEEDS.filter((need) => need.test)), name: 'Debian packages for the tests', profile: /** @type {const} */ ('test') };
