import { defineConfig } from 'vitest/config';

// Tests run against TypeScript sources: workspace packages export a `@mesh/source` condition
// that points at src/, so no build is needed between an edit and a test run.
export default defineConfig({
  resolve: { conditions: ['@mesh/source', 'import', 'node', 'default'] },
  ssr: { resolve: { conditions: ['@mesh/source', 'import', 'node', 'default'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'apps/*/src/**/*.test.{ts,tsx}', 'apps/*/test/**/*.test.{ts,tsx}', 'e2e/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
