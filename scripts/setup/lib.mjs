// Helpers the set-up steps share: running a command into the step's log, finding programs,
// installing a directory atomically, fetching a pinned package from the npm registry.
//
// Runs on whatever Node started the set-up (Debian 12's Node 18 and later), before Node 24 is
// there: plain ESM JavaScript, node: built-ins only, no dependencies.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, createReadStream, existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, delimiter, dirname, join, relative, resolve } from 'node:path';

/** A failure the user can act on: what is missing, and the fix. */
export class SetupError extends Error {
  /**
   * @param {string} message what went wrong, naming the missing piece
   * @param {string} fix what to do about it
   * @param {{log?: string}} [options] the log with the failing command's output
   */
  constructor(message, fix, options = {}) {
    super(message);
    this.name = 'SetupError';
    this.fix = fix;
    this.log = options.log;
  }
}

/**
 * Where the set-up keeps what it installs outside the checkout (Node, pnpm, test tools), shared
 * by every checkout on the machine: MESH_TOOLS_DIR if set; as root /opt/ambient-mesh-ts;
 * otherwise $XDG_DATA_HOME/ambient-mesh-ts (~/.local/share/ambient-mesh-ts).
 * @param {NodeJS.ProcessEnv} [env]
 * @param {number | undefined} [uid]
 */
export function toolsDir(env = process.env, uid = process.getuid?.()) {
  if (env.MESH_TOOLS_DIR) return resolve(env.MESH_TOOLS_DIR);
  if (uid === 0) return '/opt/ambient-mesh-ts';
  const dataHome = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share');
  return join(dataHome, 'ambient-mesh-ts');
}

/** Directories searched for system programs besides PATH (root's tools live in sbin). */
const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/**
 * The first executable `name` on PATH (then the system directories), or undefined.
 * @param {string} name
 * @param {string | undefined} [pathEnv]
 * @param {{system?: boolean}} [options] also search the system directories
 */
export function which(name, pathEnv = process.env.PATH, options = {}) {
  const dirs = (pathEnv ?? '').split(delimiter).filter(Boolean);
  if (options.system) dirs.push(...SYSTEM_DIRS);
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/**
 * Runs a command with its output appended to `log` (nothing on the terminal); resolves with the
 * output, rejects with the exit status and the output's last lines.
 * @param {string} file
 * @param {readonly string[]} args
 * @param {{log: string, cwd?: string, env?: NodeJS.ProcessEnv}} options
 * @returns {Promise<string>}
 */
export async function exec(file, args, options) {
  await mkdir(dirname(options.log), { recursive: true });
  await writeFile(options.log, `$ ${[file, ...args].join(' ')}\n`, { flag: 'a' });
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    /** @type {Buffer[]} */
    const chunks = [];
    child.stdout.on('data', (chunk) => chunks.push(chunk));
    child.stderr.on('data', (chunk) => chunks.push(chunk));
    child.once('error', (err) => reject(new CommandError(file, args, `cannot start: ${err.message}`, '')));
    child.once('close', async (code, signal) => {
      const output = Buffer.concat(chunks).toString('utf8');
      await writeFile(options.log, output, { flag: 'a' }).catch(() => undefined);
      if (code === 0) resolvePromise(output);
      else reject(new CommandError(file, args, signal ? `killed by ${signal}` : `exit status ${code}`, output));
    });
  });
}

/** A command that failed; `output` is what it printed. */
export class CommandError extends Error {
  /**
   * @param {string} file
   * @param {readonly string[]} args
   * @param {string} status
   * @param {string} output
   */
  constructor(file, args, status, output) {
    super(`\`${[basename(file), ...args].join(' ')}\` failed (${status})`);
    this.name = 'CommandError';
    this.output = output;
  }
}

/** The last `count` non-empty lines of a command's output, indented, for an error message. */
export function tail(output, count = 15) {
  return output.split('\n').filter((line) => line.trim() !== '').slice(-count).map((line) => `    ${line}`).join('\n');
}

/**
 * The SRI integrity (`sha512-<base64>`) of a file, as the npm registry publishes it.
 * @param {string} file
 * @returns {Promise<string>}
 */
export function integrityOf(file) {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash('sha512');
    createReadStream(file).on('error', reject).on('data', (chunk) => hash.update(chunk)).on('end', () => resolvePromise(`sha512-${hash.digest('base64')}`));
  });
}

/**
 * A hash of some files' names and contents (a missing file counts as empty), for "did the inputs
 * change". With `relativeTo`, names count relative to it, so two checkouts of the same files
 * (a CI clone beside a developer's tree) hash alike and share what was built from them.
 */
export async function hashFiles(/** @type {readonly string[]} */ files, /** @type {string} */ extra = '', /** @type {string | undefined} */ relativeTo = undefined) {
  const hash = createHash('sha256').update(extra);
  for (const file of files) {
    hash.update(`\0${relativeTo === undefined ? file : relative(relativeTo, file)}\0`);
    hash.update(await readFile(file).catch(() => ''));
  }
  return hash.digest('hex');
}

/** Whether a process with this pid exists (ours or another user's). */
export function isAlive(/** @type {number} */ pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return /** @type {NodeJS.ErrnoException} */ (err).code === 'EPERM';
  }
}

/**
 * Makes `dest` by filling a temporary sibling directory and renaming it into place, so `dest`
 * either does not exist or is complete: a run killed halfway leaves only a `<dest>.partial-<pid>-…`
 * directory, which the next run removes (once its pid is gone) and never mistakes for `dest`.
 * When another process finished `dest` first, its copy is kept; while another live process is
 * filling it, this waits for that one instead of filling a second copy.
 * @param {string} dest
 * @param {(dir: string) => Promise<void>} fill
 */
export async function installDirectory(dest, fill) {
  const parent = dirname(dest);
  await mkdir(parent, { recursive: true });
  const prefix = `${basename(dest)}.partial-`;
  const partialOwner = (/** @type {string} */ entry) => Number(entry.startsWith(prefix) ? entry.slice(prefix.length).split('-')[0] : NaN);
  for (const entry of readdirSync(parent)) {
    const pid = partialOwner(entry);
    if (Number.isInteger(pid) && !isAlive(pid)) await rm(join(parent, entry), { recursive: true, force: true });
  }
  // Another live process filling the same directory (a set-up in another checkout, a second CI
  // run) is waited for rather than repeated: a Kubernetes build takes minutes of every CPU.
  const fillingElsewhere = () => readdirSync(parent).some((entry) => {
    const pid = partialOwner(entry);
    return Number.isInteger(pid) && pid !== process.pid && isAlive(pid);
  });
  while (!existsSync(dest) && fillingElsewhere()) await new Promise((resolve) => setTimeout(resolve, 1000));
  if (existsSync(dest)) return;
  const partial = join(parent, `${prefix}${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(partial);
  try {
    await fill(partial);
    try {
      await rename(partial, dest);
    } catch (err) {
      const code = /** @type {NodeJS.ErrnoException} */ (err).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !existsSync(dest)) throw err;
    }
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
}

/**
 * Writes `file` through a temporary sibling and a rename: readers see the old or the new
 * content, never a part.
 * @param {string} file
 * @param {string} content
 * @param {{mode?: number}} [options]
 */
export async function writeFileAtomic(file, content, options = {}) {
  await mkdir(dirname(file), { recursive: true });
  const partial = `${file}.partial-${process.pid}`;
  await writeFile(partial, content, { mode: options.mode });
  await rename(partial, file);
}

/** npm's error codes for "the registry cannot be reached". */
export const NETWORK_ERRORS = /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|socket hang up)\b/;
/** …and for "reached, but its TLS certificate is not trusted" (a proxy that re-signs TLS, say). */
export const CERTIFICATE_ERRORS = /\b(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_HAS_EXPIRED|ERR_TLS_CERT_ALTNAME_INVALID)\b/;
/** The fix for CERTIFICATE_ERRORS. */
export const CERTIFICATE_FIX = 'make Node trust the certificate authority that signs the registry\'s certificate here: `export NODE_EXTRA_CA_CERTS=<its PEM file>` (or `npm config set cafile <file>`), then run again';

/**
 * Downloads `name@version` from the npm registry with npm (so the user's registry, proxy and
 * CA settings apply), checks it against the pinned integrity and unpacks it into `dir`.
 * @param {{name: string, version: string, integrity: string, dir: string, log: string, env?: NodeJS.ProcessEnv}} options
 */
export async function fetchPackage({ name, version, integrity, dir, log, env = process.env }) {
  const npm = which('npm', env.PATH);
  if (!npm) throw new SetupError(`npm is not on PATH (needed once, to fetch ${name} ${version})`, 'install npm (Debian: apt-get install npm), then run again');
  const download = join(dir, '.download');
  await mkdir(download, { recursive: true });
  let output;
  try {
    // --loglevel=error: npm's notices stay out of stdout, where the last line names the tarball.
    output = await exec(npm, ['pack', '--loglevel=error', '--pack-destination', download, `${name}@${version}`], { log, cwd: download, env });
  } catch (err) {
    const text = err instanceof CommandError ? err.output : '';
    if (CERTIFICATE_ERRORS.test(text)) throw new SetupError(`the npm registry's TLS certificate is not trusted here (fetching ${name} ${version})`, CERTIFICATE_FIX, { log });
    if (NETWORK_ERRORS.test(text)) {
      throw new SetupError(`cannot reach the npm registry to fetch ${name} ${version}`, 'check the network (or the proxy), and the registry npm uses: `npm config get registry`; then run again', { log });
    }
    throw new SetupError(`${/** @type {Error} */ (err).message}${text ? `:\n${tail(text)}` : ''}`, 'see the log; then run again', { log });
  }
  const tarball = join(download, output.trim().split('\n').pop() ?? '');
  const actual = await integrityOf(tarball).catch(() => 'none');
  if (actual !== integrity) {
    throw new SetupError(`${name} ${version} from the registry does not match its pinned integrity (got ${actual.slice(0, 30)}…)`, `check the registry (\`npm config get registry\`); the pin is in scripts/setup/`, { log });
  }
  await exec('tar', ['-xzf', tarball, '-C', dir, '--strip-components=1', '--no-same-owner'], { log });
  await rm(download, { recursive: true, force: true });
}
