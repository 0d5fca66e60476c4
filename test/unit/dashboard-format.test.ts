// How the dashboard writes money: exact cents, two decimals, thousands separated, a real minus sign.
import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { formatCents } from '../../api/dashboard/format.js';

const cases: [number, string][] = [
  [0, '0.00'],
  [5, '0.05'],
  [-5, '−0.05'],
  [100, '1.00'],
  [123_456, '1,234.56'],
  [-123_456, '−1,234.56'],
  [100_000_000_07, '100,000,000.07'],
  [Number.MAX_SAFE_INTEGER, '90,071,992,547,409.91'],
];

describe('money on the dashboard', () => {
  it.each(cases)('%i cents is %s', (cents, shown) => {
    expect(formatCents(cents)).toBe(shown);
  });

  it('the page script writes it the same way when it updates a figure', async () => {
    // The script as the browser runs it, on a day page whose one figure the day's poll updates.
    const script = readFileSync(new URL('../../api/dashboard/assets/dashboard.js', import.meta.url), 'utf8');
    for (const [cents, shown] of cases) {
      const figure = { dataset: { figure: 'payoutsCents', cents: '0' } as Record<string, string>, textContent: '' };
      const day = { dataset: { progressUrl: '/progress' }, querySelector: () => ({ dataset: {}, textContent: '' }), querySelectorAll: () => [figure] };
      runInNewContext(script, {
        document: { querySelectorAll: (selector: string) => (selector === '[data-progress-url]' ? [day] : []) },
        setTimeout: () => {},
        fetch: async () => ({ ok: true, json: async () => ({ status: 'closing', progress: null, payoutsCents: cents }) }),
      });
      await new Promise((resolve) => setTimeout(resolve, 0));
      expect([cents, figure.dataset.cents, figure.textContent]).toEqual([cents, String(cents), shown]);
    }
  });
});
