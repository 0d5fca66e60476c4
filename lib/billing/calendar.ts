// Billing days are local dates in BILLING_TIMEZONE. Pure functions over Intl's time-zone data, so the
// billing-day workflow can call them (the same Node binary always answers the same).

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The local date (YYYY-MM-DD) of an instant in a time zone. */
export function localDate(instant: number, timeZone: string): string {
  let format = formatters.get(timeZone);
  if (!format) {
    // en-CA formats dates as YYYY-MM-DD.
    format = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(timeZone, format);
  }
  return format.format(instant);
}

export const nextDate = (date: string): string => new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);

/**
 * The first instant of the local day after `date`: the day's cut-off. Searched for rather than computed
 * from an offset, so a DST change (a 23- or 25-hour day) or a zone that skips midnight itself is exact.
 */
export function endOfLocalDay(date: string, timeZone: string): number {
  const next = nextDate(date);
  // Every zone's offset is within ±15 h of UTC: the boundary lies in this window.
  let low = Date.parse(`${next}T00:00:00Z`) - 15 * 3_600_000; // still `date` or earlier
  let high = low + 30 * 3_600_000; // already `next` or later
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (localDate(middle, timeZone) >= next) high = middle;
    else low = middle;
  }
  return high;
}
