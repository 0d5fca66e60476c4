// The billing calendar (lib/billing/calendar.ts): local dates and the instant each billing day ends, in any
// time zone, across DST changes. The workflow that waits for that instant is tested in test/billing-calendar.test.ts.
import { describe, expect, it } from 'vitest';
import { endOfLocalDay, localDate, nextDate } from '../../lib/billing/calendar.js';

const at = (iso: string) => Date.parse(iso);
const endIso = (date: string, timeZone: string) => new Date(endOfLocalDay(date, timeZone)).toISOString();
const hours = (ms: number) => ms / 3_600_000;
/** How long a local day lasts: from the end of the day before to its own end. */
const dayLength = (before: string, date: string, timeZone: string) => hours(endOfLocalDay(date, timeZone) - endOfLocalDay(before, timeZone));

describe('localDate', () => {
  it.each([
    ['2027-01-01T00:00:00.000Z', 'UTC', '2027-01-01'],
    ['2027-01-01T23:59:59.999Z', 'UTC', '2027-01-01'],
    ['2027-01-01T16:59:59.999Z', 'Asia/Novosibirsk', '2027-01-01'],
    ['2027-01-01T17:00:00.000Z', 'Asia/Novosibirsk', '2027-01-02'],
    ['2027-01-01T03:00:00.000Z', 'America/New_York', '2026-12-31'],
    ['2027-01-01T10:00:00.000Z', 'Pacific/Kiritimati', '2027-01-02'],
    ['2027-01-01T10:59:59.999Z', 'Pacific/Pago_Pago', '2026-12-31'],
  ])('%s in %s is %s', (instant, timeZone, date) => {
    expect(localDate(at(instant), timeZone)).toBe(date);
  });

  it('gives the same answer for the same zone twice (the formatter is cached per zone)', () => {
    const instant = at('2027-06-30T22:30:00Z');
    expect(localDate(instant, 'Europe/Berlin')).toBe('2027-07-01');
    expect(localDate(instant, 'UTC')).toBe('2027-06-30');
    expect(localDate(instant, 'Europe/Berlin')).toBe('2027-07-01');
  });

  it('refuses an unknown time zone', () => {
    expect(() => localDate(0, 'Mars/Base')).toThrow(RangeError);
  });
});

describe('nextDate', () => {
  it.each([
    ['2027-01-15', '2027-01-16'],
    ['2027-01-31', '2027-02-01'],
    ['2027-02-28', '2027-03-01'],
    ['2028-02-28', '2028-02-29'],
    ['2028-02-29', '2028-03-01'],
    ['2027-12-31', '2028-01-01'],
    ['2027-03-28', '2027-03-29'],
  ])('%s -> %s', (date, next) => {
    expect(nextDate(date)).toBe(next);
  });
});

describe('endOfLocalDay', () => {
  it.each([
    ['2027-01-15', 'UTC', '2027-01-16T00:00:00.000Z'],
    ['2028-02-28', 'UTC', '2028-02-29T00:00:00.000Z'],
    ['2027-12-31', 'Asia/Tokyo', '2027-12-31T15:00:00.000Z'],
    ['2027-01-15', 'Asia/Kolkata', '2027-01-15T18:30:00.000Z'],
    ['2027-01-15', 'Asia/Kathmandu', '2027-01-15T18:15:00.000Z'],
    ['2027-01-15', 'Pacific/Kiritimati', '2027-01-15T10:00:00.000Z'],
    ['2027-01-15', 'Pacific/Pago_Pago', '2027-01-16T11:00:00.000Z'],
    ['2027-01-15', 'Europe/Berlin', '2027-01-15T23:00:00.000Z'],
    ['2027-07-15', 'Europe/Berlin', '2027-07-15T22:00:00.000Z'],
    ['2027-03-14', 'America/New_York', '2027-03-15T04:00:00.000Z'],
    ['2027-11-07', 'America/New_York', '2027-11-08T05:00:00.000Z'],
  ])('%s in %s ends at %s', (date, timeZone, end) => {
    expect(endIso(date, timeZone)).toBe(end);
  });

  // The cases test/billing-calendar.test.ts runs the billing-day workflow for on the time-skipping server.
  it.each([['2027-01-15'], ['2027-06-30'], ['2027-12-31']])('east of UTC: Asia/Novosibirsk (UTC+7) closes %s at 17:00 UTC', (date) => {
    expect(endIso(date, 'Asia/Novosibirsk')).toBe(`${date}T17:00:00.000Z`);
  });

  it('Europe/Berlin, spring forward: the 23-hour day of 2027-03-28 closes at 22:00 UTC, not 23:00', () => {
    expect(endIso('2027-03-28', 'Europe/Berlin')).toBe('2027-03-28T22:00:00.000Z');
    expect(dayLength('2027-03-27', '2027-03-28', 'Europe/Berlin')).toBe(23);
  });

  it('Europe/Berlin, fall back: the 25-hour day of 2027-10-31 closes at 23:00 UTC, not 22:00', () => {
    expect(endIso('2027-10-31', 'Europe/Berlin')).toBe('2027-10-31T23:00:00.000Z');
    expect(dayLength('2027-10-30', '2027-10-31', 'Europe/Berlin')).toBe(25);
  });

  it('half-hour DST (Australia/Lord_Howe): a 23.5-hour and a 24.5-hour day', () => {
    expect(dayLength('2027-10-02', '2027-10-03', 'Australia/Lord_Howe')).toBe(23.5);
    expect(dayLength('2027-04-03', '2027-04-04', 'Australia/Lord_Howe')).toBe(24.5);
  });

  it('a zone whose clocks skip midnight itself (America/Santiago): the day ends at the first instant of the next one', () => {
    // 2027-09-05 00:00 does not exist in Santiago: clocks go from 23:59:59 (UTC-4) to 01:00 (UTC-3).
    expect(endIso('2027-09-04', 'America/Santiago')).toBe('2027-09-05T04:00:00.000Z');
    expect(localDate(at('2027-09-05T04:00:00Z'), 'America/Santiago')).toBe('2027-09-05');
    expect(dayLength('2027-09-04', '2027-09-05', 'America/Santiago')).toBe(23);
  });

  it('a day a zone skipped entirely (Pacific/Apia, 2011-12-30) ends where it begins', () => {
    expect(endIso('2011-12-29', 'Pacific/Apia')).toBe('2011-12-30T10:00:00.000Z');
    expect(endOfLocalDay('2011-12-30', 'Pacific/Apia')).toBe(endOfLocalDay('2011-12-29', 'Pacific/Apia'));
    expect(localDate(at('2011-12-30T10:00:00Z'), 'Pacific/Apia')).toBe('2011-12-31');
  });

  it.each([['UTC'], ['Europe/Berlin'], ['America/New_York'], ['Australia/Lord_Howe'], ['Asia/Kathmandu'], ['America/Santiago']])(
    'in %s, every day of 2027 ends exactly at the millisecond its next day begins',
    (timeZone) => {
      for (let date = '2027-01-01'; date < '2028-01-01'; date = nextDate(date)) {
        const end = endOfLocalDay(date, timeZone);
        expect(localDate(end - 1, timeZone), `${date} ${timeZone}`).toBe(date);
        expect(localDate(end, timeZone), `${date} ${timeZone}`).toBe(nextDate(date));
      }
    },
  );
});
