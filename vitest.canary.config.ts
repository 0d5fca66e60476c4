import { defineConfig } from 'vitest/config';

// A suite that must fail, run through the same global set-up as the server-backed tests: if this run
// exits 0, the test process's exit code is not ours and no green run can be trusted (.ci/run checks it).
export default defineConfig({
  test: {
    include: ['test/canary/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    hookTimeout: 120_000,
  },
});
