// A billing day's workflow waits on a durable timer for the local midnight that ends its day, then closes
// it. On the time-skipping test server: a day east of UTC, and both DST changes of Europe/Berlin (a 23-hour
// and a 25-hour day). The Schedule itself (which the test server lacks) is tested in billing-day.test.ts; the
// calendar's arithmetic (endOfLocalDay, localDate) without servers in test/unit/billing-calendar.test.ts.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { billingDays } from '../db/schema/billing.js';
import { localDate } from '../lib/billing/calendar.js';
import type { billingDayWorkflow } from '../workflows/billing-day.js';
import { billingDayProgressQuery, billingDayWorkflowId } from '../workflows/messages.js';
import { taskQueues } from '../workflows/task-queues.js';
import { startHarness, type Harness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ timeSkipping: true });
}, 120_000);
afterAll(() => h?.stop());

const minute = 60_000;

/** Moves the test server's clock to `instant` (never backwards). */
async function skipTo(instant: number) {
  const now = await h.time!.now();
  if (instant > now) await h.time!.skip(instant - now);
}

/** Starts the day's workflow, then checks it is still open a minute before its local midnight and closed a minute after. */
async function closesAtMidnight(date: string, timeZone: string, expectedEnd: string) {
  const handle = await h.services.deps.temporal.workflow.start<typeof billingDayWorkflow>('billingDayWorkflow', {
    workflowId: billingDayWorkflowId(date),
    taskQueue: taskQueues.billing,
    args: [{ date, timeZone }],
  });
  await skipTo(Date.parse(expectedEnd) - minute);
  expect(await handle.query(billingDayProgressQuery)).toMatchObject({ date, status: 'open' });
  const [before] = await h.database.db.select().from(billingDays).where(eq(billingDays.date, date));
  expect(before?.status ?? 'open').toBe('open');

  await skipTo(Date.parse(expectedEnd) + minute);
  expect(await handle.result()).toMatchObject({ date, status: 'closed' });
  const [after] = await h.database.db.select().from(billingDays).where(eq(billingDays.date, date));
  expect(after).toMatchObject({ status: 'closed' });
}

describe('a billing day closes at the local midnight that ends it', () => {
  it('east of UTC: Asia/Novosibirsk (UTC+7) closes at 17:00 UTC', async () => {
    const now = await h.time!.now();
    const date = localDate(now + 2 * 86_400_000, 'Asia/Novosibirsk');
    await closesAtMidnight(date, 'Asia/Novosibirsk', `${date}T17:00:00.000Z`);
  });

  it('Europe/Berlin, spring forward: the 23-hour day of 2027-03-28 closes at 22:00 UTC, not 23:00', async () => {
    await closesAtMidnight('2027-03-28', 'Europe/Berlin', '2027-03-28T22:00:00.000Z');
  });

  it('Europe/Berlin, fall back: the 25-hour day of 2027-10-31 closes at 23:00 UTC, not 22:00', async () => {
    await closesAtMidnight('2027-10-31', 'Europe/Berlin', '2027-10-31T23:00:00.000Z');
  });
});
