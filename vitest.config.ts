import { configDefaults, defineConfig } from 'vitest/config';

const TESTS = ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'apps/*/src/**/*.test.{ts,tsx}', 'apps/*/test/**/*.test.{ts,tsx}', 'e2e/**/*.test.ts', 'scripts/**/*.test.ts'];
/**
 * The files that start a `meshctl dev` mesh. Its names (mdev-*) and its owner are machine-wide,
 * so these run one file at a time, and after the rest (sequence.groupOrder): one's
 * crash-recovery test must not meet another's mesh halfway, and the fresh clone's install and
 * build must not add to the load under the other suites' timed transfers.
 */
const DEV_MESH_TESTS = ['apps/istioctl-ts/src/dev/dev-mesh.test.ts', 'e2e/fresh-clone.test.ts'];

// Tests run against TypeScript sources: workspace packages export a `@mesh/source` condition
// that points at src/, so no build is needed between an edit and a test run.
export default defineConfig({
  resolve: { conditions: ['@mesh/source', 'import', 'node', 'default'] },
  ssr: { resolve: { conditions: ['@mesh/source', 'import', 'node', 'default'] } },
  test: {
    // Waits inside tests have their own deadlines (@mesh/testing) and fail saying what they saw;
    // these only catch what has none, generously, for a machine busy with other work.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'tests', include: TESTS, exclude: [...configDefaults.exclude, ...DEV_MESH_TESTS], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'dev mesh', include: DEV_MESH_TESTS, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
