// How the dashboard writes the API's numbers: money is integer cents, shown with two decimals, thousands
// separated, and a real minus sign; the exact cents stay on the element as data-* for anyone who checks.

/** `-123456` → `−1,234.56`. Integer arithmetic only: no cents lost to floating point. */
export function formatCents(cents: number): string {
  const sign = cents < 0 ? '−' : '';
  const magnitude = Math.abs(cents);
  const whole = Math.floor(magnitude / 100)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}${whole}.${String(magnitude % 100).padStart(2, '0')}`;
}

/** An instant as the reader's UTC date and minute: `2026-11-30 21:40 UTC`. */
export const formatInstant = (instant: Date | string) => `${new Date(instant).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
