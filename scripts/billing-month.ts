// A believable month of billing, written the way the product writes it: each of 30 billing days gets tasks assigned
// (a fee each) and most of them completed (a reward), then every day but today is closed as the close does it:
// payouts of the positive balances, and the day's totals and workers in the negative stored on the day.
// Used by test/dashboard.test.ts and scripts/dashboard-screenshots.ts.
import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { dayTotals, workersInNegative } from '../db/billing-stats.js';
import { transaction, type Db } from '../db/client.js';
import { appendLedgerEntry } from '../lib/billing/ledger.js';
import { accounts, billingDays, ledgerEntries } from '../db/schema/billing.js';
import { issues } from '../db/schema/issues.js';
import { prng } from '../lib/prng.js';

const dayMs = 86_400_000;
const addDays = (date: string, n: number) => new Date(Date.parse(`${date}T00:00:00Z`) + n * dayMs).toISOString().slice(0, 10);


const chores = [
  'Feed the parrots',
  'Count the seeds',
  'Polish the perches',
  'Sort the feathers',
  'Refill the water bowls',
  'Fix the cage door',
  'Sweep the aviary',
  'Mend the nest boxes',
  'Check the millet stock',
  'Tune the bird bath heater',
];

export interface BillingMonth {
  /** The first and the last (today, left open) of the 30 days. */
  from: string;
  today: string;
}

/** Writes 30 days ending `today` for the workers; `creatorId` creates the tasks. Every day but today is closed. */
export async function seedBillingMonth(
  db: Db,
  { today, workerIds, creatorId, seed = 1 }: { today: string; workerIds: string[]; creatorId: string; seed?: number },
): Promise<BillingMonth> {
  const r = prng(seed);
  const from = addDays(today, -29);
  let taskNo = 0;
  const write = (userId: string, kind: 'assign_fee' | 'reward' | 'payout' | 'adjustment', amountCents: number, date: string, description: string, issueId?: string) =>
    transaction(db, 'billing.sample-month.entry', (tx) => appendLedgerEntry(tx, { key: `month:${randomUUID()}`, userId, kind, amountCents, issueId, description }, date));

  for (let day = 0; day < 30; day++) {
    const date = addDays(from, day);
    await db.insert(billingDays).values({ date }).onConflictDoNothing();
    for (let n = r.int(3, 8); n > 0; n--) {
      const title = `${r.pick(chores)} #${++taskNo}`;
      const id = randomUUID();
      const assignee = r.pick(workerIds);
      // Some workers finish more of what they are given than others: the last ones end up owing the platform.
      const assignFeeCents = r.int(10, 20) * 100;
      const rewardCents = r.int(20, 40) * 100;
      const done = r.chance(0.85 - (0.5 * workerIds.indexOf(assignee)) / Math.max(1, workerIds.length - 1));
      await db.insert(issues).values({
        id,
        typeKey: 'task',
        typeVersion: 1,
        title,
        state: done ? 'done' : 'open',
        status: done ? 'done' : 'active',
        context: { title, assignFeeCents, rewardCents, assigneeId: assignee },
        assigneeId: assignee,
        creatorId,
        step: 1,
      });
      await write(assignee, 'assign_fee', -assignFeeCents, date, `Assignment fee: ${title}`, id);
      if (done) await write(assignee, 'reward', rewardCents, date, `Reward: ${title}`, id);
    }
    if (date === today) continue;
    // The close: every positive balance is paid out, negative ones carry over; then the day's report is stored.
    for (const account of await db.select().from(accounts)) {
      if (account.balanceCents > 0 && workerIds.includes(account.userId)) {
        await write(account.userId, 'payout', -account.balanceCents, date, `Payout for ${date}`);
      }
    }
    const totals = await dayTotals(db, date);
    await db
      .update(billingDays)
      .set({
        status: 'closed',
        cutoffAt: new Date(`${addDays(date, 1)}T00:00:00Z`),
        closedAt: new Date(`${addDays(date, 1)}T00:00:05Z`),
        ...totals,
        workersInNegative: await workersInNegative(db),
      })
      .where(eq(billingDays.date, date));
  }
  // Entries were written just now; before today they get the hours of their day back: the day's work from 08:00
  // UTC in the order it was written, each close's payouts just after its midnight.
  await db.execute(sql`
    update ${ledgerEntries} as e set created_at = case when e.kind = 'payout'
        then (e.billing_date + 1)::timestamp + interval '5 seconds'
        else e.billing_date::timestamp + interval '8 hours' + n.position * interval '7 minutes' end at time zone 'UTC'
    from (select id, row_number() over (partition by billing_date order by id) as position from ${ledgerEntries}) n
    where n.id = e.id and e.key like 'month:%' and e.billing_date < ${today}::date`);
  return { from, today };
}
