// Run on purpose by `npm run test:canary` (never by `npm test`): this test fails, so the run must exit non-zero.
import { expect, it } from 'vitest';

it('fails, so that a run which still exits 0 shows the exit code is not ours', () => {
  expect(1 + 1).toBe(3);
});
