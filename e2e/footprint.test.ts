/**
 * What the built ztunnel loads at start (docs/performance.md, "ztunnel idle memory"): nothing in
 * its import graph may pull in Node's bundled undici (an ES `import … from 'node:http'` does, for
 * ≈ 13 MiB of RSS in every process). Needs `pnpm build`; skipped without it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ZTUNNEL_MAIN } from './helpers/process.js';

/** Prints, as the process exits, which of Node's internal modules it loaded that match /undici/. */
const REPORT_UNDICI = `data:text/javascript,process.on('exit', () => process.stderr.write('loaded: ' + JSON.stringify(process.moduleLoadList.filter((m) => /undici/.test(m))) + '\\n'))`;

describe.skipIf(!existsSync(ZTUNNEL_MAIN))('ztunnel start-up footprint', () => {
  it("loads every module of ztunnel and none of Node's bundled undici", () => {
    // --help returns after every static import of the entry point has been evaluated.
    const run = spawnSync(process.execPath, ['--import', REPORT_UNDICI, ZTUNNEL_MAIN, '--help'], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('--capture-mode');
    expect(run.stderr).toContain('loaded: []');
  });
});
