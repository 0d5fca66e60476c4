// Billing context's activities: ledger entries for issues started before steps ran in one transaction, and the
// steps of a billing day's close.
import { activityInfo, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { and, count, eq, gt, lt, ne, sql } from 'drizzle-orm';
import { dayTotals, workersInNegative } from '../db/billing-stats.js';
import { transaction } from '../db/client.js';
import { appendEvent } from '../db/events.js';
import { users } from '../db/schema/auth.js';
import { accounts, billingDays, ledgerEntries } from '../db/schema/billing.js';
import { domainEvents } from '../db/schema/platform.js';
import { requestBillingDayClose, type ClosedDay } from '../lib/billing/days.js';
import { beginClosingDay, LedgerEntryRefused, recordLedgerEntry, type LedgerEntryInput, type LedgerEntryJson } from '../lib/billing/ledger.js';
import type { ActivityDeps } from './deps.js';
import { createMailDelivery } from './notifications.js';

/** Entry kinds the issue engine writes; payouts come only from the billing-day close. */
export type RecordLedgerEntryInput = LedgerEntryInput & { kind: Exclude<LedgerEntryInput['kind'], 'payout'> };

/** Where a payout run stands; heartbeated after every transaction, so a retried activity resumes there. */
export interface PayoutRun {
  /** The last account (by user id) looked at; null before the first. */
  after: string | null;
  accounts: number;
  payouts: number;
  paidOutCents: number;
}

export const payoutKey = (date: string, userId: string) => `payout:${date}:${userId}`;
const dollars = (cents: number) => `$${(cents / 100).toFixed(2)}`;

export function createBillingActivities(deps: ActivityDeps) {
  const {
    config,
    database: { db },
  } = deps;
  const mail = createMailDelivery(deps);

  return {
    /** Appends one ledger entry and moves the account balance, exactly once per `key`. Returns the entry (the existing one on a retry). */
    async recordLedgerEntry(input: RecordLedgerEntryInput): Promise<LedgerEntryJson> {
      if ((input.kind as string) === 'payout') {
        throw ApplicationFailure.create({
          type: 'Billing.InvalidEntry',
          message: `ledger entry ${JSON.stringify(input.key)}: payouts are written only by the billing-day close`,
          nonRetryable: true,
        });
      }
      try {
        return await recordLedgerEntry(db, config.billing.timeZone, input);
      } catch (error) {
        // Retrying a refused entry can only fail again: let the workflow see it at once.
        if (error instanceof LedgerEntryRefused) {
          throw ApplicationFailure.create({ type: error.type, message: error.message, nonRetryable: true });
        }
        throw error;
      }
    },

    /**
     * Takes the day's cut-off (waiting for its entries still in flight; later ones go to the next day) and
     * counts the accounts the close will look at. A day already closed is answered as it is.
     *
     * Days close in order: a payout pays the balance at the cut-off, which is only this day's money once every
     * earlier day has paid out. An earlier day still open is asked to close, and this attempt fails so that
     * Temporal retries it until that day has closed.
     */
    async beginDayClose({ date }: { date: string }): Promise<{ status: 'closing' | 'closed'; accountsTotal: number }> {
      const [earlier] = await db
        .select({ date: billingDays.date })
        .from(billingDays)
        .where(and(lt(billingDays.date, date), ne(billingDays.status, 'closed')))
        .orderBy(billingDays.date)
        .limit(1);
      if (earlier) {
        await requestBillingDayClose(deps.temporal, config.billing.timeZone, earlier.date);
        throw new Error(`billing day ${date} waits for the earlier day ${earlier.date} to close`);
      }
      const day = await transaction(db, 'billing.day.begin-close', (tx) => beginClosingDay(tx, date));
      if (day.status === 'closed') return { status: 'closed', accountsTotal: 0 };
      const [accountsTotal] = await db.select({ n: count() }).from(accounts);
      return { status: 'closing', accountsTotal: accountsTotal!.n };
    },

    /**
     * Pays out up to `maxAccounts` accounts after `after` (by user id), `perTransaction` at a time. Each
     * account with a positive balance at the cut-off gets one payout entry of that balance: the balance
     * moves to zero plus whatever the next day brought already. Exactly once: the payout's key is unique
     * per account and day, and an account already paid has nothing left to pay at the cut-off.
     */
    async payOutAccounts(input: { date: string; after: string | null; maxAccounts: number; perTransaction: number }): Promise<PayoutRun & { finished: boolean }> {
      const { date, maxAccounts, perTransaction } = input;
      const resumed = activityInfo().heartbeatDetails as PayoutRun | undefined;
      const run: PayoutRun = resumed ?? { after: input.after, accounts: 0, payouts: 0, paidOutCents: 0 };
      while (run.accounts < maxAccounts) {
        const limit = Math.min(perTransaction, maxAccounts - run.accounts);
        const batch = await transaction(db, 'billing.payout.batch', async (tx) => {
          // Lock the batch first. A writer that already moved one of these balances has committed by now and
          // its entry is visible to the next statement; one that has not waits for us, its entry unseen.
          const locked = await tx
            .select({ userId: accounts.userId })
            .from(accounts)
            .where(run.after ? gt(accounts.userId, run.after) : undefined)
            .orderBy(accounts.userId)
            .limit(limit)
            .for('update');
          if (locked.length === 0) return { accounts: 0, payouts: 0, paidOutCents: 0, last: run.after };
          const first = locked[0]!.userId;
          const last = locked.at(-1)!.userId;
          // The balance at the cut-off: today's balance less the entries of later days (written during the close).
          const [paid] = await tx.execute<{ payouts: number; cents: string | null }>(sql`
            with later as (
              select user_id, sum(amount_cents) as cents from ${ledgerEntries}
              where billing_date > ${date}::date and user_id between ${first}::uuid and ${last}::uuid
              group by user_id
            ), due as (
              select a.user_id, a.balance_cents - coalesce(later.cents, 0) as amount
              from ${accounts} a left join later using (user_id)
              where a.user_id between ${first}::uuid and ${last}::uuid
            ), paid as (
              insert into ${ledgerEntries} (key, user_id, kind, amount_cents, description, billing_date)
              select 'payout:' || ${date}::text || ':' || user_id, user_id, 'payout', -amount, 'Payout for ' || ${date}::text, ${date}::date
              from due where amount > 0
              on conflict (key) do nothing
              returning id, key, user_id, amount_cents
            ), moved as (
              update ${accounts} a set balance_cents = a.balance_cents + paid.amount_cents, updated_at = now()
              from paid where a.user_id = paid.user_id
            ), announced as (
              insert into ${domainEvents} (name, version, producer, data)
              select 'billing.payout.made', 1, 'billing',
                jsonb_build_object('entryId', id, 'key', key, 'userId', user_id, 'amountCents', -amount_cents, 'billingDate', ${date}::text)
              from paid
            )
            select count(*)::int as payouts, -sum(amount_cents) as cents from paid`);
          return { accounts: locked.length, payouts: paid!.payouts, paidOutCents: Number(paid!.cents ?? 0), last };
        });
        if (batch.accounts === 0) return { ...run, finished: true };
        run.after = batch.last;
        run.accounts += batch.accounts;
        run.payouts += batch.payouts;
        run.paidOutCents += batch.paidOutCents;
        heartbeat(run);
        if (batch.accounts < limit) return { ...run, finished: true };
      }
      return { ...run, finished: false };
    },

    /** E-mails each payout of the day for accounts in (after, through] its amount; once per payout. */
    async mailPayouts({ date, after, through }: { date: string; after: string | null; through: string }): Promise<number> {
      const payouts = await db
        .select({ userId: ledgerEntries.userId, amountCents: ledgerEntries.amountCents, email: users.email, name: users.name })
        .from(ledgerEntries)
        .innerJoin(users, eq(users.id, ledgerEntries.userId))
        .where(
          and(
            eq(ledgerEntries.billingDate, date),
            eq(ledgerEntries.kind, 'payout'),
            after ? sql`${ledgerEntries.userId} > ${after}` : undefined,
            sql`${ledgerEntries.userId} <= ${through}`,
          ),
        );
      await mail.deliverMany(
        payouts.map((payout) => ({
          key: payoutKey(date, payout.userId),
          mail: {
            to: [payout.email],
            subject: `aTES payout for ${date}: ${dollars(-payout.amountCents)}`,
            text: `Hello ${payout.name},\n\nYour earnings of ${date}, ${dollars(-payout.amountCents)}, have been paid out.\n`,
          },
        })),
      );
      return payouts.length;
    },

    /**
     * Marks the day closed with its final totals (the stored daily report) and appends `billing.day.closed`,
     * in one transaction. Answers the closed day; a retry finds it closed and answers the same.
     */
    async finishDayClose({ date }: { date: string }): Promise<ClosedDay> {
      return transaction(db, 'billing.day.finish-close', async (tx) => {
        const [day] = await tx.select().from(billingDays).where(eq(billingDays.date, date)).for('update');
        if (!day || day.status === 'open') throw new Error(`billing day ${date} is not closing`);
        if (day.status === 'closing') {
          const totals = await dayTotals(tx, date);
          const negative = await workersInNegative(tx);
          const [closed] = await tx
            .update(billingDays)
            .set({ status: 'closed', closedAt: sql`clock_timestamp()`, ...totals, workersInNegative: negative })
            .where(eq(billingDays.date, date))
            .returning();
          await appendEvent(tx, {
            name: 'billing.day.closed',
            version: 1,
            producer: 'billing',
            data: { date, cutoffAt: closed!.cutoffAt, ...totals, workersInNegative: negative },
          });
          return closedDay(closed!);
        }
        return closedDay(day);
      });
    },
  };
}

const closedDay = (day: typeof billingDays.$inferSelect): ClosedDay => ({
  date: day.date,
  status: 'closed',
  cutoffAt: day.cutoffAt!.toISOString(),
  feesCents: day.feesCents ?? 0,
  rewardsCents: day.rewardsCents ?? 0,
  earningsCents: day.earningsCents ?? 0,
  payoutsCents: day.payoutsCents ?? 0,
  workersInNegative: day.workersInNegative ?? 0,
});
