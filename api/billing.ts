// Billing: the caller's own account and ledger; every account and the per-day statistics for accountants.
import { createRoute, z } from '@hono/zod-openapi';
import { and, eq, getTableColumns, sql } from 'drizzle-orm';
import { billingToday, daysStatistics, type DayStatistics } from '../db/billing-stats.js';
import { currentBillingDay, ledgerEntryJson } from '../lib/billing/ledger.js';
import { roles, users, userStatuses } from '../db/schema/auth.js';
import { accounts, billingDayStatuses, ledgerEntries, ledgerEntryKinds } from '../db/schema/billing.js';
import { authResponses, createRouter, jsonContent, page, PageQuery, pages, validationResponses } from './common.js';
import type { ApiDeps } from './deps.js';
import { problems } from './problem.js';
import { signedIn } from './security.js';

/** A date in a query: ISO `YYYY-MM-DD`, in years whose dates (and weeks, months) PostgreSQL and ISO strings both hold. */
export const BillingDate = z.iso
  .date()
  .refine((date) => date >= '1970-01-01' && date <= '9998-12-31', { message: 'must be between 1970-01-01 and 9998-12-31' })
  .openapi({ example: '2025-03-14' });

const dayMs = 86_400_000;
/** `date` moved by whole days (negative: back). */
export const shiftDate = (date: string, days: number) => new Date(Date.parse(`${date}T00:00:00Z`) + days * dayMs).toISOString().slice(0, 10);
const daysFrom = (from: string, to: string) => Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / dayMs);

export const LedgerEntrySchema = z
  .object({
    id: z.number().int(),
    key: z.string().openapi({ example: '0b6f1c1e-8d7e-4c1a-9a53-4c2f1a7e2b10:2:1' }),
    userId: z.uuid(),
    kind: z.enum(ledgerEntryKinds),
    amountCents: z.number().int().openapi({ description: 'Signed: negative takes money from the account.', example: -1500 }),
    issueId: z.uuid().nullable(),
    description: z.string(),
    billingDate: z.iso.date().openapi({ description: 'The billing day the entry belongs to.' }),
    createdAt: z.iso.datetime(),
  })
  .openapi('LedgerEntry');

const MyAccount = z
  .object({
    balanceCents: z.number().int(),
    today: z.iso.date().openapi({
      description: 'The open billing day new entries go to: the current date in the billing time zone, or the next open day once it was closed by hand.',
    }),
    todayEarningsCents: z
      .number()
      .int()
      .openapi({ description: 'Sum of the amounts of today’s entries (rewards minus fees and other charges), payouts excluded.' }),
    entries: page(LedgerEntrySchema).openapi({ description: 'The ledger, newest first.' }),
  })
  .openapi('MyAccount');

const entryPages = pages([ledgerEntries.id], 'desc');

const AccountSchema = z
  .object({
    userId: z.uuid(),
    name: z.string().nullable().openapi({ description: 'Null when billing knows the id but auth has no such user.' }),
    role: z.enum(roles).nullable(),
    status: z.enum(userStatuses).nullable(),
    balanceCents: z.number().int().openapi({ description: 'Now; negative when the worker owes the platform.', example: -1500 }),
    updatedAt: z.iso.datetime().openapi({ description: 'When the balance last moved.' }),
  })
  .openapi('Account');

const accountPages = pages([accounts.userId], 'asc');

export const BillingDayStatisticsSchema = z
  .object({
    date: z.iso.date(),
    status: z.enum(billingDayStatuses),
    cutoffAt: z.iso.datetime().nullable().openapi({ description: 'No entry written after this instant belongs to the day.' }),
    closedAt: z.iso.datetime().nullable(),
    feesCents: z.number().int().openapi({ description: 'Assignment fees charged (a positive amount).' }),
    rewardsCents: z.number().int().openapi({ description: 'Rewards credited.' }),
    earningsCents: z.number().int().openapi({ description: 'Management earnings: fees − rewards; negative on a losing day.' }),
    payoutsCents: z.number().int().openapi({ description: 'Paid out by the day’s close.' }),
    serviceChargesCents: z.number().int().openapi({ description: 'Charged to clients for service requests.' }),
    serviceCreditsCents: z.number().int().openapi({ description: 'Credited to workers for service requests.' }),
    workersInNegative: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'Workers with a negative balance when the day closed; null until it is closed.' }),
    entries: z.number().int().openapi({ description: 'Ledger entries of the day, of every kind.' }),
  })
  .openapi('BillingDayStatistics');

export const dayStatisticsJson = ({ cutoffAt, closedAt, ...day }: DayStatistics) => ({
  ...day,
  cutoffAt: cutoffAt?.toISOString() ?? null,
  closedAt: closedAt?.toISOString() ?? null,
});

/** The longest range `GET /billing/days` answers: a year, leap day included. */
const maxDays = 366;

const DaysQuery = z.object({
  from: BillingDate.optional().openapi({ description: 'First day, inclusive. Default: 29 days before `to`.' }),
  to: BillingDate.optional().openapi({ description: `Last day, inclusive; at most ${maxDays} days in all. Default: today in BILLING_TIMEZONE.` }),
});

/** A user's own account as `GET /billing/me` answers it: balance, today's earnings and a page of the ledger, newest first. */
export async function myAccount(deps: ApiDeps, userId: string, { after, limit }: { after?: string; limit: number }) {
  const { db } = deps.database;
  const afterEntry = entryPages.after(after);
  // The day new entries go to, by the ledger's own rule: after a manual close of today that is the next day.
  const today = await currentBillingDay(db, deps.config.billing.timeZone);
  const [summary] = await db.execute<{ balance: string | null; earnings: string }>(sql`
    select (select ${accounts.balanceCents} from ${accounts} where ${accounts.userId} = ${userId}) as balance,
      (select coalesce(sum(${ledgerEntries.amountCents}), 0) from ${ledgerEntries}
        where ${ledgerEntries.userId} = ${userId} and ${ledgerEntries.billingDate} = ${today}::date
          and ${ledgerEntries.kind} <> 'payout') as earnings`);
  const rows = await db
    .select(entryPages.select(getTableColumns(ledgerEntries)))
    .from(ledgerEntries)
    .where(and(eq(ledgerEntries.userId, userId), afterEntry))
    .orderBy(...entryPages.orderBy)
    .limit(entryPages.fetch(limit));
  const { items, nextCursor } = entryPages.page(rows, limit);
  return {
    balanceCents: Number(summary?.balance ?? 0),
    today,
    todayEarningsCents: Number(summary?.earnings ?? 0),
    entries: { items: items.map(ledgerEntryJson), nextCursor },
  };
}

export function billingRoutes(deps: ApiDeps) {
  const app = createRouter();
  const { db } = deps.database;

  app.openapi(
    createRoute({
      method: 'get',
      path: '/billing/me',
      operationId: 'getMyAccount',
      tags: ['billing'],
      summary: 'The caller’s balance, today’s earnings and ledger',
      // Any signed-in user: everyone sees only their own account, which is empty until a first entry.
      ...signedIn(deps),
      request: { query: PageQuery },
      responses: { 200: jsonContent(MyAccount, 'The caller’s account'), 401: authResponses[401], ...validationResponses },
    }),
    async (c) => {
      return c.json(await myAccount(deps, c.get('user').id, c.req.valid('query')), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/billing/accounts',
      operationId: 'listAccounts',
      tags: ['billing'],
      summary: 'Every account with its owner and balance',
      ...signedIn(deps, 'accountant', 'admin'),
      request: { query: PageQuery },
      responses: { 200: jsonContent(page(AccountSchema), 'Accounts in user id order'), ...authResponses, ...validationResponses },
    }),
    async (c) => {
      const { after, limit } = c.req.valid('query');
      const rows = await db
        .select(
          accountPages.select({
            userId: accounts.userId,
            name: users.name,
            role: users.role,
            status: users.status,
            balanceCents: accounts.balanceCents,
            updatedAt: accounts.updatedAt,
          }),
        )
        .from(accounts)
        .leftJoin(users, eq(users.id, accounts.userId))
        .where(accountPages.after(after))
        .orderBy(...accountPages.orderBy)
        .limit(accountPages.fetch(limit));
      const { items, nextCursor } = accountPages.page(rows, limit);
      return c.json({ items: items.map(({ updatedAt, ...account }) => ({ ...account, updatedAt: updatedAt.toISOString() })), nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/billing/days',
      operationId: 'listBillingDays',
      tags: ['billing'],
      summary: 'Statistics of every billing day in a date range',
      description:
        'Days that have entries or were closed, oldest first. A closed day shows the totals its close stored; ' +
        'an open or closing day shows the ledger’s totals now.',
      ...signedIn(deps, 'accountant', 'admin'),
      request: { query: DaysQuery },
      responses: {
        200: jsonContent(
          z.object({ from: z.iso.date(), to: z.iso.date(), items: z.array(BillingDayStatisticsSchema) }),
          'The days of the range',
        ),
        ...authResponses,
        ...validationResponses,
      },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const to = query.to ?? (await billingToday(db, deps.config.billing.timeZone));
      const from = query.from ?? shiftDate(to, -(30 - 1));
      // Blame the bound the caller gave: with `to` left out, `from` is the one that is off.
      const field = query.to === undefined ? 'query.from' : 'query.to';
      if (from > to) throw problems.invalid(field, `the range is empty: from ${from} is after to ${to}`);
      if (daysFrom(from, to) + 1 > maxDays) throw problems.invalid(field, `the range is longer than ${maxDays} days (from ${from} to ${to})`);
      const days = await daysStatistics(db, from, to);
      return c.json({ from, to, items: days.map(dayStatisticsJson) }, 200);
    },
  );

  return app;
}
