import { defineConfig } from 'vitest/config';

// The fast layer: pure code (statecharts, the billing calendar, problem mapping, config), no servers.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.{ts,tsx}'],
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/unit.json' },
  },
});
