// Billing: the caller's own account and ledger.
import { createRoute, z } from '@hono/zod-openapi';
import { and, desc, eq, lt, sql } from 'drizzle-orm';
import { ledgerEntryJson } from '../db/ledger.js';
import { accounts, ledgerEntries, ledgerEntryKinds } from '../db/schema/billing.js';
import { authResponses, createRouter, cursor, jsonContent, page, PageQuery, validationResponses } from './common.js';
import type { ApiDeps } from './deps.js';
import { authenticate } from './security.js';

export const LedgerEntrySchema = z
  .object({
    id: z.number().int(),
    key: z.string().openapi({ example: 'task:0b6f1c1e-8d7e-4c1a-9a53-4c2f1a7e2b10:assign:1' }),
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
    today: z.iso.date().openapi({ description: 'The current date in the billing time zone.' }),
    todayEarningsCents: z
      .number()
      .int()
      .openapi({ description: 'Sum of the amounts of today’s entries (rewards minus fees and other charges), payouts excluded.' }),
    entries: page(LedgerEntrySchema).openapi({ description: 'The ledger, newest first.' }),
  })
  .openapi('MyAccount');

const EntryCursor = z.object({ id: z.number().int() });

export function billingRoutes(deps: ApiDeps) {
  const app = createRouter();
  const { db } = deps.database;

  app.openapi(
    createRoute({
      method: 'get',
      path: '/billing/me',
      tags: ['billing'],
      summary: 'The caller’s balance, today’s earnings and ledger',
      security: [{ bearer: [] }],
      // Any signed-in user: everyone sees only their own account, which is empty until a first entry.
      middleware: [authenticate(deps)],
      request: { query: PageQuery },
      responses: { 200: jsonContent(MyAccount, 'The caller’s account'), 401: authResponses[401], ...validationResponses },
    }),
    async (c) => {
      const { after, limit } = c.req.valid('query');
      const from = cursor.decode(after, EntryCursor);
      const userId = c.get('user').id;
      const [summary] = await db.execute<{ today: string; balance: string | null; earnings: string }>(sql`
        with today as (select (now() at time zone ${deps.config.billing.timeZone}::text)::date as date)
        select today.date::text as today,
          (select ${accounts.balanceCents} from ${accounts} where ${accounts.userId} = ${userId}) as balance,
          (select coalesce(sum(${ledgerEntries.amountCents}), 0) from ${ledgerEntries}
            where ${ledgerEntries.userId} = ${userId} and ${ledgerEntries.billingDate} = today.date
              and ${ledgerEntries.kind} <> 'payout') as earnings
        from today`);
      const rows = await db
        .select()
        .from(ledgerEntries)
        .where(and(eq(ledgerEntries.userId, userId), from && lt(ledgerEntries.id, from.id)))
        .orderBy(desc(ledgerEntries.id))
        .limit(limit + 1);
      const items = rows.slice(0, limit).map(ledgerEntryJson);
      const last = items.at(-1);
      return c.json(
        {
          balanceCents: Number(summary?.balance ?? 0),
          today: summary!.today,
          todayEarningsCents: Number(summary?.earnings ?? 0),
          entries: { items, nextCursor: rows.length > limit && last ? cursor.encode({ id: last.id }) : null },
        },
        200,
      );
    },
  );

  return app;
}
