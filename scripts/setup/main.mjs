// The set-up: `node scripts/setup/main.mjs [dev|test]` runs the steps of steps.mjs ('dev': what
// every command needs; 'test', the default: also the test tools). scripts/run.sh calls it before
// each command (`npm run dev`, `npm test`, …). Exit status 1 with a message naming the missing
// piece and the fix when it cannot proceed.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toolsDir } from './lib.mjs';
import { describeFailure, runSteps } from './runner.mjs';
import { STEPS } from './steps.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const profile = process.argv[2] ?? 'test';
const say = (/** @type {string} */ text) => void process.stdout.write(text);

if (profile !== 'dev' && profile !== 'test') {
  process.stderr.write(`usage: node scripts/setup/main.mjs [dev|test] (not ${profile})\n`);
  process.exit(2);
}
if (process.platform !== 'linux') {
  process.stderr.write(`setup: unsupported OS: ${process.platform}\n  fix: the mesh needs Linux (network namespaces, iptables); use a Debian machine or VM\n`);
  process.exit(1);
}

try {
  await runSteps({
    steps: STEPS,
    profile,
    say,
    ctx: { root, tools: toolsDir(), isRoot: process.getuid?.() === 0, env: process.env, stateDir: join(root, '.state', 'setup') },
  });
} catch (err) {
  process.stderr.write(describeFailure(err, root));
  process.exitCode = 1;
}
