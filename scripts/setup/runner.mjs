// Runs the set-up's steps (steps.mjs): checks each, and acts only where a check says so, one
// line per step that acted. With everything in place it prints nothing.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { isAlive, SetupError } from './lib.mjs';

/**
 * @typedef {object} Context
 * @property {string} root          the checkout
 * @property {string} tools         where installed tools live (lib.mjs toolsDir)
 * @property {boolean} isRoot
 * @property {NodeJS.ProcessEnv} env the environment the set-up runs commands with
 * @property {string} stateDir      the checkout's .state/setup (logs, the lock)
 * @property {{bin: string, dir: string, version: string} | undefined} [node]  the Node commands run on (node step)
 * @property {{dir: string, version: string, cjs: string} | undefined} [pnpm]   the pinned pnpm (pnpm step)
 *
 * @typedef {object} Step
 * @property {string} name
 * @property {'dev' | 'test'} profile
 * @property {(ctx: Context) => Promise<string | undefined> | string | undefined} check
 * @property {(ctx: Context, reason: string) => Promise<string>} run
 * @property {boolean} [optional]  when run() throws a SetupError, say so in the step's line and go on (test tools whose tests skip without them)
 */

const LOCK_WAIT_MS = 15 * 60_000;
const LOCK_POLL_MS = 200;

/** The log a step's commands write to. */
export function logOf(/** @type {Context} */ ctx, /** @type {string} */ stepName) {
  return join(ctx.stateDir, `${stepName.replace(/[^a-z0-9]+/gi, '-')}.log`);
}

/**
 * One set-up at a time per checkout (two `pnpm install`s in one node_modules would tangle):
 * a lock directory holding the owner's pid; a dead owner's lock is taken over.
 * @returns {Promise<() => Promise<void>>} release
 */
async function lockCheckout(/** @type {Context} */ ctx, /** @type {(text: string) => void} */ say) {
  const lock = join(ctx.stateDir, 'lock');
  await mkdir(ctx.stateDir, { recursive: true });
  const deadline = Date.now() + LOCK_WAIT_MS;
  let announced = false;
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(join(lock, 'pid'), String(process.pid));
      return () => rm(lock, { recursive: true, force: true });
    } catch (err) {
      if (/** @type {NodeJS.ErrnoException} */ (err).code !== 'EEXIST') throw err;
    }
    const owner = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => ''));
    if (!owner || !isAlive(owner)) {
      // Written between mkdir and the pid file, or left by a killed run: look again once, then take it.
      await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
      const again = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => ''));
      if (again === owner && (!again || !isAlive(again))) await rm(lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new SetupError(`another set-up (pid ${owner}) has held ${relative(ctx.root, lock)} for ${LOCK_WAIT_MS / 60_000} minutes`, `wait for it or stop it; if pid ${owner} is not a set-up, remove ${lock}`);
    }
    if (!announced) say(`setup: waiting for the set-up running in pid ${owner}…\n`);
    announced = true;
    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
  }
}

function seconds(/** @type {number} */ ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Runs the steps of `profile` ('dev': those every command needs; 'test': all). Checks are
 * made without the lock (the common case acts on nothing); the first step that must act takes
 * the checkout's lock and checks again, since another set-up may just have done it.
 * @param {{steps: readonly Step[], profile: 'dev' | 'test', ctx: Context, say: (text: string) => void}} options
 * @returns {Promise<string[]>} the names of the steps that acted
 */
export async function runSteps({ steps, profile, ctx, say }) {
  /** @type {string[]} */
  const acted = [];
  /** @type {(() => Promise<void>) | undefined} */
  let release;
  try {
    for (const step of steps) {
      if (profile === 'dev' && step.profile !== 'dev') continue;
      let reason = await step.check(ctx);
      if (reason !== undefined && !release) {
        release = await lockCheckout(ctx, say);
        reason = await step.check(ctx);
      }
      if (reason === undefined) continue;
      say(`setup: ${step.name}: ${reason}… `);
      const started = performance.now();
      let did;
      try {
        did = await step.run(ctx, reason);
      } catch (err) {
        if (step.optional && err instanceof SetupError) {
          say(`skipped: ${err.message}\n  fix: ${err.fix}${err.log ? `\n  log: ${relative(ctx.root, err.log)}` : ''}\n`);
          continue;
        }
        say('failed\n');
        throw err;
      }
      say(`${did} (${seconds(performance.now() - started)})\n`);
      acted.push(step.name);
    }
  } finally {
    await release?.();
  }
  return acted;
}

/** What the user reads when a step fails: the problem, the fix, the log. */
export function describeFailure(/** @type {unknown} */ err, /** @type {string} */ root) {
  if (err instanceof SetupError) {
    const lines = [`setup: ${err.message}`, `  fix: ${err.fix}`];
    if (err.log) lines.push(`  log: ${relative(root, err.log)}`);
    return `${lines.join('\n')}\n`;
  }
  return `setup: unexpected failure (a bug in scripts/setup):\n${err instanceof Error ? err.stack : String(err)}\n`;
}
