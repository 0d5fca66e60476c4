import { defineConfig } from 'vitest/config';

// The server-backed layer: one real PostgreSQL and one real Temporal dev server for the whole run
// (test/support/global-setup.ts). The fast layer without servers is vitest.unit.config.ts.
export default defineConfig({
  test: {
    include: ['test/**/*.test.{ts,tsx}'],
    exclude: ['test/unit/**', 'test/canary/**', '**/node_modules/**'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The JSON report is what .ci/run counts for its closing `N passed, N failed` line.
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/integration.json' },
  },
});
