/**
 * The README's quick start on a fresh clone (root): the repository cloned into a scratch folder,
 * an empty HOME, a PATH with the machine's system programs and its own (older) Node and npm but
 * no pnpm, and a tools directory of its own — then
 *   1. `npm run setup` (the set-up `npm test` runs first) installs Node 24, pnpm, the
 *      dependencies and the native addon, one line per step;
 *   2. run again, it changes nothing, prints nothing, and takes under two seconds;
 *   3. `npm run dev -- --check` builds, starts the sample mesh, calls productpage from the sleep
 *      pod through it, and stops, exiting 0 (and Turborepo's first-run notice stays away);
 *   4. `pnpm dev` and a Ctrl-C (SIGINT to its process group): pnpm exits 0, no ELIFECYCLE.
 *
 * What it does not cover, to keep its CI cost small: downloads (npm's cache, pnpm's store and
 * Go's module and build caches are this machine's, so what was already fetched or compiled comes
 * from them — integrity and go.sum are still checked), compiling the TypeScript (the build restores turbo's cache of the checkout under
 * test; the outer `pnpm test` builds it for real), installing Debian packages (present here),
 * and a non-root user. It clones the committed HEAD, not uncommitted edits. A truly fresh Debian
 * (debootstrap) was checked by hand: docs/operations.md, "Setting up".
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { machineLock } from '@mesh/testing';
import { toolsDir, which } from '../scripts/setup/lib.mjs';
import { REPO_ROOT } from './helpers/process.js';

const execFileAsync = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const NODE_PIN = '24.22.3';
/** The set-up's budget when everything is there. */
const NOTHING_TO_DO_MS = 2_000;
/** The set-up from nothing: Node and pnpm unpacked, `pnpm install` linking from the store. */
const SETUP_TIMEOUT_MS = 5 * 60_000;
/** `dev --check` queues behind another dev mesh on this machine for up to 120 s, then ~15 s. */
const DEV_CHECK_TIMEOUT_MS = 4 * 60_000;
/** How long this file waits for another run of the dev mesh tests (another worktree's) to finish. */
const OTHER_RUN_WAIT_MS = 10 * 60_000;
/** Programs kept off the scratch PATH: the machine's pnpm, and corepack, which could provide one. */
const HIDDEN = new Set(['pnpm', 'pnpx', 'corepack']);

let scratch: string;
let clone: string;
let env: NodeJS.ProcessEnv;
let oldNode: string;
const children = new Set<ChildProcess>();

/** Runs a command in the clone with the scratch environment; resolves with its status and output. */
function runInClone(command: string, args: readonly string[], timeoutMs: number): Promise<{ code: number | null; output: string; ms: number }> {
  return new Promise((resolvePromise) => {
    const started = performance.now();
    const child = spawn(command, [...args], { cwd: clone, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // SIGTERM: `meshctl dev up` stops the mesh on it.
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGTERM'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolvePromise({ code, output, ms: performance.now() - started });
    });
  });
}

/** A directory of links to every program in the system directories except HIDDEN. */
async function pathWithoutPnpm(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const system of ['/usr/local/sbin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (!existsSync(system)) continue;
    for (const name of readdirSync(system)) {
      if (HIDDEN.has(name) || existsSync(join(dir, name))) continue;
      await symlink(join(system, name), join(dir, name));
    }
  }
  return dir;
}

/** What the set-up made, with modification times: a run that changes nothing leaves it equal. */
function inventory(): Record<string, number> {
  const paths = [
    join(env.MESH_TOOLS_DIR!, `node-v${NODE_PIN}-linux-${process.arch}`),
    ...readdirSync(env.MESH_TOOLS_DIR!).map((name) => join(env.MESH_TOOLS_DIR!, name)),
    join(clone, 'bin', 'node'),
    join(clone, 'bin', 'pnpm'),
    join(clone, 'node_modules'),
    join(clone, 'node_modules', '.mesh-setup-stamp'),
    join(clone, 'packages', 'netfilter', 'build', 'sockopt.node'),
  ];
  return Object.fromEntries(paths.filter((p) => existsSync(p)).map((p) => [p, lstatSync(p).mtimeMs]));
}

// One newcomer's session, step by step: each test starts from where the one before left the clone
// (set-up, then set-up again, then the mesh), so the steps keep their order even in a shuffled run
// (`npm run test:stress`'s second pass).
describe.skipIf(!isRoot)('the quick start on a fresh clone: `npm run setup`, then `npm run dev -- --check` (root)', { shuffle: false }, () => {
  // The dev mesh is one per machine: queue behind another run of the dev mesh tests (any worktree).
  let releaseMachine: (() => void) | undefined;
  beforeAll(async () => {
    releaseMachine = await machineLock('meshctl-dev-tests', OTHER_RUN_WAIT_MS);
  }, OTHER_RUN_WAIT_MS + 10_000);
  afterAll(() => releaseMachine?.());

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'mesh-fresh-clone-'));
    clone = join(scratch, 'repo');
    await execFileAsync('git', ['clone', '--quiet', REPO_ROOT, clone]);
    const path = await pathWithoutPnpm(join(scratch, 'path'));
    // Go for the test tools, where this machine has it outside the system directories.
    const go = which('go', process.env.PATH);
    if (go && !existsSync(join(path, 'go'))) await symlink(go, join(path, 'go'));
    oldNode = (await execFileAsync(join(path, 'node'), ['--version'], { encoding: 'utf8' })).stdout.trim();
    await mkdir(join(scratch, 'home'));
    const gitCommonDir = resolve(REPO_ROOT, (await execFileAsync('git', ['-C', REPO_ROOT, 'rev-parse', '--git-common-dir'], { encoding: 'utf8' })).stdout.trim());
    const turboCache = join(dirname(gitCommonDir), '.turbo', 'cache');
    const machineTools = toolsDir();
    const pnpmStore = (await execFileAsync(join(REPO_ROOT, 'bin', 'pnpm'), ['store', 'path'], { cwd: REPO_ROOT, encoding: 'utf8' })).stdout.trim();
    env = {
      PATH: path,
      HOME: join(scratch, 'home'),
      LANG: 'C.UTF-8',
      MESH_TOOLS_DIR: join(scratch, 'tools'),
      // Caches of what this machine already downloaded (see the header).
      npm_config_cache: join(homedir(), '.npm'),
      npm_config_store_dir: dirname(pnpmStore),
      // …and Go's module and build caches of the machine's tools directory (the test tools).
      GOMODCACHE: join(machineTools, 'go', 'mod'),
      GOCACHE: join(machineTools, 'go', 'cache'),
      ...(existsSync(turboCache) ? { TURBO_CACHE_DIR: turboCache } : {}),
    };
  }, 60_000);

  afterAll(async () => {
    for (const child of children) process.kill(-child.pid!, 'SIGTERM');
    for (const child of children) await new Promise((r) => child.once('close', r));
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }, 60_000);

  it('`npm run setup` installs Node 24, pnpm, the dependencies and the native addon, one line per step', async () => {
    const { code, output } = await runInClone('npm', ['run', '--silent', 'setup'], SETUP_TIMEOUT_MS);
    expect(code, output).toBe(0);
    const lines = output.trimEnd().split('\n');
    expect(lines.every((line) => /^(setup: |  )/.test(line)), output).toBe(true);
    if (!oldNode.startsWith('v24.')) expect(output).toMatch(new RegExp(`^setup: node: Node ${oldNode.slice(1)} is not Node 24 LTS… installed Node ${NODE_PIN} in ${env.MESH_TOOLS_DIR}/node-v${NODE_PIN}-linux-${process.arch} \\(`, 'm'));
    expect(output).toMatch(/^setup: pnpm: .*… installed pnpm 10\.\d+\.\d+ in /m);
    expect(output).toMatch(/^setup: dependencies: no node_modules… pnpm install --frozen-lockfile done/m);
    // The test tools: built (or, without Go, skipped with the reason); linked in the clone either way when built.
    expect(output).toMatch(/^setup: h2spec: .*… (built h2spec in .*, linked \.state\/tools\/h2spec|linked \.state\/tools\/h2spec|skipped: )/m);
    const node = (await execFileAsync(join(clone, 'bin', 'node'), ['--version'], { encoding: 'utf8' })).stdout.trim();
    expect(node.startsWith('v24.')).toBe(true);
    const addon = JSON.parse(readFileSync(join(clone, 'packages/netfilter/build/sockopt.json'), 'utf8')) as { node: string; headers: string };
    expect(addon.node).toBe(node.slice(1));
    expect(statSync(join(clone, 'packages/netfilter/build/sockopt.node')).size).toBeGreaterThan(0);
  }, SETUP_TIMEOUT_MS + 10_000);

  it('run again, the set-up changes nothing, prints nothing and takes under two seconds', async () => {
    const before = inventory();
    const { code, output, ms } = await runInClone('sh', ['scripts/run.sh', 'setup'], 60_000);
    expect(code, output).toBe(0);
    expect(output).toBe('');
    expect(inventory()).toEqual(before);
    expect(ms).toBeLessThan(NOTHING_TO_DO_MS);
  }, 70_000);

  it('`npm run dev -- --check` builds, starts the mesh, calls productpage from sleep through it and stops', async () => {
    const { code, output } = await runInClone('npm', ['run', '--silent', 'dev', '--', '--check'], DEV_CHECK_TIMEOUT_MS);
    expect(code, output).toBe(0);
    expect(output).toMatch(/^mode: transparent/m);
    expect(output).toMatch(/^check: sleep → http:\/\/productpage:9080\/ through the mesh: productpage-v1\.default on node-a answered GET \/$/m);
    expect(output).toMatch(/^stopped in .*: processes, namespaces, capture rules, resolv.conf files and the host link removed$/m);
    // Turborepo's first-run telemetry notice (HOME is empty): opted out in package.json.
    expect(output).not.toMatch(/ELIFECYCLE|Attention:|telemetry/);
  }, DEV_CHECK_TIMEOUT_MS + 10_000);

  it('`pnpm dev`, then Ctrl-C: the mesh stops and pnpm exits 0 without ELIFECYCLE', async () => {
    // A terminal's Ctrl-C: SIGINT to the whole foreground process group (pnpm, its shell, meshctl).
    // Another dev mesh on this machine makes `dev up` refuse at once: start again until it is gone.
    for (const until = Date.now() + DEV_CHECK_TIMEOUT_MS; ; ) {
      const child = spawn(join(clone, 'bin', 'pnpm'), ['dev'], { cwd: clone, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolvePromise) => child.once('close', (code, signal) => resolvePromise({ code, signal })));
      while (!output.includes('stop: Ctrl-C') && child.exitCode === null && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
      if (!output.includes('stop: Ctrl-C') && output.includes('already running') && Date.now() < until) {
        await exited;
        children.delete(child);
        await new Promise((r) => setTimeout(r, 1_000));
        continue;
      }
      expect(output).toContain('stop: Ctrl-C');
      process.kill(-child.pid!, 'SIGINT');
      const { code, signal } = await exited;
      children.delete(child);
      expect({ code, signal }, output).toEqual({ code: 0, signal: null });
      expect(output).toMatch(/^stopped in .*: processes, namespaces, capture rules, resolv.conf files and the host link removed$/m);
      expect(output).not.toMatch(/ELIFECYCLE/);
      return;
    }
  }, DEV_CHECK_TIMEOUT_MS + 30_000);
});
