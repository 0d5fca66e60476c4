// One billing day: its figures with the live progress of its close, and the manual close.
import { createRoute, z } from '@hono/zod-openapi';
import { requestBillingDayClose } from '../lib/billing/days.js';
import { dayStatistics, firstBillingDay, type DayStatistics } from '../db/billing-stats.js';
import { currentBillingDay } from '../lib/billing/ledger.js';
import { billingDayProgressQuery, billingDayWorkflowId, type BillingDayProgress } from '../workflows/messages.js';
import { BillingDate, BillingDayStatisticsSchema, dayStatisticsJson } from './billing.js';
import { authResponses, createRouter, jsonContent, validationResponses } from './common.js';
import type { ApiDeps } from './deps.js';
import { problemContent, ProblemError, problems } from './problem.js';
import { signedIn } from './security.js';

const DateParam = z.object({ date: BillingDate.openapi({ param: { name: 'date', in: 'path' } }) });

const BillingDaySchema = BillingDayStatisticsSchema.extend({
  progress: z
    .object({
      accountsDone: z.number().int(),
      accountsTotal: z.number().int().openapi({ description: 'Accounts at the cut-off (and any opened during the close).' }),
      payouts: z.number().int(),
      paidOutCents: z.number().int(),
    })
    .nullable()
    .openapi({ description: 'The close as its workflow reports it now; null when no close is running.' }),
}).openapi('BillingDay');

/** The progress of a close that is running; none when it is not (or no worker answers in time). */
async function liveProgress(deps: ApiDeps, date: string): Promise<BillingDayProgress | null> {
  try {
    const progress = await deps.temporal.withDeadline(Date.now() + 3000, () =>
      deps.temporal.workflow.getHandle(billingDayWorkflowId(date)).query(billingDayProgressQuery),
    );
    return progress.status === 'closing' ? progress : null;
  } catch (error) {
    deps.log.debug(`billing day ${date}: progress query failed (${(error as Error).message})`);
    return null;
  }
}

/** The day as the API shows it: its statistics, and the close's live progress while it is closing. */
export async function billingDay(deps: ApiDeps, date: string, statistics?: DayStatistics) {
  const stats = statistics ?? (await dayStatistics(deps.database.db, date));
  const progress = stats.status === 'closing' ? await liveProgress(deps, date) : null;
  return {
    ...dayStatisticsJson(stats),
    progress: progress && { accountsDone: progress.accountsDone, accountsTotal: progress.accountsTotal, payouts: progress.payouts, paidOutCents: progress.paidOutCents },
  };
}

/** A day before the first billing day the system opened never existed: 404. */
export async function ensureDayExists(deps: ApiDeps, date: string): Promise<void> {
  const { db } = deps.database;
  // Before any day is opened, the first one will be the current day: nothing earlier can ever hold entries.
  const first = (await firstBillingDay(db)) ?? (await currentBillingDay(db, deps.config.billing.timeZone));
  if (date < first) throw new ProblemError(404, 'not-found', `billing day ${date} not found: the first billing day is ${first}`);
}

/**
 * Closes a billing day by hand: the cut-off is taken now. `started` is false when the day was closed already (then
 * nothing changed). The current day may be closed, and then the next one; a day that has not begun is a conflict.
 */
export async function closeBillingDay(deps: ApiDeps, date: string) {
  const { db } = deps.database;
  // Entries go to the first open day: the current day may be closed by hand, and then the next one.
  const current = await currentBillingDay(db, deps.config.billing.timeZone);
  if (date > current) throw problems.conflict(`billing day ${date} has not begun: entries go to ${current} now`, 'day-not-begun');
  const before = await dayStatistics(db, date);
  if (before.status === 'closed') return { started: false, day: await billingDay(deps, date, before) };
  await requestBillingDayClose(deps.temporal, deps.config.billing.timeZone, date);
  return { started: true, day: await billingDay(deps, date) };
}

export function billingDayRoutes(deps: ApiDeps) {
  const app = createRouter();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/billing/days/{date}',
      operationId: 'getBillingDay',
      tags: ['billing'],
      summary: 'One billing day: status, totals, and the progress of its close while it runs',
      ...signedIn(deps, 'accountant', 'admin'),
      request: { params: DateParam },
      responses: {
        200: jsonContent(BillingDaySchema, 'The day (an open day without entries when it has none yet)'),
        ...authResponses,
        404: problemContent('The day lies before the first billing day the system opened: it never existed'),
        ...validationResponses,
      },
    }),
    async (c) => {
      const { date } = c.req.valid('param');
      await ensureDayExists(deps, date);
      return c.json(await billingDay(deps, date), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/billing/days/{date}/close',
      operationId: 'closeBillingDay',
      tags: ['billing'],
      summary: 'Close a billing day now (by hand)',
      description:
        'Takes the cut-off now: entries written from here on belong to the next day. Pays out every positive balance, ' +
        'then mails the daily report. Earlier days still open are closed first. Closing a closed day changes nothing.',
      ...signedIn(deps, 'accountant', 'admin'),
      request: { params: DateParam },
      responses: {
        200: jsonContent(BillingDaySchema, 'The day was closed already; nothing changed'),
        202: jsonContent(BillingDaySchema, 'The close is under way; follow it at GET /billing/days/{date}'),
        409: problemContent('The day has not begun: new entries still go to an earlier day'),
        ...authResponses,
        ...validationResponses,
      },
    }),
    async (c) => {
      const { date } = c.req.valid('param');
      const { started, day } = await closeBillingDay(deps, date);
      if (!started) return c.json(day, 200);
      c.header('Location', `/billing/days/${date}`);
      return c.json(day, 202);
    },
  );

  return app;
}
