/**
 * Test tools built from other languages' real implementations (h2spec, …) by the set-up
 * (`npm run setup`; scripts/setup/steps.mjs) into its tools directory outside the repository,
 * and linked per checkout at `.state/tools/<name>`. Tests that need one skip with this reason
 * when it is not built.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the checkout links its test tools: `<checkout>/.state/tools` (src/testing and dist/testing alike). */
export function testToolsDir(): string {
  return join(fileURLToPath(new URL('../../../../', import.meta.url)), '.state', 'tools');
}

/** The path of a built tool, or undefined when it is not built. */
export function testToolPath(name: string): string | undefined {
  const path = join(testToolsDir(), name);
  return existsSync(path) ? path : undefined;
}

export function missingToolReason(name: string): string {
  return `${name} is not built: run \`npm run setup\` (needs Go and the Go module proxy)`;
}
