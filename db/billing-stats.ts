// Billing figures read from the ledger: a day's totals and the workers in the negative. The day-close
// stores them on the closed day; the billing and analytics API answer open days with them live.
import { and, asc, between, count, eq, inArray, lt, min, sql } from 'drizzle-orm';
import { transaction, type Tx } from './client.js';
import { users } from './schema/auth.js';
import { issues } from './schema/issues.js';
import { accounts, billingDays, ledgerEntries, type BillingDayRow, type BillingDayStatus } from './schema/billing.js';

/**
 * One billing day's money, all in cents. Fees, rewards and payouts are positive amounts as the management
 * sees them (the ledger stores them signed from the worker's side). Every field has a column of the same
 * name on `billingDays`, where the day's close stores them.
 */
export interface DayTotals {
  /** Assignment fees charged: −sum of `assign_fee` entries. */
  feesCents: number;
  /** Rewards credited: sum of `reward` entries. */
  rewardsCents: number;
  /** Management earnings: fees − rewards; negative when rewards exceed fees. */
  earningsCents: number;
  /** Paid out by the day's close: −sum of `payout` entries. */
  payoutsCents: number;
  /** Charged to clients for service requests: −sum of `service_charge` entries. */
  serviceChargesCents: number;
  /** Credited to workers for service requests: sum of `service_credit` entries. */
  serviceCreditsCents: number;
  /** Number of ledger entries of the day, of every kind. */
  entries: number;
}

// sum(bigint) is numeric and count(*) bigint: both reach JS as strings.
const totalsColumns = sql`
  coalesce(-sum(${ledgerEntries.amountCents}) filter (where ${ledgerEntries.kind} = 'assign_fee'), 0)::text as fees,
  coalesce(sum(${ledgerEntries.amountCents}) filter (where ${ledgerEntries.kind} = 'reward'), 0)::text as rewards,
  coalesce(-sum(${ledgerEntries.amountCents}) filter (where ${ledgerEntries.kind} = 'payout'), 0)::text as payouts,
  coalesce(-sum(${ledgerEntries.amountCents}) filter (where ${ledgerEntries.kind} = 'service_charge'), 0)::text as service_charges,
  coalesce(sum(${ledgerEntries.amountCents}) filter (where ${ledgerEntries.kind} = 'service_credit'), 0)::text as service_credits,
  count(*)::text as entries`;

type TotalsRow = {
  fees: string;
  rewards: string;
  payouts: string;
  service_charges: string;
  service_credits: string;
  entries: string;
};

const toTotals = (row: TotalsRow | undefined): DayTotals => {
  const feesCents = Number(row?.fees ?? 0);
  const rewardsCents = Number(row?.rewards ?? 0);
  return {
    feesCents,
    rewardsCents,
    earningsCents: feesCents - rewardsCents,
    payoutsCents: Number(row?.payouts ?? 0),
    serviceChargesCents: Number(row?.service_charges ?? 0),
    serviceCreditsCents: Number(row?.service_credits ?? 0),
    entries: Number(row?.entries ?? 0),
  };
};

/**
 * The totals of one billing day (`YYYY-MM-DD`) as the ledger holds them now. Inside the close's transaction,
 * after its payouts, they are the day's final figures: no entry joins a day once it is closing.
 */
export async function dayTotals(db: Tx, date: string): Promise<DayTotals> {
  const [row] = await db.execute<TotalsRow>(
    sql`select ${totalsColumns} from ${ledgerEntries} where ${ledgerEntries.billingDate} = ${date}`,
  );
  return toTotals(row);
}

/** Totals of each of the given days that has entries, by date. */
export async function totalsOfDays(db: Tx, dates: string[]): Promise<Map<string, DayTotals>> {
  if (dates.length === 0) return new Map();
  const rows = await db.execute<TotalsRow & { date: string }>(sql`
    select ${ledgerEntries.billingDate}::text as date, ${totalsColumns} from ${ledgerEntries}
    where ${inArray(ledgerEntries.billingDate, dates)}
    group by ${ledgerEntries.billingDate}`);
  return new Map(rows.map((row) => [row.date, toTotals(row)]));
}

const inNegative = and(lt(accounts.balanceCents, 0), eq(users.role, 'worker'));

/**
 * How many workers owe the platform now: accounts of users with the role `worker` whose balance is below
 * zero. Deactivated workers count too: their debt did not go away.
 */
export async function workersInNegative(db: Tx): Promise<number> {
  const [row] = await db.select({ n: count() }).from(accounts).innerJoin(users, eq(users.id, accounts.userId)).where(inNegative);
  return row?.n ?? 0;
}


/** The workers `workersInNegative` counts, each with what they owe now (a negative balance), deepest debt first. */
export async function workersInNegativeList(db: Tx): Promise<{ userId: string; name: string; balanceCents: number }[]> {
  return db
    .select({ userId: accounts.userId, name: users.name, balanceCents: accounts.balanceCents })
    .from(accounts)
    .innerJoin(users, eq(users.id, accounts.userId))
    .where(inNegative)
    .orderBy(asc(accounts.balanceCents), asc(accounts.userId));
}

/** Today's date in the billing time zone by the database clock (the one that assigns entries to days), as SQL. */
export const billingTodaySql = (timeZone: string) => sql`(now() at time zone ${timeZone}::text)::date`;

/** Today's date in the billing time zone, by the database clock. */
export async function billingToday(db: Tx, timeZone: string): Promise<string> {
  const [row] = await db.execute<{ date: string }>(sql`select ${billingTodaySql(timeZone)}::text as date`);
  return row!.date;
}

/** The first billing day ever opened; none before the first day opens. No entry can belong to an earlier day. */
export async function firstBillingDay(db: Tx): Promise<string | undefined> {
  const [row] = await db.select({ date: min(billingDays.date) }).from(billingDays);
  return row?.date ?? undefined;
}

/** A billing day as accountants see it: its status and figures. */
export interface DayStatistics extends DayTotals {
  date: string;
  status: BillingDayStatus;
  cutoffAt: Date | null;
  closedAt: Date | null;
  /** As stored by the day's close; null until the day is closed (it is a snapshot, not a ledger sum). */
  workersInNegative: number | null;
}

const storedFigures = [
  'feesCents',
  'rewardsCents',
  'earningsCents',
  'payoutsCents',
  'serviceChargesCents',
  'serviceCreditsCents',
  'entries',
] as const;

/**
 * Every billing day from `from` to `to` (inclusive), oldest first. A closed day answers the totals its
 * close stored (what the daily report said); an open or closing day, or a figure the close did not store,
 * comes from the ledger now. So a range of closed days reads no ledger entries at all.
 * Read in one snapshot, so a day that closes meanwhile is seen either before or after its close.
 */
export async function daysStatistics(db: Tx, from: string, to: string): Promise<DayStatistics[]> {
  return transaction(
    db,
    'billing.statistics',
    async (tx) => {
      const days = await tx.select().from(billingDays).where(between(billingDays.date, from, to)).orderBy(asc(billingDays.date));
      const closed = (day: BillingDayRow) => day.status === 'closed';
      const fromLedger = days.filter((day) => !closed(day) || storedFigures.some((name) => day[name] === null)).map((day) => day.date);
      const live = await totalsOfDays(tx, fromLedger);
      return days.map((day) => {
        const totals = live.get(day.date) ?? toTotals(undefined);
        const figure = (name: (typeof storedFigures)[number]) => (closed(day) ? day[name] : null) ?? totals[name];
        return {
          feesCents: figure('feesCents'),
          rewardsCents: figure('rewardsCents'),
          earningsCents: figure('earningsCents'),
          payoutsCents: figure('payoutsCents'),
          serviceChargesCents: figure('serviceChargesCents'),
          serviceCreditsCents: figure('serviceCreditsCents'),
          entries: figure('entries'),
          date: day.date,
          status: day.status,
          cutoffAt: day.cutoffAt,
          closedAt: day.closedAt,
          workersInNegative: closed(day) ? day.workersInNegative : null,
        };
      });
    },
    { isolationLevel: 'repeatable read', accessMode: 'read only' },
  );
}

/** One day's statistics; a date without a billing day yet is an open day without entries. */
export async function dayStatistics(db: Tx, date: string): Promise<DayStatistics> {
  const [day] = await daysStatistics(db, date, date);
  return day ?? { ...toTotals(undefined), date, status: 'open', cutoffAt: null, closedAt: null, workersInNegative: null };
}

/** The most expensive task completed in a range of billing days: the one whose reward was highest. */
export interface TopTask {
  id: string;
  title: string;
  rewardCents: number;
  /** The task's assign fee; null if its context lacks one. */
  assignFeeCents: number | null;
  /** Who completed it and got the reward. */
  assignee: { id: string; name: string | null };
  /** When the reward was credited. */
  completedAt: Date;
}

/**
 * The task with the highest reward among tasks completed from `from` to `to` (inclusive), by the billing day of
 * their reward; on a tie the earliest completion wins. None when no task was completed in the range.
 */
export async function topTask(db: Tx, from: string, to: string): Promise<TopTask | undefined> {
  // The best reward of each day is one probe of ledger_entries_day_top_reward_idx; the best of those wins.
  // Only rewards of tasks that are done count (a reward of another issue type, or a stray one, does not).
  const [winner] = await db.execute<{ id: string }>(sql`
    select best.id::text as id
    from generate_series(${from}::date, ${to}::date, interval '1 day') as day(date)
    cross join lateral (
      select e.id, e.amount_cents, e.created_at
      from ${ledgerEntries} e join ${issues} i on i.id = e.issue_id and i.type_key = 'task' and i.status = 'done'
      where e.kind = 'reward' and e.billing_date = day.date::date
      order by e.amount_cents desc, e.created_at, e.id
      limit 1
    ) best
    order by best.amount_cents desc, best.created_at, best.id
    limit 1`);
  if (!winner) return undefined;
  const [row] = await db
    .select({
      id: issues.id,
      title: issues.title,
      rewardCents: ledgerEntries.amountCents,
      assignFeeCents: sql<string | null>`case when jsonb_typeof(${issues.context}->'assignFeeCents') = 'number'
        then (${issues.context}->>'assignFeeCents') end`,
      assigneeId: ledgerEntries.userId,
      assigneeName: users.name,
      completedAt: ledgerEntries.createdAt,
    })
    .from(ledgerEntries)
    .innerJoin(issues, eq(issues.id, ledgerEntries.issueId))
    .leftJoin(users, eq(users.id, ledgerEntries.userId))
    .where(eq(ledgerEntries.id, Number(winner.id)));
  const task = row!;
  return {
    id: task.id,
    title: task.title,
    rewardCents: task.rewardCents,
    assignFeeCents: task.assignFeeCents === null ? null : Number(task.assignFeeCents),
    assignee: { id: task.assigneeId, name: task.assigneeName },
    completedAt: task.completedAt,
  };
}

/**
 * A user's balance at the end of each billing day from `from` to `to` that has entries of theirs: the sum of every
 * entry of theirs up to that day (an account's balance is the sum of its entries), oldest first.
 */
export async function balanceByDay(db: Tx, userId: string, from: string, to: string): Promise<{ date: string; balanceCents: number }[]> {
  const rows = await db.execute<{ date: string; balance: string }>(sql`
    select date, balance from (
      select ${ledgerEntries.billingDate}::text as date,
        (sum(sum(${ledgerEntries.amountCents})) over (order by ${ledgerEntries.billingDate}))::text as balance
      from ${ledgerEntries} where ${ledgerEntries.userId} = ${userId} and ${ledgerEntries.billingDate} <= ${to}::date
      group by ${ledgerEntries.billingDate}
    ) days
    where date >= ${from}
    order by date`);
  return rows.map((row) => ({ date: row.date, balanceCents: Number(row.balance) }));
}
