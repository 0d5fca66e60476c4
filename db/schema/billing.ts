// Billing context: per-worker accounts, the append-only ledger and the billing days its entries belong to.
import { sql } from 'drizzle-orm';
import { bigint, bigserial, check, date, index, integer, pgEnum, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const ledgerEntryKinds = ['assign_fee', 'reward', 'service_charge', 'service_credit', 'adjustment', 'payout'] as const;
export type LedgerEntryKind = (typeof ledgerEntryKinds)[number];
export const billingDayStatuses = ['open', 'closing', 'closed'] as const;
export type BillingDayStatus = (typeof billingDayStatuses)[number];

export const ledgerEntryKindEnum = pgEnum('ledger_entry_kind', ledgerEntryKinds);
export const billingDayStatusEnum = pgEnum('billing_day_status', billingDayStatuses);

/**
 * One row per local date in BILLING_TIMEZONE that has entries or was closed. Writers hold a shared lock on
 * the day they write to, so closing it (status `closing`) waits for them; see lib/billing/ledger.ts.
 */
export const billingDays = pgTable('billing_days', {
  date: date('date', { mode: 'string' }).primaryKey(),
  status: billingDayStatusEnum('status').notNull().default('open'),
  // The instant after which no entry joins this day: set once every in-flight entry of the day committed.
  cutoffAt: timestamp('cutoff_at', { withTimezone: true }),
  closedAt: timestamp('closed_at', { withTimezone: true }),
  // Totals are written by the day's close (null while the day is open).
  feesCents: bigint('fees_cents', { mode: 'number' }),
  rewardsCents: bigint('rewards_cents', { mode: 'number' }),
  payoutsCents: bigint('payouts_cents', { mode: 'number' }),
  workersInNegative: integer('workers_in_negative'),
  earningsCents: bigint('earnings_cents', { mode: 'number' }),
  // The rest of db/billing-stats.ts `DayTotals` (same names), so a closed day's statistics need no ledger scan.
  serviceChargesCents: bigint('service_charges_cents', { mode: 'number' }),
  serviceCreditsCents: bigint('service_credits_cents', { mode: 'number' }),
  entries: integer('entries'),
});

/**
 * A user's money with the platform. No foreign key to users: billing owns its data and only ever gets
 * user ids from the issue engine, which picked them from auth.
 * No index on the balance: every entry moves it, and an unindexed column keeps those updates HOT; with one
 * account per user, counting the accounts in the negative reads a small table.
 */
export const accounts = pgTable('accounts', {
  userId: uuid('user_id').primaryKey(),
  // Always the sum of the account's entries; moved in the transaction that appends each one.
  balanceCents: bigint('balance_cents', { mode: 'number' }).notNull().default(0),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/** Append-only: the code has no UPDATE or DELETE of entries; a correction is a new `adjustment` entry. */
export const ledgerEntries = pgTable(
  'ledger_entries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    // The writer's idempotency key: a retried activity finds its entry instead of writing a second one.
    key: text('key').notNull().unique(),
    userId: uuid('user_id')
      .notNull()
      .references(() => accounts.userId),
    kind: ledgerEntryKindEnum('kind').notNull(),
    // Signed, from the account owner's side: a fee or a payout is negative, a reward positive.
    amountCents: bigint('amount_cents', { mode: 'number' }).notNull(),
    issueId: uuid('issue_id'),
    description: text('description').notNull(),
    billingDate: date('billing_date', { mode: 'string' })
      .notNull()
      .references(() => billingDays.date),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check('ledger_entries_amount_nonzero', sql`${t.amountCents} <> 0`),
    // An account's ledger, newest first.
    index('ledger_entries_user_id_idx').on(t.userId, t.id),
    // A day's totals by kind, answered from the index alone (amount included).
    index('ledger_entries_billing_date_kind_idx').on(t.billingDate, t.kind, t.amountCents),
    // The highest reward of a day, ties to the earliest: the top task of a period is one probe per day.
    // NULLS FIRST is PostgreSQL's order for a plain `desc`; drizzle's default (NULLS LAST) would not serve it.
    index('ledger_entries_day_top_reward_idx')
      .on(t.billingDate, t.amountCents.desc().nullsFirst(), t.createdAt, t.id)
      .where(sql`${t.kind} = 'reward'`),
  ],
);

export type BillingDayRow = typeof billingDays.$inferSelect;
export type LedgerEntryRow = typeof ledgerEntries.$inferSelect;
