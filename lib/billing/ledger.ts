// The ledger's write path: append-only entries, account balances, and the billing day each entry belongs to.
//
// Day assignment without a handshake: a writer holds a shared lock on the day it writes to until it commits,
// and closing the day (`beginClosingDay`) takes that lock exclusively before it marks the day `closing`. So
// the close waits for every entry of the day still in flight, and every writer that locks the day after it
// reads `closing` and moves on to the next open day.
//
// The lock is a transaction-scoped advisory lock keyed by the date, not `SELECT ... FOR SHARE` on the
// billing_days row: row share locks let new sharers join while an updater waits, so under a steady stream of
// entries the close starved (seen in test/ledger.test.ts). Advisory locks queue first come, first served:
// writers that arrive after the close wait for its commit. (FOR KEY SHARE would be wrong outright: it does not
// conflict with an UPDATE that leaves the key alone.)
import { eq, sql, type SQL } from 'drizzle-orm';
import { nextDate } from './calendar.js';
import { billingTodaySql } from '../../db/billing-stats.js';
import { transaction, type Db, type Transaction } from '../../db/client.js';
import { domainEvents } from '../../db/schema/platform.js';
import {
  accounts,
  billingDays,
  ledgerEntries,
  ledgerEntryKinds,
  type BillingDayRow,
  type LedgerEntryKind,
  type LedgerEntryRow,
} from '../../db/schema/billing.js';


export interface LedgerEntryInput {
  /** Unique per entry: an issue step's effect key `<issueId>:<step>:<action index>`, or `payout:<date>:<userId>`; writing the same key again changes nothing. */
  key: string;
  userId: string;
  kind: LedgerEntryKind;
  /** Signed integer cents from the account owner's side. */
  amountCents: number;
  issueId?: string;
  description: string;
}

/** An entry as activities return it and the API shows it (JSON-safe: it crosses Temporal payloads). */
export interface LedgerEntryJson {
  id: number;
  key: string;
  userId: string;
  kind: LedgerEntryKind;
  amountCents: number;
  issueId: string | null;
  description: string;
  billingDate: string;
  createdAt: string;
}

export const ledgerEntryJson = ({ createdAt, ...entry }: LedgerEntryRow): LedgerEntryJson => ({
  ...entry,
  createdAt: createdAt.toISOString(),
});

/** A write the ledger refuses; retrying it can never succeed. `type` is the ApplicationFailure type. */
export class LedgerEntryRefused extends Error {
  constructor(
    readonly type: 'Billing.InvalidEntry' | 'Billing.KeyReused',
    message: string,
  ) {
    super(message);
  }
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function validateLedgerEntry(input: LedgerEntryInput): void {
  const refuse = (message: string) => {
    throw new LedgerEntryRefused('Billing.InvalidEntry', `ledger entry ${JSON.stringify(input.key)}: ${message}`);
  };
  if (typeof input.key !== 'string' || input.key.length === 0 || input.key.length > 200) refuse('key must be 1..200 characters');
  if (typeof input.userId !== 'string' || !uuidPattern.test(input.userId)) refuse('userId must be a uuid');
  if (!ledgerEntryKinds.includes(input.kind)) refuse(`kind must be one of ${ledgerEntryKinds.join(', ')}`);
  // Integer cents only: a float or an unsafe integer would silently round in JSON or in bigint arithmetic.
  if (!Number.isSafeInteger(input.amountCents) || input.amountCents === 0) {
    refuse(`amountCents must be a non-zero safe integer, got ${String(input.amountCents)}`);
  }
  if (input.issueId !== undefined && (typeof input.issueId !== 'string' || !uuidPattern.test(input.issueId))) {
    refuse('issueId must be a uuid');
  }
  if (typeof input.description !== 'string' || input.description.length > 1000) refuse('description must be at most 1000 characters');
}

/** Lock key of a billing day: a class of our own and the day number, so it meets no other advisory lock. */
const dayLockKey = (date: SQL) => sql`hashtext('ates.billing_day'), (${date} - date '2000-01-01')`;

/**
 * The billing day a new entry belongs to, share-locked until the transaction ends: the current local date
 * in `timeZone` (taken from the database clock), unless that day is already closing or closed, then the
 * earliest later day that is open. Missing days are created open.
 */
export function chooseBillingDay(tx: Transaction, timeZone: string): Promise<string> {
  // Within one transaction the answer cannot change: `now()` is the transaction's start, and the day stays
  // share-locked (no close can begin) until it ends. A transaction writing many entries asks once.
  const chosen = chosenDays.get(tx) ?? new Map<string, Promise<string>>();
  chosenDays.set(tx, chosen);
  let day = chosen.get(timeZone);
  if (!day) {
    day = lockBillingDay(tx, timeZone);
    chosen.set(timeZone, day);
  }
  return day;
}

const chosenDays = new WeakMap<Transaction, Map<string, Promise<string>>>();

async function lockBillingDay(tx: Transaction, timeZone: string): Promise<string> {
  // Today first, in two statements: the lock, then the day's row ensured and its status read by a statement that
  // starts after the lock is held (in READ COMMITTED its snapshot includes a close that committed meanwhile).
  const today = billingTodaySql(timeZone);
  const [locked] = await tx.execute<{ date: string }>(sql`select ${today}::text as date, pg_advisory_xact_lock_shared(${dayLockKey(today)})`);
  const [todays] = await tx.execute<{ status: string | null }>(sql`
    with ensured as (insert into ${billingDays} (date) values (${today}) on conflict do nothing returning status)
    select coalesce((select status from ensured), (select status from ${billingDays} where date = ${today}))::text as status`);
  if (todays?.status === 'open') return locked!.date;
  // Today is closing or closed (or its row is not visible yet): the earliest open day from today on, a statement at a time.
  for (let date = locked!.date; ; date = nextDate(date)) {
    await tx.execute(sql`select pg_advisory_xact_lock_shared(${dayLockKey(sql`${date}::date`)})`);
    await tx.insert(billingDays).values({ date }).onConflictDoNothing();
    const [day] = await tx.select({ status: billingDays.status }).from(billingDays).where(eq(billingDays.date, date));
    if (day?.status === 'open') return date;
  }
}

/** The day a new entry would go to now: today in `timeZone`, or the first later day still open (read only, no lock). */
export async function currentBillingDay(db: Db, timeZone: string): Promise<string> {
  const [row] = await db.execute<{ date: string }>(sql`
    with today as (select ${billingTodaySql(timeZone)} as date)
    select coalesce((
      select min(d.day)::date from today, generate_series(today.date, today.date + 366, interval '1 day') as d(day)
      where not exists (select 1 from ${billingDays} b where b.date = d.day::date and b.status <> 'open')
    ), (select date from today))::text as date`);
  return row!.date;
}

/**
 * Appends the entry to `billingDate` and moves the account balance, once per key. Ordinary writers get the
 * day from `chooseBillingDay` in the same transaction; the day-close may pass the day it is closing for
 * its payouts. Answers the existing entry (and changes nothing) when the key was written before.
 */
export async function appendLedgerEntry(
  tx: Transaction,
  input: LedgerEntryInput,
  billingDate: string,
): Promise<{ entry: LedgerEntryJson; inserted: boolean }> {
  validateLedgerEntry(input);
  // One statement: the entry, the balance it moves (the account made on its first entry) and its event.
  // A concurrent writer of the same key makes this wait for its commit, then do nothing.
  const [inserted] = await tx.execute<{ id: string; created_at: string }>(sql`
    with entry as (
      insert into ${ledgerEntries} (key, user_id, kind, amount_cents, issue_id, description, billing_date)
      values (${input.key}, ${input.userId}, ${input.kind}, ${input.amountCents}, ${input.issueId ?? null}, ${input.description}, ${billingDate})
      on conflict (key) do nothing
      returning *
    ),
    balance as (
      insert into ${accounts} (user_id, balance_cents) select user_id, amount_cents from entry
      on conflict (user_id) do update set balance_cents = ${accounts}.balance_cents + excluded.balance_cents, updated_at = now()
    ),
    recorded as (
      insert into ${domainEvents} (name, version, producer, data)
      select 'billing.entry.recorded', 1, 'billing', jsonb_build_object(
        'entryId', id, 'key', key, 'userId', user_id, 'kind', kind, 'amountCents', amount_cents, 'billingDate', billing_date::text, 'issueId', issue_id)
      from entry
    )
    select id::text, to_json(created_at)#>>'{}' as created_at from entry`);
  if (inserted) {
    // The entry is what was asked for, with the id and the time the database gave it.
    const { key, userId, kind, amountCents, description } = input;
    const createdAt = new Date(inserted.created_at).toISOString();
    return { entry: { id: Number(inserted.id), key, userId, kind, amountCents, issueId: input.issueId ?? null, description, billingDate, createdAt }, inserted: true };
  }
  const [existing] = await tx.select().from(ledgerEntries).where(eq(ledgerEntries.key, input.key));
  if (!existing) throw new Error(`ledger entry ${input.key} conflicted but cannot be read`);
  // A key names one entry: the same key with other money is a bug in the writer, not a retry.
  if (
    existing.userId !== input.userId ||
    existing.kind !== input.kind ||
    existing.amountCents !== input.amountCents ||
    existing.issueId !== (input.issueId ?? null)
  ) {
    throw new LedgerEntryRefused(
      'Billing.KeyReused',
      `ledger entry ${JSON.stringify(input.key)} exists with other content (${existing.kind} ${existing.amountCents} for ${existing.userId})`,
    );
  }
  return { entry: ledgerEntryJson(existing), inserted: false };
}

/** Writes one entry in its own transaction: the billing day, the entry, the balance and the event commit together. */
export async function recordLedgerEntry(db: Db, timeZone: string, input: LedgerEntryInput): Promise<LedgerEntryJson> {
  return transaction(db, 'ledger.entry', async (tx) => {
    const billingDate = await chooseBillingDay(tx, timeZone);
    return (await appendLedgerEntry(tx, input, billingDate)).entry;
  });
}

/**
 * Starts closing a day: status `closing` and the cut-off instant. Waits for every entry of the day still in
 * flight to commit; entries that start later land in the next open day. A day that is already closing or
 * closed is answered as it is, so a retried close changes nothing. This is the only way a day may leave
 * `open`: a bare UPDATE of the status would not wait for in-flight entries.
 *
 * Commit soon after: until then every new entry waits. The cut-off is read from the clock once the lock is
 * held, i.e. after the last entry of the day committed (`now()` is the transaction's start, which may be
 * earlier). Do not call it while holding account row locks: an in-flight writer may be waiting for one.
 */
export async function beginClosingDay(tx: Transaction, date: string): Promise<BillingDayRow> {
  await tx.execute(sql`select pg_advisory_xact_lock(${dayLockKey(sql`${date}::date`)})`);
  await tx.insert(billingDays).values({ date }).onConflictDoNothing();
  const [day] = await tx.select().from(billingDays).where(eq(billingDays.date, date));
  if (!day) throw new Error(`billing day ${date} vanished`);
  if (day.status !== 'open') return day;
  const [closing] = await tx
    .update(billingDays)
    .set({ status: 'closing', cutoffAt: sql`clock_timestamp()` })
    .where(eq(billingDays.date, date))
    .returning();
  return closing!;
}
