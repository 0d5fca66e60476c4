// Analytics for admins: a day's management earnings and the most expensive task of a period.
// Read-only queries over the billing and issue data; exact numbers, no copies of their own.
import { createRoute, z } from '@hono/zod-openapi';
import { billingToday, dayStatistics, topTask, workersInNegative } from '../db/billing-stats.js';
import { billingDayStatuses } from '../db/schema/billing.js';
import { BillingDate, shiftDate } from './billing.js';
import { authResponses, createRouter, jsonContent, validationResponses } from './common.js';
import type { ApiDeps } from './deps.js';
import { signedIn } from './security.js';

const DateQuery = z.object({
  date: BillingDate.optional().openapi({ description: 'A billing day. Default: today in BILLING_TIMEZONE.' }),
});

const Summary = z
  .object({
    date: z.iso.date(),
    status: z.enum(billingDayStatuses),
    earningsCents: z.number().int().openapi({ description: 'Management earnings of the day: fees − rewards.' }),
    feesCents: z.number().int().openapi({ description: 'Assignment fees charged that day.' }),
    rewardsCents: z.number().int().openapi({ description: 'Rewards credited that day.' }),
    payoutsCents: z.number().int().openapi({ description: 'Paid out by the day’s close.' }),
    workersInNegative: z.number().int().openapi({ description: 'Workers with a negative balance: at the close for a closed day, else now.' }),
    workersInNegativeAt: z.iso.datetime().openapi({ description: 'The instant `workersInNegative` describes.' }),
  })
  .openapi('AnalyticsSummary');

export const periods = ['day', 'week', 'month'] as const;
export type Period = (typeof periods)[number];

const TopTaskQuery = DateQuery.extend({
  period: z.enum(periods).default('day').openapi({ description: 'The day of `date`, its ISO week (Monday to Sunday) or its calendar month.' }),
});

const TopTask = z
  .object({
    period: z.enum(periods),
    from: z.iso.date(),
    to: z.iso.date(),
    task: z
      .object({
        id: z.uuid(),
        title: z.string(),
        rewardCents: z.number().int(),
        assignFeeCents: z.number().int().nullable().openapi({ description: 'The task’s assign fee; null if its context lacks one.' }),
        assignee: z.object({ id: z.uuid(), name: z.string().nullable() }).openapi({ description: 'Who completed it and got the reward.' }),
        completedAt: z.iso.datetime().openapi({ description: 'When the reward was credited.' }),
      })
      .nullable()
      .openapi({ description: 'Null when no task was completed in the period.' }),
  })
  .openapi('TopTask');

/** The billing days a period covers: the date itself, its Monday-to-Sunday week, or its calendar month. */
export function periodDays(period: Period, date: string): { from: string; to: string } {
  if (period === 'day') return { from: date, to: date };
  if (period === 'week') {
    const monday = shiftDate(date, -((new Date(`${date}T00:00:00Z`).getUTCDay() + 6) % 7));
    return { from: monday, to: shiftDate(monday, 6) };
  }
  const first = `${date.slice(0, 8)}01`;
  return { from: first, to: shiftDate(shiftDate(first, 32).slice(0, 8) + '01', -1) };
}

export function analyticsRoutes(deps: ApiDeps) {
  const app = createRouter();
  const { db } = deps.database;

  app.openapi(
    createRoute({
      method: 'get',
      path: '/analytics/summary',
      operationId: 'getAnalyticsSummary',
      tags: ['analytics'],
      summary: 'Management earnings of a day and the workers in the negative',
      ...signedIn(deps, 'admin'),
      request: { query: DateQuery },
      responses: { 200: jsonContent(Summary, 'The day’s figures'), ...authResponses, ...validationResponses },
    }),
    async (c) => {
      const date = c.req.valid('query').date ?? (await billingToday(db, deps.config.billing.timeZone));
      const day = await dayStatistics(db, date);
      // A closed day keeps the count its close took; any other day is described by the balances now.
      const stored = day.status === 'closed' && day.workersInNegative !== null;
      const now = new Date();
      return c.json(
        {
          date,
          status: day.status,
          earningsCents: day.earningsCents,
          feesCents: day.feesCents,
          rewardsCents: day.rewardsCents,
          payoutsCents: day.payoutsCents,
          workersInNegative: stored ? day.workersInNegative! : await workersInNegative(db),
          workersInNegativeAt: (stored ? (day.closedAt ?? day.cutoffAt ?? now) : now).toISOString(),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/analytics/top-task',
      operationId: 'getTopTask',
      tags: ['analytics'],
      summary: 'The most expensive task completed in a day, week or month',
      description:
        'The task with the highest reward among tasks completed in the period, by the billing day of their reward. ' +
        'On a tie, the earliest completion wins.',
      ...signedIn(deps, 'admin'),
      request: { query: TopTaskQuery },
      responses: { 200: jsonContent(TopTask, 'The top task, or null'), ...authResponses, ...validationResponses },
    }),
    async (c) => {
      const { period, date: given } = c.req.valid('query');
      const date = given ?? (await billingToday(db, deps.config.billing.timeZone));
      const { from, to } = periodDays(period, date);
      const task = await topTask(db, from, to);
      if (!task) return c.json({ period, from, to, task: null }, 200);
      return c.json(
        {
          period,
          from,
          to,
          task: { ...task, completedAt: task.completedAt.toISOString() },
        },
        200,
      );
    },
  );

  return app;
}
